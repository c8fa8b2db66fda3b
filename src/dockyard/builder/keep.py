"""The classic builder's intermediate containers: what ``rm`` and ``forcerm`` keep.

dockerd runs each RUN in a container and, when the step is over, removes it with ``forcerm``, or with
``rm`` (the default) when the step succeeded; otherwise the container stays, exited with the step's
exit code, listed by ``docker ps -a`` and removed with ``docker rm``. Here a RUN runs as a containerd
task; a step whose container is to stay gets an engine container of the same ID afterwards: the step's
command and environment; its image and filesystem the step's result when it succeeded (``commit`` of it
gives that), the state the step started from when it failed (a failed step's change is not kept).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dockyard.builder.state import BuildOptions, State

if TYPE_CHECKING:
    from dockyard.builder.executor import Builder


def kept(opts: BuildOptions, succeeded: bool) -> bool:
    """dockerd's dispatch: ``forcerm`` removes always, ``rm`` after a step that succeeded."""
    if opts.force_remove:
        return False
    return not (opts.remove and succeeded)


async def keep(builder: Builder, id: str, state: State, fs: State, argv: list[str], env: list[str],
               code: int, resources: dict[str, Any] | None = None) -> None:
    """An exited engine container ``id`` for the RUN of ``argv`` on ``state`` that exited with ``code``;
    its image and filesystem are ``fs`` (a snapshot on its chain): ``commit`` gives the step's result. Its
    HostConfig has the build's ``resources`` (memory, CPU, ulimits ...), as dockerd's; its network is
    ``none``: the step's network namespace is gone with the step."""
    cfg = state.cfg
    config = {"Cmd": argv, "Entrypoint": None, "Env": env, "WorkingDir": cfg.get("WorkingDir") or "",
              "User": cfg.get("User") or "", "Image": fs.id, "Labels": dict(cfg.get("Labels") or {})}
    await builder.engine.record_exited(id, config, await builder.ensure_snapshot(fs), code, resources or {})
