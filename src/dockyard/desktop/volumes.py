"""The volumes view: each volume with its size (``/system/df``) and the containers that mount it,
and its files (listed, or one downloaded), browsed as Docker Desktop does: through a helper container that mounts the volume
read-only and is never started (``GET /containers/{id}/archive`` reads it), removed at once."""

from __future__ import annotations

import io
import posixpath
import tarfile

from aiohttp import web

from dockyard import errors
from dockyard.desktop.api import engine
from dockyard.desktop.files import MAX_TAR, attachment, entries, query_path

MOUNT = "/volume"
HELPER_LABEL = "dockyard.desktop.helper"


async def _users(request: web.Request) -> dict[str, list[str]]:
    used: dict[str, list[str]] = {}
    for c in await engine(request).call("GET", "/containers/json", {"all": "1"}):
        for m in c.get("Mounts") or []:
            if m.get("Type") == "volume" and m.get("Name") and HELPER_LABEL not in (c.get("Labels") or {}):
                used.setdefault(m["Name"], []).append((c.get("Names") or ["/"])[0].lstrip("/"))
    return used


async def volumes(request: web.Request) -> web.Response:
    listed = (await engine(request).call("GET", "/volumes")).get("Volumes") or []
    df = await engine(request).call("GET", "/system/df")
    sizes = {v["Name"]: (v.get("UsageData") or {}).get("Size", -1) for v in df.get("Volumes") or []}
    used = await _users(request)
    rows = [{"name": v["Name"], "driver": v.get("Driver", ""), "mountpoint": v.get("Mountpoint", ""),
             "created": v.get("CreatedAt", ""), "size": sizes.get(v["Name"], -1),
             "containers": used.get(v["Name"], [])} for v in listed]
    return web.json_response({"volumes": sorted(rows, key=lambda r: r["name"])})


async def volume_remove(request: web.Request) -> web.Response:
    await engine(request).call("DELETE", f"/volumes/{request.match_info['name']}")
    return web.json_response({"done": "remove"})


async def _helper_image(request: web.Request) -> str:
    """An image to make the helper from (never run): busybox if present, else any tagged one."""
    tags = [t for i in await engine(request).call("GET", "/images/json") for t in i.get("RepoTags") or []
            if t != "<none>:<none>"]
    if not tags:
        raise errors.FailedPrecondition("browsing a volume needs an image in the engine (to mount it in)")
    return "busybox:latest" if "busybox:latest" in tags else sorted(tags)[0]


async def _read(request: web.Request, name: str, path: str) -> bytes:
    await engine(request).call("GET", f"/volumes/{name}")  # a missing volume is a 404, not a new one
    created = await engine(request).call("POST", "/containers/create", body={
        "Image": await _helper_image(request), "Cmd": ["true"], "Entrypoint": [], "NetworkDisabled": True,
        "Labels": {HELPER_LABEL: "volume-browser"},
        "HostConfig": {"Mounts": [{"Type": "volume", "Source": name, "Target": MOUNT, "ReadOnly": True}]}})
    try:
        return await engine(request).archive(created["Id"], MOUNT + path.rstrip("/"), MAX_TAR)
    finally:
        await engine(request).call("DELETE", f"/containers/{created['Id']}", {"force": "1"})


async def listing(request: web.Request) -> web.Response:
    """GET /api/volumes/{name}/files?path=/dir: a directory of the volume (its root is /)."""
    name, path = request.match_info["name"], query_path(request)
    tar = tarfile.open(fileobj=io.BytesIO(await _read(request, name, path)), mode="r:")
    top = posixpath.basename(MOUNT + path.rstrip("/"))
    head = next((m for m in tar.getmembers() if m.name.strip("/").removeprefix("./") == top), None)
    if head is None or not head.isdir():
        raise errors.InvalidArgument(f"{path} is not a directory of volume {name}")
    return web.json_response({"volume": name, "path": path, "entries": entries(tar, top)})


async def download(request: web.Request) -> web.Response:
    """GET /api/volumes/{name}/file?path=/f: one regular file of the volume, as an attachment."""
    name, path = request.match_info["name"], query_path(request)
    if path == "/":
        raise errors.InvalidArgument(f"{path} is not a regular file")
    return attachment(tarfile.open(fileobj=io.BytesIO(await _read(request, name, path)), mode="r:"), path)


def register(app: web.Application) -> None:
    app.router.add_get("/api/volumes", volumes)
    app.router.add_delete("/api/volumes/{name}", volume_remove)
    app.router.add_get("/api/volumes/{name}/files", listing)
    app.router.add_get("/api/volumes/{name}/file", download)
