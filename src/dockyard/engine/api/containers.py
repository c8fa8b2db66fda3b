"""Container routes: create, list, inspect, start, stop, kill, wait, attach, logs, delete."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any

from aiohttp import web

from dockyard import errors
from dockyard.api import pb
from dockyard.engine import detachkeys, validate
from dockyard.engine.api import containers_ops, decode, filters, render
from dockyard.engine.api.app import add, engine, version_of
from dockyard.engine.container import Container
from dockyard.engine.detachkeys import Scanner
from dockyard.engine.logs_local import read_container_log
from dockyard.engine.names import split_link
from dockyard.engine.streams import frame
from dockyard.oci import reference
from dockyard.timefmt import rfc3339_nano
from dockyard.volumes import bindopts

log = logging.getLogger("dockyard.engine.api")


def qbool(request: web.Request, name: str, default: bool = False) -> bool:
    v = request.query.get(name)
    if v is None:
        return default
    return v.lower() in ("1", "true", "yes")


async def create(request: web.Request) -> web.Response:
    """Validated at the door (engine/validate.py): what dockerd refuses is never stored."""
    body = decode.check(decode.CONTAINER_CREATE, await decode.read_json(request, required=True),
                        "ContainerConfigWrapper")
    if not any(key in decode.CONFIG for key in body):
        raise errors.InvalidArgument("config cannot be empty in order to create a container")
    host_config = body.pop("HostConfig", None) or {}
    networking = body.pop("NetworkingConfig", None)  # --network-alias, --ip, extra networks
    if version_of(request) >= (1, 52):  # dockerd's Config has no MacAddress from 1.52: its decoder drops it
        body.pop("MacAddress", None)
    warnings = validate.container_create(body, host_config)
    _references(engine(request), host_config)
    if version_of(request) < (1, 44) and len((networking or {}).get("EndpointsConfig") or {}) > 1:
        raise errors.InvalidArgument("Container cannot be created with multiple network endpoints")
    bindopts.for_client(host_config, version_of(request))  # read-only binds, NonRecursive by API version
    if version_of(request) < (1, 40) and not host_config.get("IpcMode"):
        host_config["IpcMode"] = "shareable"  # dockerd's default for older clients
    _image_reference(body.get("Image") or "")
    platform = request.query.get("platform")
    if platform and version_of(request) >= (1, 41):
        await _check_platform(request, body.get("Image") or "", validate.platform(platform))
    descriptor = await _manifest_descriptor(engine(request), body.get("Image") or "")
    c = await asyncio.shield(_create(engine(request), request.query.get("name", ""), body, host_config, networking,
                                     descriptor))
    return web.json_response({"Id": c.id, "Warnings": warnings}, status=201)


async def _create(eng: Any, name: str, config: dict[str, Any], host_config: dict[str, Any],
                  networking: dict[str, Any] | None, descriptor: dict[str, Any] | None) -> Container:
    c: Container = await eng.create(name, config, host_config, networking, descriptor)
    return c


def _link_names(eng: Any) -> dict[str, list[str]]:
    """dockerd's extra list ``Names``: ``/<linker>/<alias>`` for each legacy link to a container, by its ID."""
    out: dict[str, list[str]] = {}
    for linker in eng.containers.values():
        for link in linker.host_config.links or []:
            target, alias = split_link(link)
            try:
                out.setdefault(eng.get(target).id, []).append(f"{linker.name}/{alias}")
            except errors.NotFound:
                continue  # its target is gone
    return out


async def _manifest_descriptor(eng: Any, ref: str) -> dict[str, Any] | None:
    """The OCI descriptor of the platform manifest a create's image resolves to, with its platform."""
    if not ref:
        return None
    img = await eng.images.get(ref, all_names=False)
    platform = {k: v for k, v in (("architecture", img.config.get("architecture", "")),
                                  ("os", img.config.get("os", "")), ("variant", img.config.get("variant", ""))) if v}
    return {"mediaType": img.manifest.get("mediaType", ""), "digest": img.manifest_digest,
            "size": len(await eng.images.cd.read_blob(img.manifest_digest)), "platform": platform}


