"""Image routes: list, import (``POST /images/create?fromSrc=-``), inspect, delete."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from dockyard import errors
from dockyard.engine.api.app import add, engine
from dockyard.engine.images import Image, rfc3339
from dockyard.oci import reference


def _created(img: Image) -> str:
    return str(img.config.get("created") or rfc3339(img.created))


def _epoch(ts: str) -> int:
    from datetime import datetime

    try:
        return int(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0


def _repo_digests(img: Image) -> list[str]:
    out = []
    for n in img.names:
        try:
            out.append(f"{reference.parse(n).familiar_name()}@{img.manifest_digest}")
        except errors.InvalidArgument:
            continue
    return sorted(set(out))


def _reference_matches(img: Image, pattern: str) -> bool:
    """Docker's ``reference`` filter: ``busybox``, ``busybox:latest``, or a glob like ``bu*``."""
    import fnmatch

    for tag in img.repo_tags():
        repo = tag.rpartition(":")[0]
        if fnmatch.fnmatchcase(tag, pattern) or fnmatch.fnmatchcase(repo, pattern):
            return True
    return False


async def list_images(request: web.Request) -> web.Response:
    images = await engine(request).images.list()
    raw = request.query.get("filters")
    if raw:
        refs = json.loads(raw).get("reference") or []
        refs = list(refs) if isinstance(refs, (list, dict)) else [refs]
        if refs:
            images = [i for i in images if any(_reference_matches(i, r) for r in refs)]
    out = []
    for img in images:
        out.append({"Id": img.id, "ParentId": "", "RepoTags": img.repo_tags(), "RepoDigests": _repo_digests(img),
                    "Created": _epoch(_created(img)), "Size": img.size, "SharedSize": -1,
                    "Labels": (img.config.get("config") or {}).get("Labels") or {}, "Containers": -1})
    return web.json_response(out)


async def _body_chunks(request: web.Request) -> AsyncIterator[bytes]:
    async for chunk in request.content.iter_chunked(1 << 20):
        yield chunk


async def create(request: web.Request) -> web.StreamResponse:
    source = request.query.get("fromSrc")
    if source is None:
        image = request.query.get("fromImage", "")
        raise errors.NotFound(
            f"pull access denied for {image or '<none>'}: pulling is not implemented yet; use docker import or load")
    if source != "-":
        raise errors.InvalidArgument("importing from a URL is not supported: no network; send the tar as the body")
    img = await engine(request).images.import_rootfs(
        _body_chunks(request), request.query.get("repo", ""), request.query.get("tag", ""),
        request.query.getall("changes", []), request.query.get("message", ""))
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    await resp.write(json.dumps({"status": img.id}).encode() + b"\n")
    await resp.write_eof()
    return resp


def image_inspect(img: Image) -> dict[str, Any]:
    cfg = img.config.get("config") or {}
    return {
        "Id": img.id, "RepoTags": img.repo_tags(), "RepoDigests": _repo_digests(img), "Parent": "", "Comment": "",
        "Created": _created(img), "DockerVersion": "", "Author": img.config.get("author", ""), "Config": cfg,
        "Architecture": img.config.get("architecture", ""), "Os": img.config.get("os", ""), "Size": img.size,
        "GraphDriver": {"Name": "overlayfs", "Data": None},
        "RootFS": {"Type": "layers", "Layers": img.config.get("rootfs", {}).get("diff_ids", [])},
        "Metadata": {"LastTagTime": rfc3339(img.created)},
        "Descriptor": {"mediaType": img.manifest.get("mediaType", ""), "digest": img.manifest_digest},
    }


async def inspect(request: web.Request) -> web.Response:
    img = await engine(request).images.get(request.match_info["name"])
    return web.json_response(image_inspect(img))


async def delete(request: web.Request) -> web.Response:
    eng = engine(request)
    name = request.match_info["name"]
    force = request.query.get("force", "") in ("1", "true")
    img = await eng.images.get(name)
    users = [c for c in eng.containers.values() if c["Image"] == img.id]
    if users and not force:
        raise errors.Conflict(f"conflict: unable to delete {name} (must be forced) - image is being used by "
                              f"stopped container {users[0]['Id'][:12]}")
    return web.json_response(await eng.images.delete(name, force))


def register(app: web.Application) -> None:
    add(app, "GET", "/images/json", list_images)
    add(app, "POST", "/images/create", create)
    add(app, "GET", "/images/{name:.+}/json", inspect)
    add(app, "DELETE", "/images/{name:.+}", delete)
