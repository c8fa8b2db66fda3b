"""RUN: the command runs as a container through containerd (a snapshot on the state's chain, a
task, its exit) and its change becomes the next layer through Diff.CreateLayer, the same path
as ``commit``; ``--mount`` (bind, cache, tmpfs, secret) and ``--network`` as BuildKit takes them."""

from __future__ import annotations

import asyncio
import functools
import json
import posixpath
import shutil
from collections.abc import Awaitable, Callable
from secrets import token_hex
from typing import TYPE_CHECKING, Any

from dockyard import errors
from dockyard.api import pb
from dockyard.builder import instructions as ins
from dockyard.builder import keep
from dockyard.builder import mounts as run_mounts
from dockyard.builder.context import FileTree
from dockyard.builder.layers import tree_digest
from dockyard.builder.mounts import parse_mount
from dockyard.builder.state import DEFAULT_SHELL, LAYER_COMPRESSION, BuildFailed, State, df_name
from dockyard.builder.steps import from_
from dockyard.engine import spec as specs
from dockyard.engine import validate
from dockyard.engine.archive import MANAGED_FILES
from dockyard.engine.container import Container
from dockyard.engine.streams import cancel_unawaited, gather_unawaited, open_fifo

if TYPE_CHECKING:
    from dockyard.builder.build import Build
    from dockyard.builder.executor import Builder
    from dockyard.engine.streams import OutputFifo

STDERR_START, STDERR_END = "\x1b[91m", "\x1b[0m"  # dockerd's stderr writer, around each write


async def run(b: Build, state: State, inst: ins.Run, env: dict[str, str], args: dict[str, str]) -> State:
    """RUN: the command in a container on the state's snapshot; its change is the next layer."""
    line = inst.line
    mounts = []
    for raw in inst.flags.get("mount") or []:
        try:
            mounts.append(parse_mount(b.x(raw, env, line)))
        except (errors.InvalidArgument, ValueError) as err:
            raise BuildFailed(f"{df_name(b.opts)}:{line}: --mount={raw}: {err}") from None
    flag = inst.flags.get("network") or "default"
    if flag not in ("default", "none", "host"):
        raise BuildFailed(f"{df_name(b.opts)}:{line}: --network={flag}: expected none, host or default")
    network = flag if flag != "default" else b.opts.network_mode
    sources: dict[int, tuple[FileTree, str]] = {}
    mount_keys = []
    for i, m in enumerate(mounts):
        k = m.key()
        if m.type == "bind":
            if m.from_:
                st = b.df.stage(m.from_)
                tree = await b.builder.tree_of(await b.results[st.index] if st is not None
                                               else await from_.base_image(b, m.from_))
            else:
                tree = b.ctx
            if not tree.exists(m.source):
                raise BuildFailed(f"{df_name(b.opts)}:{line}: --mount: source {m.source or '/'} not found")
            sources[i] = (tree, m.source)
            k += "," + tree_digest(tree, m.source)
        mount_keys.append(k)
    shell = list(state.cfg.get("Shell") or DEFAULT_SHELL)
    if inst.heredocs and inst.shell_form:
        doc = inst.heredocs[0]
        body = doc.content  # the shell itself expands it, as BuildKit does for RUN heredocs
        argv = shell + [inst.cmd[0].split("<<", 1)[0] + "<<'" + doc.name + "'\n" + body + doc.name] \
            if inst.cmd[0].split("<<", 1)[0].strip() else shell + [body]
    else:
        argv = shell + inst.cmd if inst.shell_form else list(inst.cmd)
    image_env = list(state.cfg.get("Env") or [])
    declared = {k for k in args if not any(e.startswith(k + "=") for e in image_env)}
    arg_env = [f"{k}={args[k]}" for k in sorted(declared)]
    run_env = arg_env + image_env
    created_by = ("|" + str(len(arg_env)) + " " + " ".join(arg_env) + " " if arg_env else "") + \
        " ".join(argv)

    ran: dict[str, str] = {}

    async def make() -> State:
        key, code, made = await run_container(b.builder, state, argv, run_env, b.emit, network=network,
                                                     mounts=mounts, sources=sources, secrets=b.secrets,
                                                     then=functools.partial(commit_snapshot, b.builder),
                                                     extra_hosts=b.opts.extra_hosts, resources=b.opts.resources)
        ran["id"] = key.removeprefix("build-")
        if not keep.kept(b.opts, code == 0):
            b.emit(f" ---> Removed intermediate container {ran['id'][:12]}\n")
        try:
            if code != 0:
                if keep.kept(b.opts, False):
                    await keep.keep(b.builder, ran["id"], state, state, argv, run_env, code, b.opts.resources)
                raise BuildFailed(f"The command '{' '.join(argv)}' returned a non-zero code: {code}", code)
            layer, diff_id = made
        except BaseException:
            await b.builder.drop(key)
            raise
        new = b.next(state, created_by, False)
        new.layers.append(layer)
        new.config.setdefault("rootfs", {"type": "layers", "diff_ids": []})["diff_ids"].append(diff_id)
        chain = new.chain_id
        if mounts:  # the snapshot holds the mount points its layer leaves out: the chain is the layer's
            b.builder.behind(b.builder.drop(key))
            await b.builder.cd.apply_layer(layer, diff_id, state.chain_id)
            return new
        try:
            await b.builder.cd.snapshots.Commit(pb.CommitSnapshotRequest(name=chain, key=key))
        except errors.AlreadyExists:
            b.builder.behind(b.builder.drop(key))  # the same change was made before: nothing waits for the removal
        except errors.DockyardError:
            await b.builder.drop(key)
        return new

    async def make_and_keep() -> State:
        new = await make()
        if keep.kept(b.opts, True):  # rm=false: the step's container stays (keep.py)
            await keep.keep(b.builder, ran["id"], state, new, argv, run_env, 0, b.opts.resources)
        return new

    key = ["run", json.dumps(argv), json.dumps(run_env)]
    if mounts or flag != "default":
        key += [f"network={flag}", *mount_keys]
    return await b.cached(state, key, make_and_keep, created_by=created_by)


