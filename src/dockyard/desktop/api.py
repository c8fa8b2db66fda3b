"""The dashboard's JSON routes: thin translations to Engine API calls, shaped for the views."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from dockyard import errors
from dockyard.desktop.engine import Engine

PROJECT_LABEL = "com.docker.compose.project"
ACTIONS = ("start", "stop", "restart", "pause", "unpause", "kill")
PRUNABLE = ("containers", "images", "volumes", "networks")


def engine(request: web.Request) -> Engine:
    return request.app["engine"]  # type: ignore[no-any-return]


def split_reference(ref: str) -> tuple[str, str]:
    """``name[:tag]`` → (name, tag); a digest stays in the name."""
    if "@" in ref:
        return ref, ""
    name, sep, tag = ref.rpartition(":")
    if sep and "/" not in tag:
        return name, tag
    return ref, "latest"


async def ref_of(request: web.Request) -> str:
    """The ``{"ref": "<image>"}`` of a request's body."""
    try:
        ref = str((await request.json())["ref"]).strip()
    except (ValueError, KeyError, TypeError) as err:
        raise errors.InvalidArgument('the body must be {"ref": "<image>"}') from err
    if not ref:
        raise errors.InvalidArgument("an image reference is required")
    return ref


def _health(c: dict[str, Any]) -> str:
    status = c.get("Status", "")
    for word in ("unhealthy", "healthy", "health: starting"):
        if f"({word})" in status:
            return word.removeprefix("health: ")
    return ""


def container_row(c: dict[str, Any]) -> dict[str, Any]:
    labels = c.get("Labels") or {}
    return {
        "id": c["Id"], "name": (c.get("Names") or ["/"])[0].lstrip("/"), "image": c.get("Image", ""),
        "state": c.get("State", ""), "status": c.get("Status", ""), "health": _health(c),
        "created": c.get("Created", 0), "project": labels.get(PROJECT_LABEL, ""),
        "service": labels.get("com.docker.compose.service", ""),
        "ports": [{"ip": p.get("IP", ""), "public": p["PublicPort"], "private": p["PrivatePort"],
                   "type": p.get("Type", "tcp")} for p in c.get("Ports") or [] if p.get("PublicPort")],
    }


def group_by_project(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Compose projects first (by name), then the containers of no project."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in sorted(rows, key=lambda r: r["name"]):
        groups.setdefault(row["project"], []).append(row)
    order = sorted(name for name in groups if name) + ([""] if "" in groups else [])
    return [{"project": name, "containers": groups[name]} for name in order]


async def containers(request: web.Request) -> web.Response:
    listed = await engine(request).call("GET", "/containers/json", {"all": "1"})
    return web.json_response({"projects": group_by_project([container_row(c) for c in listed])})


async def container(request: web.Request) -> web.Response:
    return web.json_response(await engine(request).call("GET", f"/containers/{request.match_info['id']}/json"))


async def container_action(request: web.Request) -> web.Response:
    action = request.match_info["action"]
    if action not in ACTIONS:
        raise errors.InvalidArgument(f"unknown action {action!r}: one of {', '.join(ACTIONS)}")
    await engine(request).call("POST", f"/containers/{request.match_info['id']}/{action}")
    return web.json_response({"done": action})


async def container_remove(request: web.Request) -> web.Response:
    force = "1" if request.query.get("force") in ("1", "true") else None
    await engine(request).call("DELETE", f"/containers/{request.match_info['id']}", {"force": force})
    return web.json_response({"done": "remove"})


async def images(request: web.Request) -> web.Response:
    listed = await engine(request).call("GET", "/images/json")
    rows = [{"id": i["Id"], "tags": i.get("RepoTags") or [], "size": i.get("Size", 0), "created": i.get("Created", 0),
             "containers": i.get("Containers", -1)} for i in listed]
    return web.json_response({"images": sorted(rows, key=lambda r: r["tags"][:1])})


async def image_history(request: web.Request) -> web.Response:
    return web.json_response(await engine(request).call("GET", f"/images/{request.match_info['id']}/history"))


async def image_remove(request: web.Request) -> web.Response:
    force = "1" if request.query.get("force") in ("1", "true") else None
    return web.json_response(await engine(request).call("DELETE", f"/images/{request.match_info['id']}",
                                                        {"force": force}))


async def image_tag(request: web.Request) -> web.Response:
    """POST {"ref": "repo[:tag]"}: another name for the image."""
    repo, tag = split_reference(await ref_of(request))
    await engine(request).call("POST", f"/images/{request.match_info['id']}/tag", {"repo": repo, "tag": tag})
    return web.json_response({"done": "tag", "ref": f"{repo}:{tag}"})


async def networks(request: web.Request) -> web.Response:
    rows = []
    for n in await engine(request).call("GET", "/networks"):
        detail = await engine(request).call("GET", f"/networks/{n['Id']}")
        members = [{"name": e.get("Name", ""), "ipv4": e.get("IPv4Address", "")}
                   for e in (detail.get("Containers") or {}).values()]
        subnets = [c.get("Subnet", "") for c in ((n.get("IPAM") or {}).get("Config") or [])]
        rows.append({"id": n["Id"], "name": n["Name"], "driver": n.get("Driver", ""), "subnets": subnets,
                     "containers": members})
    return web.json_response({"networks": sorted(rows, key=lambda r: r["name"])})


async def network_remove(request: web.Request) -> web.Response:
    await engine(request).call("DELETE", f"/networks/{request.match_info['id']}")
    return web.json_response({"done": "remove"})


async def disk_usage(request: web.Request) -> web.Response:
    return web.json_response(await engine(request).call("GET", "/system/df"))


async def prune(request: web.Request) -> web.Response:
    kind = request.match_info["kind"]
    if kind not in PRUNABLE:
        raise errors.InvalidArgument(f"cannot prune {kind!r}: one of {', '.join(PRUNABLE)}")
    return web.json_response(await engine(request).call("POST", f"/{kind}/prune") or {})


async def settings(request: web.Request) -> web.Response:
    info = await engine(request).call("GET", "/info")
    version = await engine(request).call("GET", "/version")
    return web.json_response({"info": info, "version": version})


def register(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/containers", containers)
    r.add_get("/api/containers/{id}", container)
    r.add_post("/api/containers/{id}/{action}", container_action)
    r.add_delete("/api/containers/{id}", container_remove)
    r.add_get("/api/images", images)
    r.add_get("/api/images/{id}/history", image_history)
    r.add_delete("/api/images/{id}", image_remove)
    r.add_post("/api/images/{id}/tag", image_tag)
    r.add_get("/api/networks", networks)
    r.add_delete("/api/networks/{id}", network_remove)
    r.add_get("/api/df", disk_usage)
    r.add_post("/api/prune/{kind}", prune)
    r.add_get("/api/settings", settings)