def _image_reference(ref: str) -> None:
    """An image named by something that is neither an ID (prefix) nor a valid reference is dockerd's
    400 "invalid reference format" (``busybox:sha256:<id>``), not a 404."""
    if not ref or re.fullmatch(r"(sha256:)?[0-9a-f]{1,64}", ref):
        return
    try:
        reference.parse(ref)
    except errors.InvalidArgument:
        raise errors.InvalidArgument("invalid reference format") from None


def _references(eng: Any, host: dict[str, Any]) -> None:
    """The containers a create names (legacy links on the default bridge, ``VolumesFrom``, PID and IPC
    donors) must exist: dockerd resolves them at create and answers a missing one with a 400."""
    def resolve(ref: str, prefix: str = "") -> None:
        try:
            eng.get(ref)
        except errors.NotFound as err:
            raise errors.InvalidArgument(f"{prefix}{err}") from None

    mode = host.get("NetworkMode") or "default"
    if mode in ("default", "bridge"):
        for link in host.get("Links") or []:
            target = link.split(":")[0].lstrip("/")
            resolve(target, f"could not get container for {target}: ")
    for ref in host.get("VolumesFrom") or []:
        resolve(ref.split(":")[0])
    for key in ("PidMode", "IpcMode"):
        mode = host.get(key) or ""
        if mode.startswith("container:"):
            resolve(mode.partition(":")[2])


async def _check_platform(request: web.Request, ref: str, want: tuple[str, str, str]) -> None:
    img = await engine(request).images.get(ref, all_names=False)
    have = (img.config.get("os") or "linux", img.config.get("architecture") or "", img.config.get("variant") or "")
    if have[0] != want[0] or have[1] != want[1] or (want[2] and have[2] != want[2]):
        shown = ["/".join(p for p in platform if p) for platform in (have, want)]
        raise errors.NotFound(f"image with reference {ref} was found but its platform ({shown[0]}) does not match "
                              f"the specified platform ({shown[1]})")


def _matches(c: Container, wanted: filters.Filters, eng: Any = None) -> bool:
    for key, values in wanted.items():
        if not values:
            continue
        if key == "id" and not any(c.id.startswith(v) for v in values):
            return False
        if key == "name" and not any(v.lstrip("/") in c.short_name for v in values):
            return False
        if key == "status" and c.state.status not in values:
            return False
        if key == "label":
            labels = c.config.labels or {}
            for v in values:
                k, _, val = v.partition("=")
                if k not in labels or (val and labels[k] != val):
                    return False
        if key == "exited" and (c.state.running or not c.state.ever_started or str(c.state.exit_code) not in values):
            return False
        if key not in _MATCHERS:
            continue
        if not _MATCHERS[key](c, values, eng):
            return False
    return True


def _ancestor(c: Container, values: list[str], eng: Any) -> bool:
    image = c.config.image
    return any(v in (image, c.image) or c.image.removeprefix("sha256:").startswith(v.removeprefix("sha256:"))
               or image == f"{v}:latest" for v in values)


def _network(c: Container, values: list[str], eng: Any) -> bool:
    nets = c.network_settings.networks
    ids = {n.get("NetworkID", "") for n in nets.values() if isinstance(n, dict)}
    return any(v in nets or any(i.startswith(v) for i in ids if i) for v in values)


def _volume(c: Container, values: list[str], eng: Any) -> bool:
    mounts = c.mounts or []
    return any(v in (m.get("Name"), m.get("Destination"), m.get("Source")) for m in mounts for v in values)


def _health(c: Container, values: list[str], eng: Any) -> bool:
    status = c.state.health_status or "none"
    return status in values


def _created_relative(before: bool) -> Any:
    def match(c: Container, values: list[str], eng: Any) -> bool:
        for v in values:
            other = eng.get(v) if eng is not None else None
            if other is None:
                continue
            if (c.created >= other.created) if before else (c.created <= other.created):
                return False
        return True
    return match


