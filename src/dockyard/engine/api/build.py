"""Build routes: ``POST /build`` (the classic tar-context protocol) and ``POST /build/prune``.

The body is the context tar (plain, gzip, bzip2 or xz), streamed to disk under the daemon's
limits (``builder.receive``); progress streams back as Docker's JSON lines:
``{"stream": ...}`` text, ``{"aux": {"ID": ...}}`` with the image ID, and
``{"errorDetail": ..., "error": ...}`` when a step fails (the HTTP status is already 200 then,
as with Docker).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from dockyard import errors
from dockyard.engine.api.app import ENGINE_KEY, add, engine
from dockyard.engine.validate import extra_host, platform


def builder_of(eng: Any) -> Any:
    """The engine's one Builder (its cache database opened on first use)."""
    b = eng.builder
    if b is None:
        # lazy: 21 ms of CPU on every dockyardd start (the builder's import, measured); paid by the first build
        from dockyard.builder.executor import Builder, open_cache

        b = Builder(eng, open_cache(eng.data_root))
        eng.builder = b
        eng.images.settle_hooks.append(b.flush)
    return b


def _bool(v: str | None) -> bool:
    return (v or "").lower() in ("1", "true", "yes")


def _json(request: web.Request, name: str, default: Any) -> Any:
    raw = request.query.get(name)
    if not raw:
        return default
    try:
        return json.loads(raw)
    except ValueError:
        raise errors.InvalidArgument(f"invalid {name}: {raw!r}") from None


def options(request: web.Request) -> Any:
    # lazy: 21 ms of CPU on every dockyardd start (the builder's import, measured); paid by the first build
    from dockyard.builder.executor import BuildOptions

    q = request.query
    cache_from = _json(request, "cachefrom", [])
    if q.get("platform"):
        platform(q["platform"])  # containerd's platforms.Parse: "unknown operating system or architecture" (400)
    return BuildOptions(
        dockerfile=q.get("dockerfile") or "Dockerfile", tags=[t for t in q.getall("t", []) if t],
        build_args=dict(_json(request, "buildargs", {}) or {}), no_cache=_bool(q.get("nocache")),
        pull=_bool(q.get("pull")), target=q.get("target") or "", labels=dict(_json(request, "labels", {}) or {}),
        cache_from=list(cache_from or []), platform=q.get("platform") or "",
        remove=q.get("rm", "1") not in ("0", "false"), force_remove=_bool(q.get("forcerm")),
        network_mode=q.get("networkmode") or "",
        extra_hosts=extra_hosts(q.getall("extrahosts", [])), squash=_squash(request), resources=resources(request))


def _int(text: str | None) -> int:
    """dockerd's Int64ValueOrZero: what is not a number is 0."""
    try:
        return int(text or "0")
    except ValueError:
        return 0


def resources(request: web.Request) -> dict[str, Any]:
    """The RUN containers' HostConfig resources from the query, as dockerd's newImageBuildOptions reads them
    and hostConfigFromOptions passes them on (only those set; checked when a RUN container is made, as
    dockerd's create checks them: ``steps/run.py``); swap twice the memory unless given, as that create
    makes it."""
    q = request.query
    if q.getall("securityopt", []):
        raise errors.InvalidArgument("security options are not supported on linux")
    if (q.get("isolation") or "default") != "default":
        raise errors.InvalidArgument(f'unsupported isolation: "{q["isolation"]}"')
    host: dict[str, Any] = {"Memory": _int(q.get("memory")), "MemorySwap": _int(q.get("memswap")),
                            "CpuShares": _int(q.get("cpushares")), "CpuPeriod": _int(q.get("cpuperiod")),
                            "CpuQuota": _int(q.get("cpuquota")), "CpusetCpus": q.get("cpusetcpus") or "",
                            "CpusetMems": q.get("cpusetmems") or "", "CgroupParent": q.get("cgroupparent") or ""}
    if q.get("shmsize"):
        try:
            host["ShmSize"] = int(q["shmsize"])
        except ValueError:
            raise errors.InvalidArgument(f"invalid shmsize: {q['shmsize']!r}") from None
    ulimits = _json(request, "ulimits", []) or []
    if not isinstance(ulimits, list) or not all(isinstance(u, dict) for u in ulimits):
        raise errors.InvalidArgument("error reading ulimit settings: not a list of ulimits")
    host["Ulimits"] = ulimits
    host = {k: v for k, v in host.items() if v}
    if host.get("Memory", 0) > 0 and not host.get("MemorySwap"):
        host["MemorySwap"] = 2 * host["Memory"]
    return host