async def run_container(builder: Builder, state: State, argv: list[str], env: list[str], emit: Callable[[str], None],
                        network: str = "", mounts: list[Any] | None = None,
                        sources: dict[int, tuple[FileTree, str]] | None = None,
                        secrets: dict[str, bytes] | None = None,
                        then: Callable[[str, frozenset[str]], Awaitable[Any]] | None = None,
                        extra_hosts: list[str] | None = None,
                        resources: dict[str, Any] | None = None) -> tuple[str, int, Any]:
    """Run ``argv`` on the state's filesystem; returns (snapshot key, exit code, what ``then``
    made). ``then(key, stubs)`` (committing the change without the mount points, ``mount_stubs``)
    runs once the command exited with 0, while the task and the container record are deleted: it
    reads only the snapshot's upper dir.

    ``network``: a container's ``NetworkMode``, as the classic builder gives its RUN
    containers. ``""``/``default``/``bridge``: the daemon's default bridge (a namespace of its
    own when the daemon has no bridge); ``none``: an empty network namespace; ``host``: the
    host's; ``container:<id>``; or a user network's name or ID (its DNS included).
    ``extra_hosts``: ``host:ip`` lines for its /etc/hosts; ``resources``: its HostConfig resources."""
    validate.container_create({}, dict(resources or {}))  # as dockerd's create of the step's container: in-stream
    id = token_hex(32)
    emit(f" ---> Running in {id[:12]}\n")
    parent = await builder.ensure_snapshot(state)
    key = f"build-{id}"
    cfg = state.cfg
    config = {"Cmd": argv, "Entrypoint": [], "Env": env, "WorkingDir": cfg.get("WorkingDir") or "/",
              "User": cfg.get("User") or ""}
    networks = getattr(builder.engine, "networks", None)
    mode = network or "default"
    if mode in ("default", "bridge"):
        mode = "bridge" if networks is not None and networks.default_enabled else "none"
    host = {**(resources or {}), "NetworkMode": mode, "ExtraHosts": list(extra_hosts or [])}
    spec = specs.build(id, config, host, {}, getattr(builder.engine, "cgroup_parent", "dockyard"))
    net: Container | None = None
    attached = False
    net_dir = builder.engine.exec_root / "builder" / "net" / id
    prepared = None
    try:
        if networks is not None:
            # a record shaped like a container's, so the network manager can give it an endpoint,
            # /etc/hosts, resolv.conf and hostname; its layer leaves those files out (MANAGED_FILES)
            net = Container({"Id": id, "Name": f"/build-{id[:12]}", "Config": {}, "HostConfig": host,
                             "NetworkSettings": {"Bridge": "", "SandboxID": "", "Ports": {}, "Networks": {}}})
            net_dir.mkdir(parents=True, exist_ok=True)
            networks.prepare(net, spec, None, net_dir, {})
            if net.network_settings.sandbox_key:
                await networks.attach(net)
                attached = True
        if mounts:
            prepared = await run_mounts.prepare(
                mounts, builder.cache_dirs, builder.engine.data_root / "builder" / "tmp" / id,
                builder.engine.exec_root / "builder" / "secrets" / id, secrets or {}, sources or {})
            spec["mounts"] += prepared.spec
        return await _run_task(builder, id, key, parent, state, spec, emit, then)
    finally:
        if prepared is not None:
            prepared.release(builder.cache_dirs)
            shutil.rmtree(builder.engine.data_root / "builder" / "tmp" / id, ignore_errors=True)
        if attached and networks is not None:
            await networks.detach(net)
        if net is not None:
            shutil.rmtree(net_dir, ignore_errors=True)


