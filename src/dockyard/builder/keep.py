"""The classic builder's intermediate containers: what ``rm`` and ``forcerm`` keep.

dockerd runs each RUN in a container and, when the step is over, removes it with ``forcerm``, or with
``rm`` (the default) when the step succeeded; otherwise the container stays, exited with the step's
exit code, listed by ``docker ps -a`` and removed with ``docker rm``. Here a RUN runs as a containerd
task; a step whose container is to stay gets an engine container of the same ID afterwards: the step's
command and environment; its image and filesystem the step's result when it succeeded (``commit`` of it
gives that), the state the step started from when it failed (a failed step's change is not kept).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from dockyard.api import pb
from dockyard.builder.state import BuildOptions, State

if TYPE_CHECKING:
    from dockyard.builder.executor import Builder


def kept(opts: BuildOptions, succeeded: bool) -> bool:
    """dockerd's dispatch: ``forcerm`` removes always, ``rm`` after a step that succeeded."""
    if opts.force_remove:
        return False
    return not (opts.remove and succeeded)


async def keep(builder: Builder, id: str, state: State, fs: State, argv: list[str], env: list[str],
               code: int) -> None:
    """An exited engine container ``id`` for the RUN of ``argv`` on ``state`` that exited with ``code``;
    its image and filesystem are ``fs`` (a snapshot on its chain): ``commit`` gives the step's result. Its
    network is ``none``: the step's network namespace is gone with the step."""
    from dockyard.engine import container, names
    from dockyard.engine import spec as specs

    eng = builder.engine
    if not hasattr(eng, "containers") or not hasattr(eng, "store"):
        return  # a builder without an engine (the tests' stand-ins): nothing to list
    cfg = state.cfg
    config = {"Cmd": argv, "Entrypoint": None, "Env": env, "WorkingDir": cfg.get("WorkingDir") or "",
              "User": cfg.get("User") or "", "Image": fs.id, "Labels": dict(cfg.get("Labels") or {})}
    host = {"NetworkMode": "none"}
    spec = specs.build(id, config, host, {}, getattr(eng, "cgroup_parent", "dockyard"))
    parent = await builder.ensure_snapshot(fs)
    await builder.cd.snapshots.Prepare(pb.PrepareSnapshotRequest(key=id, parent=parent))
    await builder.cd.containers.Create(pb.Container(
        id=id, image=fs.id, snapshotter="overlayfs", snapshot_key=id, spec=json.dumps(spec).encode(),
        runtime="dockyard-runc"))
    c = container.Container.new(
        id, names.generate({k.short_name for k in eng.containers.values()}), spec["process"]["args"], fs.id,
        container.created_config(config, {}, spec, []),
        container.created_host_config(host, {"Type": "json-file", "Config": {}}),
        str(eng.data_root / "containers" / id / f"{id}-json.log"))
    c.state.started(0)
    c.state.exited(code)
    (eng.data_root / "containers" / id).mkdir(parents=True, exist_ok=True)
    eng.store.insert(c)
    eng.containers[id] = c
    emit: Any = getattr(eng, "emit", None)
    if emit is not None:
        emit(c, "create")