def _squash(request: web.Request) -> bool:
    """``squash``: only on an experimental daemon (dockerd's 400 otherwise)."""
    if not _bool(request.query.get("squash")):
        return False
    if not engine(request).experimental:
        raise errors.InvalidArgument("squash is only supported with experimental mode")
    return True


def extra_hosts(raw: list[str]) -> list[str]:
    """``extrahosts`` (repeated ``host:ip``, or ``host=ip`` as the docker CLI also takes), checked
    as a container's ``ExtraHosts`` are."""
    out = []
    for entry in raw:
        name, eq, ip = entry.partition("=")
        entry = f"{name}:{ip}" if eq and ":" not in name else entry
        extra_host(entry)
        out.append(entry)
    return out


SECRETS_HEADER = "X-Dockyard-Build-Secrets"


CONTEXT_HEADER = "X-Dockyard-Build-Context"


def secrets_of(request: web.Request) -> dict[str, bytes]:
    """Build secrets (``RUN --mount=type=secret``), which the classic protocol cannot carry.

    Wire format (Dockyard's own): header ``X-Dockyard-Build-Secrets`` holding base64url of
    the JSON object ``{"<id>": "<base64 of the secret's bytes>", ...}``; repeat the header
    to send more (each ≤ 8 KiB, aiohttp's header limit). Never in the URL (access logs), never
    in the context tar (it is hashed for the cache); not stored by the daemon.
    """
    out: dict[str, bytes] = {}
    for raw in request.headers.getall(SECRETS_HEADER, []):
        try:
            doc = json.loads(base64.urlsafe_b64decode(raw.encode() + b"=" * (-len(raw) % 4)))
            out.update({str(k): base64.b64decode(v) for k, v in doc.items()})
        except (ValueError, AttributeError):
            raise errors.InvalidArgument(f"invalid {SECRETS_HEADER} header") from None
    return out


async def body_chunks(request: web.Request) -> AsyncIterator[bytes]:
    """The request body as it arrives, held to its Content-Length when it has one. A body with a
    Content-Encoding (docker-py's ``gzip=True``) arrives decoded by aiohttp: its length is not
    the header's, and the context's own limits bound it."""
    encoded = request.headers.get("Content-Encoding", "identity").lower() != "identity"
    n = None if encoded else request.content_length
    pos = 0
    async for chunk in request.content.iter_any():
        pos += len(chunk)
        if n is not None and pos > n:
            raise errors.InvalidArgument("the build context is longer than its Content-Length")
        yield chunk
    if n is not None and pos < n:
        raise errors.InvalidArgument(f"the build context ended after {pos} of {n} bytes")


async def build(request: web.Request) -> web.StreamResponse:
    eng = engine(request)
    opts = options(request)
    secrets = secrets_of(request)
    builder = builder_of(eng)
    # streamed to disk under limits (builder.receive): a refusal is a 400 before any output
    ctx = await builder.receive_context(body_chunks(request))
    try:
        # as dockerd's Detect: no Dockerfile, an empty or unparsable one is a 400, not a stream error
        loaded = builder.load(ctx, opts, request.headers.get(CONTEXT_HEADER, ""))
        resp = await _stream_build(request, builder, loaded, opts, secrets)
    finally:
        if ctx.store is not None:
            await asyncio.to_thread(ctx.store.release)  # its files are gone when the client hears the end
    await resp.write_eof()
    return resp


