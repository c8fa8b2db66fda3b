"""Image routes: list, import (``POST /images/create?fromSrc=-``), inspect, delete."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

from dockyard import errors
from dockyard.engine import validate
from dockyard.engine.api import decode, filters, versions
from dockyard.engine.api.app import add, engine, version_of
from dockyard.engine.api.containers import qbool
from dockyard.engine.images import DANGLING_PREFIX, Image, history_of
from dockyard.oci import reference
from dockyard.timefmt import parse_rfc3339, rfc3339


def _created(img: Image) -> str:
    return str(img.config.get("created") or rfc3339(img.created))


def _epoch(ts: str) -> int:
    try:
        return int(parse_rfc3339(ts))
    except ValueError:
        return 0


def _created_precise(img: Image) -> float:
    """Creation time with its fraction (configs may carry nanoseconds)."""
    try:
        return parse_rfc3339(_created(img))
    except ValueError:
        return 0.0


def _repo_digests(img: Image) -> list[str]:
    """``repo@digest`` for each repository naming the image; a dangling record names none."""
    out = []
    for n in img.names:
        if n.startswith(DANGLING_PREFIX):
            continue
        try:
            out.append(f"{reference.parse(n).familiar_name()}@{img.repo_digest}")
        except errors.InvalidArgument:
            continue
    return sorted(set(out))


def _path_match(pattern: str, target: str) -> bool:
    """Go's ``path.Match``: ``*`` and ``?`` never cross a ``/``; a malformed pattern matches nothing."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            j = pattern.find("]", i + 2)
            if j < 0:
                return False
            body = pattern[i + 1:j]
            out.append("[" + ("^" + body[1:] if body.startswith("^") else body).replace("\\", "\\\\") + "]")
            i = j
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(ch))
        i += 1
    try:
        return re.fullmatch("".join(out), target) is not None
    except re.error:
        return False


def _tag_matches(tag: str, pattern: str) -> bool:
    """Docker's ``reference`` filter (moby's containerd image list): the pattern, a Go ``path.Match``
    glob, against the familiar and canonical forms, each with and without the tag."""
    try:
        ref = reference.parse(tag)
    except errors.InvalidArgument:
        return False
    targets = (ref.familiar(), ref.familiar_name(), str(ref), ref.name)
    return any(_path_match(pattern, t) for t in targets)


def _digest_matches(repo_digest: str, pattern: str) -> bool:
    """The ``reference`` filter on a ``repo@digest``: the whole of it or its repository (moby's FamiliarMatch)."""
    return _path_match(pattern, repo_digest) or _path_match(pattern, repo_digest.partition("@")[0])


async def _created_bound(request: web.Request, refs: list[str]) -> float | None:
    """The creation time of the image ``since``/``before`` names (the last one given)."""
    if not refs:
        return None
    return _created_precise(await engine(request).images.get(refs[-1]))


async def list_images(request: web.Request) -> web.Response:
    if version_of(request) >= (1, 54) and qbool(request, "identity") and not (
            version_of(request) >= (1, 47) and qbool(request, "manifests")):
        raise errors.InvalidArgument("conflicting options: identity requires manifests=1")
    wanted = filters.of(request, filters.IMAGES)
    dangling = filters.boolean(wanted, "dangling")
    since = await _created_bound(request, wanted.get("since") or [])
    before = await _created_bound(request, wanted.get("before") or [])
    images = await engine(request).images.list()
    if since is not None:
        images = [i for i in images if _created_precise(i) > since]
    if before is not None:
        images = [i for i in images if _created_precise(i) < before]
    for value in wanted.get("until") or []:
        bound = _timestamp(value)
        images = [i for i in images if _created_precise(i) < bound]
    refs = wanted.get("reference") or []
    if refs:
        images = [i for i in images if any(_tag_matches(t, r) for t in i.repo_tags() for r in refs)]
    if dangling is not None:
        images = [i for i in images if (not i.repo_tags()) == dangling]
    if wanted.get("label") or wanted.get("label!"):
        images = [i for i in images if filters.labels_match(_labels(i), wanted.get("label", []))
                  and filters.labels_none(_labels(i), wanted.get("label!", []))]
    out = []
    for img in images:
        tags, digests = img.repo_tags(), _repo_digests(img)
        if refs:  # only the names that matched, as docker images REPO[:TAG] shows (digests too, as dockerd)
            tags = [t for t in tags if any(_tag_matches(t, r) for r in refs)]
            digests = [d for d in digests if any(_digest_matches(d, r) for r in refs)]
        out.append({"Id": img.id, "ParentId": img.parent, "RepoTags": tags, "RepoDigests": digests,
                    "Created": _epoch(_created(img)), "Size": img.size, "SharedSize": -1,
                    "Labels": (img.config.get("config") or {}).get("Labels") or {}, "Containers": -1})
        if request.query.get("manifests", "") in ("1", "true") and version_of(request) >= (1, 47):
            out[-1]["Manifests"] = await manifest_summaries(request, img)
    return web.json_response(out)