def _ports(published: bool) -> Any:
    def match(c: Container, values: list[str], eng: Any) -> bool:
        source = (c.host_config.port_bindings or {}) if published else (c.config.exposed_ports or {})
        keys = {k if "/" in k else f"{k}/tcp" for k in source}
        return any((v if "/" in v else f"{v}/tcp") in keys for v in values)
    return match


_MATCHERS = {
    "ancestor": _ancestor, "network": _network, "volume": _volume, "health": _health,
    "before": _created_relative(True), "since": _created_relative(False),
    "publish": _ports(True), "expose": _ports(False),
    "is-task": lambda c, values, eng: "true" not in values,
    "isolation": lambda c, values, eng: "default" in values or "" in values,
}


async def list_containers(request: web.Request) -> web.Response:
    eng = engine(request)
    limit = int(request.query.get("limit", "-1") or -1)
    show_all = qbool(request, "all") or limit > 0  # `docker ps -l` shows the last one, running or not
    wanted = filters.of(request, filters.CONTAINERS)
    cs = [c for c in eng.containers.values() if (show_all or c.state.running) and _matches(c, wanted, eng)]
    cs.sort(key=lambda c: c.created, reverse=True)
    if limit > 0:
        cs = cs[:limit]
    version = version_of(request)
    rows = [render.to_summary(c, eng, version) for c in cs]
    linked = _link_names(eng)
    for row in rows:
        row["Names"] = [*row["Names"], *linked.get(row["Id"], [])]
    if qbool(request, "size"):
        for row, (rw, rootfs) in zip(rows, await asyncio.gather(*(sizes(eng, c) for c in cs))):
            row["SizeRw"], row["SizeRootFs"] = rw, rootfs
    return web.json_response(rows)


async def sizes(eng: Any, c: Container) -> tuple[int, int]:
    """dockerd's ``?size=1``: (SizeRw, SizeRootFs): the usage of the container's writable layer
    (containerd's Snapshots.Usage of its snapshot), and that plus its image's layers; 0 for a
    part that is gone (a container being removed, an image deleted under a stopped container)."""
    try:
        rw = (await eng.cd.snapshots.Usage(pb.SnapshotKey(key=c.id))).size
    except errors.DockyardError:
        rw = 0
    try:
        image = (await eng.images.get(c.image, all_names=False)).size
    except errors.DockyardError:
        image = 0
    return rw, rw + image


async def inspect(request: web.Request) -> web.Response:
    eng = engine(request)
    c = eng.get(request.match_info["id"])
    return await _inspect(request, eng, c)


async def inspect_link(request: web.Request) -> web.Response:
    """``GET /containers/<linker>/<alias>/json``: the container a legacy link names, as dockerd resolves it."""
    eng = engine(request)
    parent, alias = eng.get(request.match_info["parent"]), request.match_info["alias"]
    for link in parent.host_config.links or []:
        target, link_alias = split_link(link)
        if link_alias == alias:
            return await _inspect(request, eng, eng.get(target))
    raise errors.NotFound(f"No such container: {request.match_info['parent']}/{alias}")


async def _inspect(request: web.Request, eng: Any, c: Container) -> web.Response:
    out = render.to_inspect(c, version_of(request))
    if qbool(request, "size"):
        out["SizeRw"], out["SizeRootFs"] = await sizes(eng, c)
    return web.json_response(out)


async def start(request: web.Request) -> web.Response:
    validate.checkpoint(request.query.get("checkpoint", ""))
    eng = engine(request)
    c = eng.get(request.match_info["id"])
    if c.state.running:
        return web.Response(status=304)
    await asyncio.shield(eng.start(c.id))
    return web.Response(status=204)


async def stop(request: web.Request) -> web.Response:
    t = request.query.get("t") or request.query.get("timeout")
    sig = request.query.get("signal") or None
    if sig:
        validate.signal_number(sig)
    # shielded: a client that gives up waiting does not cancel the stop (dockerd completes it)
    stopped = await asyncio.shield(engine(request).stop(request.match_info["id"], int(t) if t else None, sig))
    return web.Response(status=204 if stopped else 304)


