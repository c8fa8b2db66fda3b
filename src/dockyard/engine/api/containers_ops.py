"""Container routes beyond the lifecycle: pause, rename, top, stats, update, resize, prune.

Kept apart from ``containers.py`` so each module stays small; registered from there.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from typing import Any

from aiohttp import web

from dockyard import errors
from dockyard.api import pb
from dockyard.engine import archive, validate
from dockyard.engine.api import decode, filters
from dockyard.engine.api.app import add, engine, version_of
from dockyard.engine.container import Container
from dockyard.engine.hostinfo import memory_total
from dockyard.timefmt import parse_rfc3339, rfc3339_nano


async def pause(request: web.Request) -> web.Response:
    await engine(request).pause(request.match_info["id"])
    return web.Response(status=204)


async def unpause(request: web.Request) -> web.Response:
    await engine(request).unpause(request.match_info["id"])
    return web.Response(status=204)


async def rename(request: web.Request) -> web.Response:
    new = request.query.get("name") or ""
    if not new.strip().lstrip("/"):
        raise errors.InvalidArgument("Neither old nor new names may be empty")
    eng = engine(request)
    validate.rename(eng.get(request.match_info["id"]).name, new)
    eng.rename(request.match_info["id"], new.strip())
    return web.Response(status=204)


def _running(eng: Any, ref: str) -> Container:
    c: Container = eng.get(ref)
    if not c.state.running:
        raise errors.Conflict(f"Container {c.id} is not running")
    return c


async def top(request: web.Request) -> web.Response:
    """Docker's way: host ``ps`` with the caller's arguments, rows kept for the container's pids."""
    eng = engine(request)
    c = _running(eng, request.match_info["id"])
    pids = set((await eng.cd.tasks.Pids(pb.TaskRequest(container_id=c.id))).pids)
    args = (request.query.get("ps_args") or "-ef").split()
    proc = await asyncio.create_subprocess_exec("ps", *args, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise errors.InvalidArgument(f"Error running ps: {err.decode().strip()}")
    return web.json_response(parse_ps(out.decode(), pids))


def parse_ps(output: str, pids: set[int]) -> dict[str, Any]:
    lines = [line for line in output.splitlines() if line.strip()]
    if not lines:
        raise errors.InvalidArgument("ps printed nothing")
    titles = lines[0].split()
    try:
        pid_col = titles.index("PID")
    except ValueError:
        raise errors.InvalidArgument(f"Couldn't find PID field in ps output: {lines[0]}") from None
    procs = []
    for line in lines[1:]:
        fields = line.split(None, len(titles) - 1)
        try:
            if int(fields[pid_col]) in pids:
                procs.append(fields)
        except (ValueError, IndexError):
            continue
    return {"Titles": titles, "Processes": procs}


def _system_cpu_ns() -> int:
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:8]
    return sum(int(x) for x in fields) * 1_000_000_000 // (os.sysconf("SC_CLK_TCK") or 100)


