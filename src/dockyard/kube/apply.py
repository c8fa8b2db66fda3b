"""``kube play`` and ``kube down`` through the Engine API: the plans of ``play.py`` made real, and
found again by their labels to be removed. A pod starts as Kubernetes starts one: its infra
container, then its init containers one at a time, each waited for (one that fails ends the play
with its exit code, and the pod is removed), then its app containers."""

from __future__ import annotations

import io
import json
import os
import tarfile
import time
from collections.abc import Callable
from typing import Any

from dockyard import errors
from dockyard.kube import names
from dockyard.kube.play import INFRA_IMAGE, ContainerPlan, Documents, PodPlan, plan, pods

DEFAULT_NETWORK = "kube"


class InitFailed(errors.FailedPrecondition):
    """An init container exited non-zero: ``kube play`` exits with its code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def _labelled(client: Any, label: str, value: str) -> list[dict[str, Any]]:
    return client.json("GET", "/containers/json",  # type: ignore[no-any-return]
                       {"all": True, "filters": json.dumps({"label": [f"{label}={value}"]})})


def play(client: Any, docs: Documents, network: str = DEFAULT_NETWORK, replace: bool = False,
         say: Callable[[str], None] = print, infra_image: str = INFRA_IMAGE) -> list[PodPlan]:
    plans = plan(docs, network, infra_image)
    for p in plans:
        if _labelled(client, names.POD, p.name):
            if not replace:
                raise errors.Conflict(f"pod {p.name} exists already: `dockyard kube down` it first, or --replace")
            _remove_pod(client, p.name)
    if any(not p.host_network for p in plans):
        _ensure_network(client, network)
    for p in plans:
        _ensure_images(client, p)
        _run_pod(client, p, say)
    return plans


def _ensure_network(client: Any, network: str) -> None:
    try:
        client.json("GET", f"/networks/{network}")
    except errors.NotFound:
        client.json("POST", "/networks/create", body={"Name": network, "Driver": "bridge",
                                                      "Labels": {names.MANAGED: "network"}})


def _ensure_images(client: Any, p: PodPlan) -> None:
    for c in p.all():
        image = c.body["Image"]
        present = True
        try:
            client.json("GET", f"/images/{image}/json")
        except errors.NotFound:
            present = False
        if present and c.pull != "Always":
            continue
        if c.pull == "Never":
            raise errors.NotFound(f"pod {p.name}: image {image} is not here and imagePullPolicy is Never")
        for msg in client.json_stream("POST", "/images/create", _pull_params(image)):
            if msg.get("error"):
                raise errors.NotFound(f"pod {p.name}: pull {image}: {msg['error']}")


def _pull_params(image: str) -> dict[str, str]:
    """``POST /images/create`` of a reference: by digest as it is, else name and tag (latest by default)."""
    if "@" in image:
        return {"fromImage": image}
    name, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "latest")
    return {"fromImage": name, "tag": tag}


def _run_pod(client: Any, p: PodPlan, say: Callable[[str], None]) -> None:
    made: list[str] = []
    try:
        for name, body in p.volumes.items():
            try:
                client.json("GET", f"/volumes/{name}")
            except errors.NotFound:
                client.json("POST", "/volumes/create", body=body)
        assert p.infra is not None
        _start(client, _create(client, p.infra))
        for c in p.init:
            _run_init(client, p, c)
        for c in p.containers:
            made.append(_create(client, c))
            _start(client, made[-1])
    except BaseException:
        _remove_pod(client, p.name)
        raise
    say(f"Pod:\n{p.name}\nContainers:")
    for cid in made:
        say(cid)


def _start(client: Any, cid: str) -> None:
    client.request("POST", f"/containers/{cid}/start").read()


def _run_init(client: Any, p: PodPlan, c: ContainerPlan) -> None:
    """Run an init container to its end; it stays (exited) for ``kube generate`` and inspection. A
    sidecar (``restartPolicy: Always``) is only started: it runs beside the next ones and the app."""
    cid = _create(client, c)
    _start(client, cid)
    if c.body["HostConfig"]["RestartPolicy"]["Name"] == "always":
        return
    code = int((client.json("POST", f"/containers/{cid}/wait") or {}).get("StatusCode", -1))
    if code != 0:
        tail = _logs(client, cid, bool(c.body.get("Tty"))).strip()
        raise InitFailed(f"pod {p.name}: init container {c.body['Labels'][names.CONTAINER]} exited with code "
                         f"{code}" + (f": {tail}" if tail else ""), code)


def _logs(client: Any, cid: str, tty: bool, lines: int = 5) -> str:
    raw = client.request("GET", f"/containers/{cid}/logs", {"stdout": True, "stderr": True,
                                                            "tail": str(lines)}).read()
    if tty:
        return str(raw.decode(errors="replace"))
    from dockyard.client.http import frames

    return b"".join(data for _, data in frames([raw])).decode(errors="replace")


def _create(client: Any, c: ContainerPlan) -> str:
    cid: str = client.json("POST", "/containers/create", {"name": c.name}, body=c.body)["Id"]
    if c.files:
        client.request("PUT", f"/containers/{cid}/archive", {"path": "/"}, body=_tar(c.files)).read()
    return cid


def _tar(files: list[tuple[str, bytes, int]]) -> bytes:
    buf = io.BytesIO()
    now = int(time.time())
    with tarfile.open(fileobj=buf, mode="w") as tar:
        dirs: set[str] = set()
        for path, _data, _mode in files:
            parent = os.path.dirname(path.strip("/"))
            while parent and parent not in dirs:
                dirs.add(parent)
                parent = os.path.dirname(parent)
        for d in sorted(dirs):
            info = tarfile.TarInfo(d)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, now
            tar.addfile(info)
        for path, data, mode in files:
            info = tarfile.TarInfo(path.strip("/"))
            info.size, info.mode, info.mtime = len(data), mode, now
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def down(client: Any, docs: Documents, say: Callable[[str], None] = print) -> list[str]:
    """Remove the pods of the YAML's workloads (containers, emptyDir volumes); claimed volumes stay,
    as with ``podman kube down``. The play network goes once no container uses it."""
    removed = []
    for pod, _owner, _spec, _labels in pods(docs):
        if _remove_pod(client, pod):
            removed.append(pod)
    say("Pods removed:")
    for pod in removed:
        say(pod)
    for net in client.json("GET", "/networks", {"filters": json.dumps({"label": [f"{names.MANAGED}=network"]})}):
        if not client.json("GET", f"/networks/{net['Id']}").get("Containers"):  # else pods of another YAML use it
            client.request("DELETE", f"/networks/{net['Id']}").read()
    return removed


def _remove_pod(client: Any, pod: str) -> bool:
    found = _labelled(client, names.POD, pod)
    infra = [c for c in found if (c.get("Labels") or {}).get(names.ROLE) == "infra"
             or not str((c.get("HostConfig") or {}).get("NetworkMode", "")).startswith("container:")]
    for c in [c for c in found if c not in infra] + infra:  # the namespaces' holder last
        client.request("DELETE", f"/containers/{c['Id']}", {"force": True, "v": False}).read()
    vols = client.json("GET", "/volumes", {"filters": json.dumps({"label": [f"{names.POD}={pod}"]})})
    for v in (vols or {}).get("Volumes") or []:
        if (v.get("Labels") or {}).get(names.MANAGED) == "emptyDir":
            client.request("DELETE", f"/volumes/{v['Name']}").read()
    return bool(found)