async def restart(request: web.Request) -> web.Response:
    eng = engine(request)
    t = request.query.get("t")

    # completed even when the client cancels, as dockerd
    await asyncio.shield(eng.restart(request.match_info["id"], int(t) if t else None))
    return web.Response(status=204)


async def kill(request: web.Request) -> web.Response:
    sig = request.query.get("signal") or ""
    await engine(request).kill(request.match_info["id"], validate.signal_number(sig) if sig else "SIGKILL")
    return web.Response(status=204)


async def wait(request: web.Request) -> web.StreamResponse:
    eng = engine(request)
    c = eng.get(request.match_info["id"])
    condition = request.query.get("condition") or "not-running"
    if condition not in ("not-running", "next-exit", "removed"):
        raise errors.InvalidArgument(f"invalid condition: {condition!r}")
    waiter = asyncio.ensure_future(eng.wait(c.id, condition))
    await asyncio.sleep(0)  # register the waiter before the headers tell the client it may start
    # Headers go out at once: the docker CLI waits for them before it starts the container.
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    try:
        code = await waiter
        body: dict[str, Any] = {"StatusCode": code, "Error": None}
        err = c.state.error
        if err and condition != "removed":  # a removed container's start error was already reported
            body["Error"] = {"Message": err}
    except errors.DockyardError as err:
        body = {"StatusCode": -1, "Error": {"Message": str(err)}}
    try:
        await resp.write(json.dumps(body).encode() + b"\n")
        await resp.write_eof()
    except ConnectionResetError:
        pass  # the client stopped waiting
    return resp


# docker-py reads the 101 with a buffered HTTP parser, then switches to the raw socket: output that
# arrived in the same read as the headers is lost to it. dockerd's first bytes come later (log replay,
# process start); a hijacked stream whose first bytes are ready at once waits this long after the 101.
SETTLE = 0.02


# Clients known to read what follows the 101 from the buffer they parsed it with: no pause for them.
# Every other one pauses: docker-py is not always "docker-sdk-python/…" (testcontainers sends "tc-python/…").
UNBUFFERED_CLIENTS = ("Docker-Client/", "dockyard-cli", "Go-http-client/")


async def settle(request: web.Request) -> None:
    """The SETTLE pause, for docker-py (whatever its User-Agent): the docker CLI and ours read the 101
    unbuffered, and an exec or attach should not pay 20 ms for another client's parser."""
    if not request.headers.get("User-Agent", "").startswith(UNBUFFERED_CLIENTS):
        await asyncio.sleep(SETTLE)


class Hijacked(asyncio.Protocol):
    """Takes the connection over from aiohttp after the 101 response.

    The docker CLI half-closes its side once it has nothing to send; a plain
    HTTP server would then drop the connection, and the output still to come
    with it. Returning True from ``eof_received`` keeps our half open.
    """

    def __init__(self, original: asyncio.BaseProtocol) -> None:
        self.original = original
        self.input: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.lost = False
        self.closing = False
        self.detached = False
        self.wake: list[asyncio.Queue[Any]] = []  # output queues to end when the client goes or detaches

    def end(self) -> None:
        """Stop the output pump now: the client is gone or typed the detach keys."""
        for q in self.wake:
            q.put_nowait(None)

    def close(self, transport: asyncio.BaseTransport) -> None:
        self.closing = True
        transport.close()

    def data_received(self, data: bytes) -> None:
        self.input.put_nowait(data)

    def eof_received(self) -> bool:
        self.input.put_nowait(None)
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.input.put_nowait(None)
        self.end()
        self.original.connection_lost(exc)