async def _stream_build(request: web.Request, builder: Any, loaded: Any, opts: Any,
                        secrets: dict[str, bytes]) -> web.StreamResponse:
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()
    quiet = _bool(request.query.get("q"))  # docker build -q: no step output, the image ID at the end

    held: list[str] = []  # "Successfully built/tagged": after the aux ID message, as dockerd orders them

    def emit(text: str) -> None:
        if quiet:
            return
        if text.startswith("Successfully "):
            held.append(text)
        else:
            queue.put_nowait(json.dumps({"stream": text}).encode() + b"\r\n")

    def release_held() -> None:
        for text in held:
            queue.put_nowait(json.dumps({"stream": text}).encode() + b"\r\n")
        held.clear()

    async def run() -> None:
        try:
            image_id = await builder.build(loaded, opts, emit, secrets)
            engine(request).events.publish("image", "create", image_id, {"name": image_id})  # once, as dockerd
            if quiet:
                queue.put_nowait(json.dumps({"stream": image_id + "\n"}).encode() + b"\r\n")
            queue.put_nowait(json.dumps({"aux": {"ID": image_id}}).encode() + b"\r\n")
            release_held()
        except errors.DockyardError as err:
            release_held()
            code = getattr(err, "code", 1)
            queue.put_nowait(json.dumps({"errorDetail": {"code": code, "message": str(err)},
                                         "error": str(err)}).encode() + b"\r\n")
        except Exception as err:  # noqa: BLE001 - reported to the client, the stream is already 200
            release_held()
            queue.put_nowait(json.dumps({"errorDetail": {"message": f"internal error: {err}"},
                                         "error": f"internal error: {err}"}).encode() + b"\r\n")
        finally:
            queue.put_nowait(None)

    task = asyncio.create_task(run())
    try:
        while True:
            item = await queue.get()
            if item is None:
                break
            await resp.write(item)
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)  # it still reads the context's files
    return resp


async def context(request: web.Request) -> web.Response:
    """``POST /build/context?key=K`` (Dockyard's own): which files of the context a build must
    send, given the manifest of its regular files (``{"files": [[name, size, mtime_ns, ...]]}``).
    Answers ``{"token": T, "need": [names]}``; the build then sends the tar without the other
    regular files and the header ``X-Dockyard-Build-Context: T``. See ``builder.contexts``."""
    key = request.query.get("key", "")
    if not key or len(key) > 128:
        raise errors.InvalidArgument("key: a build context session key (1-128 characters) is required")
    try:
        doc = await request.json()
    except ValueError:
        raise errors.InvalidArgument("the body must be JSON: {\"files\": [[name, numbers...], ...]}") from None
    files = doc.get("files") if isinstance(doc, dict) else None
    if not isinstance(files, list):
        raise errors.InvalidArgument("files: a list of [name, numbers...] is required")
    token, need = builder_of(engine(request)).contexts.need(key, files)
    return web.json_response({"token": token, "need": need})


async def prune(request: web.Request) -> web.Response:
    # lazy: 21 ms of CPU on every dockyardd start (the builder's import, measured); paid by the first build
    from dockyard.builder.executor import prune as prune_cache

    n, size = await prune_cache(builder_of(engine(request)))
    return web.json_response({"CachesDeleted": [f"entry{i}" for i in range(n)] or None, "SpaceReclaimed": size})


async def _images_deleted(eng: Any, images: list[str]) -> None:
    """The build cache entries that built only these images go with them (dockerd's classic cache)."""
    await builder_of(eng).images_deleted(images)


def register(app: web.Application) -> None:
    eng = app[ENGINE_KEY]
    hooks = getattr(getattr(eng, "images", None), "deleted_hooks", None)  # the API's unit tests serve stand-ins
    if hooks is not None:
        hooks.append(functools.partial(_images_deleted, eng))
    add(app, "POST", "/build", build)
    add(app, "POST", "/build/prune", prune)
    add(app, "POST", "/build/context", context)