def _labels(img: Image) -> dict[str, str]:
    return (img.config.get("config") or {}).get("Labels") or {}


def registry_auth(request: web.Request) -> dict[str, Any] | None:
    """Decode ``X-Registry-Auth`` (base64url JSON, padding optional), as the docker CLI sends it."""
    raw = request.headers.get("X-Registry-Auth", "")
    if not raw:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except ValueError as err:
        raise errors.InvalidArgument(f"X-Registry-Auth: not base64 JSON: {err}") from None
    return decode.check(decode.AUTH_CONFIG, data, "AuthConfig") if isinstance(data, dict) else None


def insecure_registries(request: web.Request) -> list[str]:
    return list(getattr(engine(request), "insecure_registries", []) or [])


async def _json_lines(request: web.Request, messages: AsyncIterator[dict[str, Any]]) -> web.StreamResponse:
    """Docker's progress stream: status 200 at once, one JSON object a line, errors as the last line."""
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    try:
        async for msg in messages:
            await resp.write(json.dumps(msg).encode() + b"\n")
    except errors.DockyardError as err:
        await resp.write(json.dumps({"errorDetail": {"message": str(err)}, "error": str(err)}).encode() + b"\n")
    await resp.write_eof()
    return resp


async def _started(messages: AsyncIterator[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    """A pull's messages once the registry has answered: an error before that (an unknown repository,
    a refused login) is the request's status, as dockerd answers before it flushes any progress."""
    it = messages.__aiter__()
    head = []
    async for msg in it:
        head.append(msg)
        if not str(msg.get("status", "")).startswith("Pulling from"):
            break

    async def chained() -> AsyncIterator[dict[str, Any]]:
        for msg in head:
            yield msg
        async for msg in it:
            yield msg
    return chained()


async def create(request: web.Request) -> web.StreamResponse:
    source = request.query.get("fromSrc")
    if source is None:
        image = request.query.get("fromImage", "")
        if not image:
            raise errors.InvalidArgument("fromImage or fromSrc is required")
        tag = request.query.get("tag", "")
        ref = image
        if tag:
            ref = f"{image}@{tag}" if tag.startswith("sha256:") else f"{image}:{tag}"
        reference.parse(ref)  # a bad name is a 400 before the stream starts
        wanted = request.query.get("platform", "")
        if wanted:
            validate.platform(wanted)
        return await _json_lines(request, await _started(engine(request).images.pull(
            ref, wanted, registry_auth(request), insecure_registries(request))))
    wanted = request.query.get("platform", "")
    platform = validate.platform(wanted) if wanted else None
    if source == "-":
        return await _import(request, await decode.plain_tar_body(request, empty_ok=True), source, platform)
    url = _import_url(source)
    async with aiohttp.ClientSession() as session:
        try:
            async with session.get(url) as got:
                await _refuse_status(url, got)
                return await _import(request, got.content.iter_chunked(1 << 20), source, platform)
        except (aiohttp.InvalidURL, ValueError) as err:  # IDNA, ports, ... aiohttp refuses before dialing
            raise errors.InvalidArgument(f'invalid URL "{url}": {err}') from err
        except aiohttp.ClientError as err:  # the source did not answer: not the daemon's failure
            raise errors.Unavailable(f'cannot reach "{url}": {err}') from err


def _import_url(source: str) -> str:
    """``fromSrc`` as dockerd reads it: ``http://`` added when there is no scheme; a host with a
    percent escape is Go's "invalid URL escape" (400)."""
    url = source if "://" in source else "http://" + source
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise errors.InvalidArgument(f'parse "{url}": net/url: invalid control character in URL')
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0]
    if "%" in host:
        raise errors.InvalidArgument(f'parse "{url}": invalid URL escape "{host[host.index("%"):][:3]}"')
    if scheme.lower() not in ("http", "https") or not host:
        raise errors.InvalidArgument(f'invalid URL "{url}": an http:// or https:// URL with a host is needed')
    return url


async def _refuse_status(url: str, got: Any) -> None:
    """dockerd's GetWithStatusError: a 4xx/5xx answer from the source becomes that error class."""
    if got.status < 400:
        return
    body = (await got.read()).decode(errors="replace").strip()
    msg = f"failed to GET {url} with status {got.status} {got.reason}: {body}"
    raise {404: errors.NotFound, 400: errors.InvalidArgument, 401: errors.PermissionDenied,
           403: errors.PermissionDenied}.get(got.status, errors.Internal)(msg)


async def _import(request: web.Request, body: AsyncIterator[bytes], source: str,
                  platform: tuple[str, str, str] | None) -> web.StreamResponse:
    img = await engine(request).images.import_rootfs(
        body, request.query.get("repo", ""), request.query.get("tag", ""), request.query.getall("changes", []),
        request.query.get("message", "") or f"Imported from {source}", platform)
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    await resp.write(json.dumps({"status": img.id}).encode() + b"\n")
    await resp.write_eof()
    return resp


async def push(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    tag = request.query.get("tag", "")
    ref = f"{name}:{tag}" if tag else name
    reference.parse(ref)
    return await _json_lines(request, engine(request).images.push(ref, registry_auth(request),
                                                                  insecure_registries(request)))


async def tag_image(request: web.Request) -> web.Response:
    validate.tag(request.query.get("repo", ""), request.query.get("tag", ""))
    await engine(request).images.tag(request.match_info["name"], request.query.get("repo", ""),
                                     request.query.get("tag", ""))
    return web.Response(status=201)


async def history(request: web.Request) -> web.Response:
    img = await engine(request).images.get(request.match_info["name"])
    rows = history_of(img)
    for r in rows:
        r["Created"] = _epoch(r["Created"]) if isinstance(r["Created"], str) else r["Created"]
    return web.json_response(rows)


async def _save(request: web.Request, names: list[str]) -> web.StreamResponse:
    images = engine(request).images
    for n in names:
        if not await images.repository_tags(n):  # a repository without a tag saves all its tags
            await images.get(n)  # 404 before the stream starts
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/x-tar"})
    await resp.prepare(request)
    async for chunk in images.save(names):
        await resp.write(chunk)
    await resp.write_eof()
    return resp


async def save_many(request: web.Request) -> web.StreamResponse:
    return await _save(request, request.query.getall("names", []))


async def save_one(request: web.Request) -> web.StreamResponse:
    return await _save(request, [request.match_info["name"]])


async def load(request: web.Request) -> web.StreamResponse:
    """``POST /images/load``: 200 at once; what the archive held, or why it could not be loaded, in the
    stream (as dockerd: clients such as docker-py read load errors from it)."""
    async def lines() -> AsyncIterator[dict[str, Any]]:
        for line in await engine(request).images.load(await decode.tar_body(request, compressed=True),
                                                       insecure_registries(request)):
            yield {"stream": line + "\n"}
    return await _json_lines(request, lines())


def _in_use(request: web.Request) -> set[str]:
    return {c.image for c in engine(request).containers.values()}


async def prune(request: web.Request) -> web.Response:
    wanted = filters.of(request, filters.IMAGE_PRUNE)
    all_images = filters.boolean(wanted, "dangling") is False
    until = [_timestamp(v) for v in wanted.get("until") or []]

    def match(img: Image) -> bool:
        return (filters.labels_match(_labels(img), wanted.get("label", []))
                and filters.labels_none(_labels(img), wanted.get("label!", []))
                and all(_created_precise(img) < u for u in until))
    return web.json_response(await engine(request).images.prune(all_images, _in_use(request), match))


def _timestamp(value: str) -> float:
    """A filter's point in time as dockerd reads it: Unix seconds (with a fraction), an RFC 3339 date or time,
    or a Go duration before now (``10m``, ``1h30m``)."""
    try:
        return float(value)
    except ValueError:
        pass
    parts = re.fullmatch(r"((?:\d+(?:\.\d+)?(?:h|m|s|ms|us|ns))+)", value or "")
    if parts:
        scale = {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
        ago = sum(float(n) * scale[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)(h|ms|us|ns|m|s)", value))
        return time.time() - ago
    try:
        t = datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", value).replace("Z", "+00:00"))
    except ValueError:
        raise errors.InvalidArgument(f"invalid filter 'until={value}': not a timestamp, date or duration") from None
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()


async def commit(request: web.Request) -> web.Response:
    overrides = await decode.read_object(request, decode.CONFIG, "Config")  # before the lookup, as dockerd
    eng = engine(request)
    c = eng.get(request.query.get("container", ""))
    base = await eng.images.get(c.image)
    cfg = {**c.config.to_json(), **(overrides or {})}
    image_id = await eng.images.commit(
        c.id, base, cfg, request.query.get("repo", ""), request.query.get("tag", ""),
        request.query.get("comment", ""), request.query.get("author", ""), request.query.getall("changes", []))
    return web.json_response({"Id": image_id}, status=201)


def image_inspect(img: Image) -> dict[str, Any]:
    cfg = img.config.get("config") or {}
    return {
        "Id": img.id, "RepoTags": img.repo_tags(), "RepoDigests": _repo_digests(img), "Parent": img.parent,
        "Comment": img.config.get("comment", ""),
        "Created": _created(img), "DockerVersion": "", "Author": img.config.get("author", ""), "Config": cfg,
        "Architecture": img.config.get("architecture", ""), "Os": img.config.get("os", ""), "Size": img.size,
        "GraphDriver": {"Name": "overlayfs", "Data": None},
        "RootFS": {"Type": "layers", "Layers": img.config.get("rootfs", {}).get("diff_ids", [])},
        "Metadata": {"LastTagTime": rfc3339(img.created)},
        "Descriptor": {"mediaType": img.manifest.get("mediaType", ""), "digest": img.manifest_digest},
    }


async def inspect(request: web.Request) -> web.Response:
    img = await engine(request).images.get(request.match_info["name"])
    doc = image_inspect(img)
    if request.query.get("manifests", "") in ("1", "true"):
        doc["Manifests"] = await manifest_summaries(request, img)
    return web.json_response(versions.image_inspect(doc, version_of(request)))


async def manifest_summaries(request: web.Request, img: Image) -> list[dict[str, Any]]:
    """``Manifests`` (1.47 list, 1.48 inspect): the platform manifest the image resolved to, available
    locally with its config and layers."""
    layers = sum(int(layer.get("size", 0)) for layer in img.manifest.get("layers", []))
    content = layers + int((img.manifest.get("config") or {}).get("size", 0))
    platform = {k: v for k, v in (("architecture", img.config.get("architecture", "")),
                                  ("os", img.config.get("os", "")), ("variant", img.config.get("variant", ""))) if v}
    descriptor = {"mediaType": img.manifest.get("mediaType", ""), "digest": img.manifest_digest,
                  "size": len(await engine(request).images.cd.read_blob(img.manifest_digest)), "platform": platform}
    return [{"ID": img.manifest_digest, "Descriptor": descriptor, "Available": True,
             "Size": {"Total": content, "Content": content}, "Kind": "image",
             "ImageData": {"Platform": platform, "Containers": [c.id for c in engine(request).containers.values()
                                                                if c.image == img.id],
                           "Size": {"Unpacked": img.size}}}]


async def delete(request: web.Request) -> web.Response:
    eng = engine(request)
    name = request.match_info["name"]
    force = qbool(request, "force")  # dockerd's BoolValue: docker-py sends "True"
    planned = await eng.images.deletion(name)
    img, names, _ = planned
    untag_only = len(names) < len(img.names)  # the image keeps other names
    mounting = [c for c in eng.containers.values()
                if any(m.get("Type") == "image" and m.get("Source") == img.id for m in c.mounts or [])]
    if mounting and not force:  # an image mount (engine/imagemounts.py) holds even one of several names
        raise errors.Conflict(f"conflict: unable to delete {name} (must be forced) - container "
                              f"{mounting[0].id[:12]} is using its referenced image {img.id[7:19]}")
    users = [c for c in eng.containers.values() if c.image == img.id]
    if users and not force and not untag_only:  # removing one of several tags never touches the image
        raise errors.Conflict(f"conflict: unable to delete {name} (must be forced) - image is being used by "
                              f"stopped container {users[0].id[:12]}")
    return web.json_response(await eng.images.delete(name, force, planned))


async def search(request: web.Request) -> web.Response:
    """``GET /images/search``: parameters checked as dockerd checks them (400), then the registry's index
    asked; an index that cannot be reached is a 503."""
    term = request.query.get("term", "")
    if not term:
        raise errors.InvalidArgument("term is required")
    raw = request.query.get("limit", "") or "25"
    try:
        limit = int(raw)
    except ValueError:
        raise errors.InvalidArgument(f"invalid limit: {raw!r}") from None
    if not 1 <= limit <= 100:
        raise errors.InvalidArgument(f"limit {limit} is outside the range of [1, 100]")
    wanted = filters.of(request, frozenset({"is-automated", "is-official", "stars"}))
    automated, official = filters.boolean(wanted, "is-automated"), filters.boolean(wanted, "is-official")
    stars = 0
    for value in wanted.get("stars") or []:
        if not value.isdigit():
            raise errors.InvalidArgument(f"invalid filter 'stars={value}'")
        stars = max(stars, int(value))
    results = await engine(request).images.search(term, limit, registry_auth(request), insecure_registries(request))
    out = [r for r in results
           if (automated is None or bool(r.get("is_automated")) == automated)
           and (official is None or bool(r.get("is_official")) == official)
           and int(r.get("star_count") or 0) >= stars]
    return web.json_response(out[:limit])


async def distribution(request: web.Request) -> web.Response:
    """``GET /distribution/{name}/json``: the name checked (400), then the registry asked for its descriptor
    and platforms (nothing is pulled); a registry that cannot be reached is a 503."""
    name = request.match_info["name"]
    reference.parse(name)
    return web.json_response(await engine(request).images.distribution(name, registry_auth(request),
                                                                      insecure_registries(request)))


def register(app: web.Application) -> None:
    add(app, "GET", "/images/search", search)
    add(app, "GET", "/distribution/{name:.+}/json", distribution)
    add(app, "GET", "/images/json", list_images)
    add(app, "POST", "/images/create", create)
    add(app, "GET", "/images/get", save_many)
    add(app, "POST", "/images/load", load)
    add(app, "POST", "/images/prune", prune)
    add(app, "POST", "/commit", commit)
    add(app, "GET", "/images/{name:.+}/json", inspect)
    add(app, "GET", "/images/{name:.+}/history", history)
    add(app, "GET", "/images/{name:.+}/get", save_one)
    add(app, "POST", "/images/{name:.+}/push", push)
    add(app, "POST", "/images/{name:.+}/tag", tag_image)
    add(app, "DELETE", "/images/{name:.+}", delete)