async def hijack(request: web.Request, tty: bool) -> tuple[web.StreamResponse, Any, Hijacked | None]:
    """Answer 101 UPGRADED (or a plain 200 stream) and take the connection over from aiohttp."""
    upgrade = "upgrade" in request.headers.get("Connection", "").lower()
    ctype = "application/vnd.docker.raw-stream" if tty else "application/vnd.docker.multiplexed-stream"
    headers = {"Content-Type": ctype}
    if upgrade:
        headers.update({"Connection": "Upgrade", "Upgrade": "tcp"})
    resp = web.StreamResponse(status=101 if upgrade else 200, reason="UPGRADED" if upgrade else "OK",
                              headers=headers)
    resp.force_close()
    transport = request.transport
    if transport is None:
        await resp.prepare(request)
        return resp, None, None
    # Take the connection over before the 101 goes out: input the client sends right after
    # it must reach us, not aiohttp's parser.
    hijacked = Hijacked(transport.get_protocol())
    transport.set_protocol(hijacked)
    _keep_tls_half_open(transport, hijacked)
    await resp.prepare(request)
    return resp, transport, hijacked


def _keep_tls_half_open(transport: Any, hijacked: Hijacked) -> None:
    """The docker CLI half-closes a hijacked TLS connection (close_notify) and keeps reading; asyncio's
    SSL layer would shut the whole connection down on it. Defer that until we close it ourselves."""
    ssl_protocol = getattr(transport, "_ssl_protocol", None)
    if ssl_protocol is None or not hasattr(ssl_protocol, "_start_shutdown"):
        return
    original = ssl_protocol._start_shutdown

    def start_shutdown() -> None:
        if hijacked.closing or hijacked.lost:
            original()

    ssl_protocol._start_shutdown = start_shutdown


async def pump_out(transport: Any, hijacked: Hijacked, q: Any, tty: bool, want_out: bool, want_err: bool) -> None:
    hijacked.wake.append(q)
    while not hijacked.lost and not hijacked.detached:
        item = await q.get()
        if item is None:
            break
        stream, data = item
        if (stream == 1 and not want_out) or (stream == 2 and not want_err):
            continue
        transport.write(data if tty else frame(stream, data))


async def pump_in(hijacked: Hijacked, ready: Any, writer: Any, close_on_eof: bool,
                  scanner: Scanner | None = None) -> None:
    """Client input to the stdin FIFO; the client's half-close closes stdin (StdinOnce), output keeps flowing.
    With a TTY, the detach keys end the attach (``scanner``); the container keeps running."""
    await ready()
    w = writer()
    while True:
        data = await hijacked.input.get()
        if data is None:
            break
        if scanner is not None:
            data, detach = scanner.feed(data)
            if detach:
                if data and w is not None:
                    await w.write(data)
                hijacked.detached = True
                hijacked.end()
                return
        if w is not None and data:
            await w.write(data)
    if close_on_eof and w is not None:
        w.close()


async def attach(request: web.Request) -> web.StreamResponse:
    """Hijack the connection (101 UPGRADED, or a plain 200 stream) and stream the container's output."""
    eng = engine(request)
    c = eng.get(request.match_info["id"])
    live = eng.live_of(c.id)
    want_out, want_err = qbool(request, "stdout"), qbool(request, "stderr")
    tty = c.config.tty
    if request.query.get("detachKeys"):
        validate.detach_keys(request.query["detachKeys"])
    keys = detachkeys.parse(request.query.get("detachKeys") or detachkeys.DEFAULT)
    q = live.hub.subscribe() if qbool(request, "stream") else None
    resp, transport, hijacked = await hijack(request, tty)
    if transport is None or hijacked is None:
        if q is not None:
            live.hub.unsubscribe(q)
        return resp
    feeder = None
    if qbool(request, "stdin") and c.config.open_stdin:
        scanner = Scanner(keys) if tty else None
        feeder = asyncio.create_task(pump_in(hijacked, live.stdin_ready.wait, lambda: live.stdin,
                                             c.config.stdin_once, scanner))
    try:
        if qbool(request, "logs"):
            await settle(request)
            for stream, data, _ in read_container_log(c, engine(request), want_out, want_err, None):
                transport.write(data if tty else frame(stream, data))
        if q is not None and (c.state.running or c.state.status == "created"):
            await pump_out(transport, hijacked, q, tty, want_out, want_err)
    finally:
        if feeder is not None:
            feeder.cancel()
        if q is not None:
            live.hub.unsubscribe(q)
        hijacked.close(transport)
    return resp


