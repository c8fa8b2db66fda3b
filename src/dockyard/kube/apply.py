"""``kube play`` and ``kube down`` through the Engine API: the plans of ``play.py`` made real, and
found again by their labels to be removed."""

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
from dockyard.kube.play import ContainerPlan, Documents, PodPlan, plan, pods

DEFAULT_NETWORK = "kube"


def _labelled(client: Any, label: str, value: str) -> list[dict[str, Any]]:
    return client.json("GET", "/containers/json",  # type: ignore[no-any-return]
                       {"all": True, "filters": json.dumps({"label": [f"{label}={value}"]})})


def play(client: Any, docs: Documents, network: str = DEFAULT_NETWORK, replace: bool = False,
         say: Callable[[str], None] = print) -> list[PodPlan]:
    plans = plan(docs, network)
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
    for c in p.containers:
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
        for c in p.containers:
            made.append(_create(client, c))
            client.request("POST", f"/containers/{made[-1]}/start").read()
    except BaseException:
        for cid in reversed(made):
            client.request("DELETE", f"/containers/{cid}", {"force": True}).read()
        raise
    say(f"Pod:\n{p.name}\nContainers:")
    for cid in made:
        say(cid)


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
    first = [c for c in found if not str((c.get("HostConfig") or {}).get("NetworkMode", "")).startswith("container:")]
    for c in [c for c in found if c not in first] + first:  # the network holder last
        client.request("DELETE", f"/containers/{c['Id']}", {"force": True, "v": False}).read()
    vols = client.json("GET", "/volumes", {"filters": json.dumps({"label": [f"{names.POD}={pod}"]})})
    for v in (vols or {}).get("Volumes") or []:
        if (v.get("Labels") or {}).get(names.MANAGED) == "emptyDir":
            client.request("DELETE", f"/volumes/{v['Name']}").read()
    return bool(found)