def docker_stats(c: Container, raw: dict[str, Any] | None, pre: dict[str, Any] | None) -> dict[str, Any]:
    """Docker's stats JSON from the runtime's cgroup numbers (``None`` = not running: zeros)."""
    now = rfc3339_nano()
    ncpu = os.cpu_count() or 1

    def cpu(r: dict[str, Any] | None, system: int) -> dict[str, Any]:
        if r is None:
            return {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
                    "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}
        u = r["cpu"]["usage"]
        t = r["cpu"].get("throttling") or {}
        return {"cpu_usage": {"total_usage": u["total"], "percpu_usage": u.get("percpu") or None,
                              "usage_in_kernelmode": u["kernel"], "usage_in_usermode": u["user"]},
                "system_cpu_usage": system, "online_cpus": ncpu,
                "throttling_data": {"periods": t.get("periods", 0), "throttled_periods": t.get("throttledPeriods", 0),
                                    "throttled_time": t.get("throttledTime", 0)}}

    out: dict[str, Any] = {"read": now, "preread": now, "name": c.name, "id": c.id, "num_procs": 0,
                           "storage_stats": {}}
    if raw is None:
        out.update(pids_stats={}, cpu_stats=cpu(None, 0), precpu_stats=cpu(None, 0), memory_stats={},
                   blkio_stats={})
        return out
    mem = raw["memory"]["usage"]
    limit = mem.get("limit") or 0
    host = memory_total()
    stats = dict(raw["memory"].get("raw") or {})
    out.update(
        pids_stats={"current": raw["pids"]["current"], **({"limit": raw["pids"]["limit"]} if raw["pids"]["limit"]
                                                          else {})},
        cpu_stats=cpu(raw, raw.get("_system", 0)),
        precpu_stats=cpu(pre, pre.get("_system", 0)) if pre else cpu(None, 0),
        memory_stats={"usage": mem["usage"], "max_usage": mem.get("max", 0), "stats": stats,
                      "limit": min(limit, host) if limit and host else (limit or host)},
        blkio_stats={"io_service_bytes_recursive": None},
        networks={},
    )
    return out


async def _sample(eng: Any, id: str) -> dict[str, Any] | None:
    try:
        r = json.loads((await eng.cd.tasks.Stats(pb.TaskRequest(container_id=id))).data)
    except (errors.NotFound, errors.FailedPrecondition, errors.Unavailable):
        return None
    r["_system"] = _system_cpu_ns()
    return r  # type: ignore[no-any-return]


async def stats(request: web.Request) -> web.StreamResponse:
    eng = engine(request)
    c = eng.get(request.match_info["id"])
    stream = request.query.get("stream", "1").lower() in ("1", "true")
    one_shot = request.query.get("one-shot", "").lower() in ("1", "true")
    running = c.state.running
    if not stream:
        pre = None
        if running and not one_shot:  # two samples so the client can compute CPU %
            pre = await _sample(eng, c.id)
            await asyncio.sleep(0.25)
        cur = await _sample(eng, c.id) if running else None
        return web.json_response(docker_stats(c, cur, pre))
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    pre = None
    try:
        while True:
            cur = await _sample(eng, c.id) if c.state.running else None
            await resp.write(json.dumps(docker_stats(c, cur, pre)).encode() + b"\n")
            pre = cur
            await asyncio.sleep(1)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    return resp


async def update(request: web.Request) -> web.Response:
    body = await decode.read_object(request, decode.CONTAINER_UPDATE, "UpdateConfig")  # before the lookup
    if version_of(request) < (1, 40):
        body.pop("PidsLimit", None)  # dockerd ignores it from older clients
    warnings = await engine(request).update_resources(request.match_info["id"], body)
    return web.json_response({"Warnings": warnings})


async def resize(request: web.Request) -> web.Response:
    h, w = validate.resize(request.query)
    eng = engine(request)
    c = _running(eng, request.match_info["id"])
    if c.config.tty and h and w:
        await eng.cd.tasks.ResizePty(pb.ResizePtyRequest(container_id=c.id, width=w, height=h))
    return web.Response(status=200)


def _until(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        pass
    units = {"s": 1, "m": 60, "h": 3600}
    if value and value[-1] in units and value[:-1].isdigit():
        return time.time() - int(value[:-1]) * units[value[-1]]
    return parse_rfc3339(value)


async def prune(request: web.Request) -> web.Response:
    eng = engine(request)
    wanted = filters.of(request, filters.CONTAINER_PRUNE)
    until = [_until(v) for v in wanted.get("until", [])]
    deleted = []
    reclaimed = 0
    for c in list(eng.containers.values()):
        if c.state.running or c.state.restarting:
            continue
        labels = c.config.labels or {}
        if not filters.labels_match(labels, wanted.get("label", [])):
            continue
        if not filters.labels_none(labels, wanted.get("label!", [])):
            continue
        created = parse_rfc3339(c.created)
        if any(created >= u for u in until):
            continue
        try:
            size = (await eng.cd.snapshots.Usage(pb.SnapshotKey(key=c.id))).size  # its writable layer
        except errors.DockyardError:
            size = 0
        try:
            await eng.remove(c.id)
        except errors.NotFound:
            continue
        deleted.append(c.id)
        reclaimed += size
    eng.events.publish("container", "prune", "", {"reclaimed": str(reclaimed)})
    return web.json_response({"ContainersDeleted": deleted or None, "SpaceReclaimed": reclaimed})


def register(app: web.Application) -> None:
    add(app, "POST", "/containers/{id}/pause", pause)
    add(app, "POST", "/containers/{id}/unpause", unpause)
    add(app, "POST", "/containers/{id}/rename", rename)
    add(app, "GET", "/containers/{id}/top", top)
    add(app, "GET", "/containers/{id}/stats", stats)
    add(app, "POST", "/containers/{id}/update", update)
    add(app, "POST", "/containers/{id}/resize", resize)
    add(app, "POST", "/containers/prune", prune)
    register_files(app)


# -- files: docker cp (archive GET/HEAD/PUT), export, diff -----------------------------------


def _path_stat_header(st: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(st).encode()).decode()


async def _stat(eng: Any, c: Container, path: str, ref: str) -> dict[str, Any]:
    """The path's stat; a missing path is dockerd's 404 naming the container as the client did."""
    try:
        return await archive.stat_in(eng, c, path)
    except errors.NotFound as err:
        raise errors.NotFound(f"Could not find the file {path} in container {ref}") from err


async def archive_head(request: web.Request) -> web.Response:
    eng = engine(request)
    c = eng.get(request.match_info["id"])
    path = request.query.get("path") or ""
    validate.container_path(path)
    st = await _stat(eng, c, path, request.match_info["id"])
    return web.Response(status=200, headers={"X-Docker-Container-Path-Stat": _path_stat_header(st)})


async def archive_get(request: web.Request) -> web.StreamResponse:
    eng = engine(request)
    c = eng.get(request.match_info["id"])
    path = request.query.get("path") or ""
    validate.container_path(path)
    st = await _stat(eng, c, path, request.match_info["id"])
    chunks = await archive.archive_in(eng, c, path)
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/x-tar",
                                                   "X-Docker-Container-Path-Stat": _path_stat_header(st)})
    await resp.prepare(request)
    async for data in chunks:
        await resp.write(data)
    await resp.write_eof()
    return resp


