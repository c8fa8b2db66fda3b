"""The inputs of ``kube generate`` from the engine: containers and their images inspected, and for
a compose project its services' running containers and the configs and secrets they mount (read
back from the containers themselves, whatever the compose file gave: a file, content, environment)."""

from __future__ import annotations

import io
import json
import sys
import tarfile
from typing import Any

from dockyard import errors
from dockyard.kube import generate, names

PROJECT = "com.docker.compose.project"
SERVICE = "com.docker.compose.service"
NUMBER = "com.docker.compose.container-number"
ONEOFF = "com.docker.compose.oneoff"
WORKDIR = "com.docker.compose.project.working_dir"
FILES = "com.docker.compose.project.config_files"


def source(client: Any, ref: str, name: str = "", files: list[generate.File] | None = None) -> generate.Source:
    info = client.json("GET", f"/containers/{ref}/json")
    image = client.json("GET", f"/images/{info['Image']}/json")
    return generate.Source(info, image, name or info["Name"].lstrip("/"), files or [])


def containers(client: Any, refs: list[str], name: str = "", kind: str = "Pod") -> list[dict[str, Any]]:
    """``kube generate CONTAINER...``: one workload running them all, named ``name`` or ``<first>-pod``;
    ``kube generate POD`` of a pod ``kube play`` ran: that pod again, named ``name`` or as it was."""
    if len(refs) == 1:
        try:
            sources = [source(client, refs[0])]
        except errors.NotFound:  # no container: a played pod, or nothing
            played = _played(client, refs[0], name or refs[0], kind)
            if played:
                return played
            raise
    else:
        sources = [source(client, ref) for ref in refs]
    return generate.workload(name or f"{sources[0].name}-pod", sources, kind)


def _played(client: Any, ref: str, name: str, kind: str) -> list[dict[str, Any]]:
    """The objects of the played pod ``ref`` (none if there is no such pod)."""
    found = client.json("GET", "/containers/json", {
        "all": True, "filters": json.dumps({"label": [f"{names.POD}={ref}"]})})
    by_role: dict[str, list[tuple[int, generate.Source]]] = {}
    infra = None
    for c in found:
        labels = c.get("Labels") or {}
        if labels.get(names.ROLE) == "infra":
            infra = client.json("GET", f"/containers/{c['Id']}/json")
            continue
        src = source(client, c["Id"], labels.get(names.CONTAINER) or "")
        by_role.setdefault(labels.get(names.ROLE) or "app", []).append((int(labels.get(names.INDEX) or 0), src))
    if not by_role.get("app"):
        return []
    ordered = {role: [s for _, s in sorted(group, key=lambda e: e[0])] for role, group in by_role.items()}
    return generate.workload(name, ordered["app"], kind, init=ordered.get("init"), infra=infra)


def project(client: Any, project_name: str, kind: str = "Deployment") -> list[dict[str, Any]]:
    """``kube generate --project P``: one workload per service (replicas: its running containers)."""
    listed = client.json("GET", "/containers/json", {
        "all": True, "filters": json.dumps({"label": [f"{PROJECT}={project_name}"]})})
    by_service: dict[str, list[dict[str, Any]]] = {}
    for c in listed:
        labels = c.get("Labels") or {}
        if labels.get(ONEOFF) != "True":
            by_service.setdefault(labels.get(SERVICE, ""), []).append(c)
    if not by_service:
        raise errors.NotFound(f"no containers of compose project {project_name!r}")
    refs = _file_refs(listed[0].get("Labels") or {}, project_name)
    objects: list[dict[str, Any]] = []
    for svc in sorted(by_service):
        group = sorted(by_service[svc], key=lambda c: int((c.get("Labels") or {}).get(NUMBER) or 0))
        running = [c for c in group if c.get("State") == "running"]
        first = (running or group)[0]
        files = [_read_file(client, first["Id"], *ref) for ref in refs.get(svc, [])]
        src = source(client, first["Id"], svc, files)
        objects += generate.workload(svc, [src], kind, replicas=max(1, len(running)))
    return generate.merge(objects)


def _file_refs(labels: dict[str, str], project_name: str) -> dict[str, list[tuple[str, str, str, int, str]]]:
    """Per service, its configs and secrets (kind, object name, target, mode, host file or "") from
    the project's compose files (named in the containers' labels); none when they cannot be read."""
    from dockyard.compose.loader import ComposeError, Options, load

    files = [f for f in (labels.get(FILES) or "").split(",") if f]
    if not files:
        return {}
    try:
        proj = load(Options(files=files, project_name=project_name, project_directory=labels.get(WORKDIR)))
    except (ComposeError, OSError) as err:
        print(f"warning: compose files of {project_name!r} not read ({err}): configs and secrets "
              "are left as host paths", file=sys.stderr)
        return {}
    out: dict[str, list[tuple[str, str, str, int, str]]] = {}
    for svc_name, svc in proj.services.items():
        for kind, default in (("config", "/"), ("secret", "/run/secrets/")):
            for ref in svc.get(f"{kind}s") or []:
                mode = ref.get("mode", 0o444)
                mode = int(mode, 8) if isinstance(mode, str) else int(mode)
                target = ref.get("target") or default + ref["source"]
                host_file = str((getattr(proj, f"{kind}s").get(ref["source"]) or {}).get("file") or "")
                out.setdefault(svc_name, []).append((kind, f"{proj.name}-{ref['source']}", target, mode, host_file))
    return out


def _read_file(client: Any, cid: str, kind: str, name: str, target: str, mode: int, host_file: str
               ) -> generate.File:
    """The file's bytes: from the host file compose bind-mounts, else (content, environment: copied
    in by compose) from the container."""
    if host_file:
        with open(host_file, "rb") as hf:
            return generate.File(kind, names.dns_label(name), target, hf.read(), mode)
    resp = client.request("GET", f"/containers/{cid}/archive", {"path": target})
    with tarfile.open(fileobj=io.BytesIO(resp.read())) as tar:
        member = next((m for m in tar.getmembers() if m.isfile()), None)
        f = tar.extractfile(member) if member is not None else None
        if f is None:
            raise errors.NotFound(f"{kind} {name}: no file at {target} in container {cid[:12]}")
        return generate.File(kind, names.dns_label(name), target, f.read(), mode)