async def _run_task(builder: Builder, id: str, key: str, parent: str, state: State, spec: dict[str, Any],
                    emit: Callable[[str], None], then: Callable[[str, frozenset[str]], Awaitable[Any]] | None = None
                    ) -> tuple[str, int, Any]:
    await builder.cd.snapshots.Prepare(pb.PrepareSnapshotRequest(key=key, parent=parent))
    fifo_dir = builder.engine.exec_root / "containers" / id
    fifo_dir.mkdir(parents=True, exist_ok=True)
    created = False
    follow: asyncio.Future[Any] | None = None
    try:
        await builder.cd.containers.Create(pb.Container(
            id=id, image=state.id, snapshotter="overlayfs", snapshot_key=key, spec=json.dumps(spec).encode(),
            runtime="dockyard-runc"))
        created = True
        fds = [open_fifo(fifo_dir / "stdout"), open_fifo(fifo_dir / "stderr")]

        async def pump(fifo: OutputFifo, start: str = "", end: str = "") -> None:
            async for data in fifo.chunks():
                emit(start + data.decode("utf-8", errors="replace") + end)

        pumps = gather_unawaited(pump(fds[0]), pump(fds[1], STDERR_START, STDERR_END))
        try:
            mounts = await builder.cd.snapshots.Mounts(pb.SnapshotKey(key=key))
            await builder.cd.tasks.Create(pb.CreateTaskRequest(
                container_id=id, rootfs=list(mounts.mounts), stdout=str(fifo_dir / "stdout"),
                stderr=str(fifo_dir / "stderr"), terminal=False, start=True,
                scratch=True))  # committed after the step, only ever a lower again
            try:
                status = await builder.cd.tasks.Wait(pb.TaskRequest(container_id=id))
                code = int(status.exit_status)
                if then is not None and code == 0:
                    follow = asyncio.ensure_future(then(key, mount_stubs(spec["mounts"])))
            finally:
                await builder.cd.tasks.Delete(pb.TaskRequest(container_id=id))
            await asyncio.wait_for(asyncio.shield(pumps), timeout=5)
        except BaseException:
            cancel_unawaited(pumps)
            for fifo in fds:  # a pump cancelled before it ran never closes its FIFO
                fifo.close()
            raise
    except BaseException:
        if follow is not None:
            follow.cancel()
            await asyncio.gather(follow, return_exceptions=True)
        await builder.drop(key)
        raise
    finally:
        if created:
            try:
                await builder.cd.containers.Delete(pb.DeleteContainerRequest(id=id))
            except errors.DockyardError:
                pass  # the container record is bookkeeping only; the snapshot is what matters
        for p in (fifo_dir / "stdout", fifo_dir / "stderr"):
            p.unlink(missing_ok=True)
        try:
            fifo_dir.rmdir()
        except OSError:
            pass
    try:
        made = await follow if follow is not None else None
    except BaseException:
        await builder.drop(key)
        raise
    return key, code, made


def mount_stubs(mounts: list[dict[str, Any]]) -> frozenset[str]:
    """What a step's layer leaves out: the engine-managed /etc files, and each mount's destination
    with its parent directories, which the runtime makes when missing (Diff.CreateLayer drops such
    a directory only when nothing else is under it). BuildKit removes its mount stubs after the
    step, dockerd keeps them in the container's init layer: neither reaches the image."""
    out = set(MANAGED_FILES)
    for m in mounts:
        path = posixpath.normpath(posixpath.join("/", str(m["destination"])))
        while path != "/":
            out.add(path)
            path = posixpath.dirname(path)
    return frozenset(out)


async def commit_snapshot(builder: Builder, key: str, exclude: frozenset[str]) -> tuple[dict[str, Any], str]:
    """The snapshot's change as a layer (Diff.CreateLayer) without ``exclude``, then the snapshot
    committed under its chain."""
    resp = await builder.cd.create_layer(key, LAYER_COMPRESSION, exclude=exclude, behind=True)
    layer = {"mediaType": resp.layer.media_type, "digest": resp.layer.digest, "size": resp.layer.size}
    return layer, resp.diff_id