async def logs(request: web.Request) -> web.StreamResponse:
    eng = engine(request)
    c = eng.get(request.match_info["id"])
    want_out, want_err = qbool(request, "stdout"), qbool(request, "stderr")
    if not (want_out or want_err):
        raise errors.InvalidArgument("You must choose at least one stream")
    tail_q = request.query.get("tail", "all")
    tail = None if tail_q in ("all", "") else int(tail_q)
    since = float(request.query.get("since") or 0)
    until = float(request.query.get("until") or 0)
    tty = c.config.tty
    resp = web.StreamResponse(status=200, headers={
        "Content-Type": "application/vnd.docker.raw-stream" if tty else "application/vnd.docker.multiplexed-stream"})
    stamps = qbool(request, "timestamps")
    eng.live_of(c.id).hub.catch_up()  # what the container wrote before this request is in the log (not the queue)
    q = eng.live_of(c.id).hub.subscribe(lines=True) if qbool(request, "follow") and c.state.running else None
    try:  # read before the stream starts: a driver that cannot read is an error status, as dockerd's
        entries = read_container_log(c, eng, want_out, want_err, tail, since, until)
    except errors.DockyardError:
        if q is not None:
            eng.live_of(c.id).hub.unsubscribe(q)
        raise
    await resp.prepare(request)
    try:
        batch = bytearray()
        for stream, data, t in entries:
            if stamps:
                data = t.encode() + b" " + data
            batch += data if tty else frame(stream, data)
            if len(batch) >= 1 << 20:  # one write per MiB, not per line
                await resp.write(bytes(batch))
                batch.clear()
        if batch:
            await resp.write(bytes(batch))
        while q is not None:
            item = await q.get()
            if item is None:
                break
            stream, data = item
            if (stream == 1 and want_out) or (stream == 2 and want_err):
                if stamps:
                    data = rfc3339_nano().encode() + b" " + data
                await resp.write(data if tty else frame(stream, data))
    finally:
        if q is not None:
            eng.live_of(c.id).hub.unsubscribe(q)
    await resp.write_eof()
    return resp


async def delete(request: web.Request) -> web.Response:
    await asyncio.shield(engine(request).remove(request.match_info["id"], force=qbool(request, "force"),
                                                    volumes=qbool(request, "v")))
    return web.Response(status=204)


async def delete_link(request: web.Request) -> web.Response:
    """``DELETE /containers/<parent>/<alias>?link=1`` (docker rm --link): drop a legacy link, keep both containers."""
    if not qbool(request, "link"):
        raise errors.NotFound(f"No such container: {request.match_info['parent']}/{request.match_info['alias']}")
    engine(request).remove_link(request.match_info["parent"], request.match_info["alias"])
    return web.Response(status=204)


def register(app: web.Application) -> None:
    add(app, "POST", "/containers/create", create)
    add(app, "GET", "/containers/json", list_containers)
    add(app, "GET", "/containers/{id}/json", inspect)
    add(app, "POST", "/containers/{id}/start", start)
    add(app, "POST", "/containers/{id}/stop", stop)
    add(app, "POST", "/containers/{id}/restart", restart)
    add(app, "POST", "/containers/{id}/kill", kill)
    add(app, "POST", "/containers/{id}/wait", wait)
    add(app, "POST", "/containers/{id}/attach", attach)
    add(app, "GET", "/containers/{id}/logs", logs)
    add(app, "DELETE", "/containers/{id}", delete)
    add(app, "DELETE", "/containers/{parent}/{alias}", delete_link)
    add(app, "GET", "/containers/{parent}/{alias}/json", inspect_link)
    containers_ops.register(app)