async def archive_put(request: web.Request) -> web.Response:
    eng = engine(request)
    c = eng.get(request.match_info["id"])
    path = request.query.get("path") or ""
    validate.container_path(path)
    if c.host_config.readonly_rootfs:
        raise errors.PermissionDenied("container rootfs is marked read-only")
    st = await _stat(eng, c, path, request.match_info["id"])
    if not st.get("mode", 0) & (_GO_MODE_DIR | _GO_MODE_SYMLINK):
        raise errors.InvalidArgument(f"extraction point is not a directory: {path}")
    body = await decode.optional_tar_body(request)
    if body is None:  # dockerd extracts an empty body as an empty archive: nothing to do
        return web.Response(status=200)
    owner = await archive.copy_owner(eng, c) if _form_bool(request, "copyUIDGID") else None
    opts = archive.ExtractOptions(_form_bool(request, "noOverwriteDirNonDir"), owner)
    await archive.extract_in(eng, c, path, body, opts)
    return web.Response(status=200)


_GO_MODE_DIR, _GO_MODE_SYMLINK = 1 << 31, 1 << 27  # Go's os.ModeDir and os.ModeSymlink in a path stat


def _form_bool(request: web.Request, name: str) -> bool:
    """dockerd's httputils.BoolValue: anything but "", "0", "no", "false" and "none" is true."""
    return request.query.get(name, "").strip().lower() not in ("", "0", "no", "false", "none")


async def export(request: web.Request) -> web.StreamResponse:
    eng = engine(request)
    c = eng.get(request.match_info["id"])
    # the whole rootfs, names relative to it; a remapped container's owners as it sees them (containerd's)
    chunks = await archive.archive(eng, c.id, "")
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/x-tar"})
    await resp.prepare(request)
    async for data in chunks:
        await resp.write(data)
    await resp.write_eof()
    eng.emit(c, "export")
    return resp


async def changes(request: web.Request) -> web.Response:
    eng = engine(request)
    c = eng.get(request.match_info["id"])
    return web.json_response(await archive.changes(eng, c.id) or None)


def register_files(app: web.Application) -> None:
    add(app, "HEAD", "/containers/{id}/archive", archive_head)
    add(app, "GET", "/containers/{id}/archive", archive_get)
    add(app, "PUT", "/containers/{id}/archive", archive_put)
    add(app, "GET", "/containers/{id}/export", export)
    add(app, "GET", "/containers/{id}/changes", changes)
