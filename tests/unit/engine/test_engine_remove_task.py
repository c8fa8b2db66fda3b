"""A removal deletes the container's task only when the monitor did not at the exit (engine/daemon.py):
one ``Tasks.Delete`` per exit, a second only after containerd failed the first."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from dockyard import errors
from dockyard.engine.container import Container, Live
from dockyard.engine.daemon import Engine


class _Tasks:
    def __init__(self, fail_first: bool) -> None:
        self.deletes = 0
        self.fail_first = fail_first

    async def Delete(self, req: Any) -> None:
        self.deletes += 1
        if self.fail_first and self.deletes == 1:
            raise errors.Unavailable("containerd is away")


async def _nothing(*args: Any, **kwargs: Any) -> None:
    return None


def _engine(tasks: _Tasks) -> tuple[Engine, Container, Live]:
    eng = object.__new__(Engine)
    c = Container({"Id": "a" * 64, "Name": "/x", "Config": {}, "HostConfig": {}, "RestartCount": 0})
    c.state.started(42)
    live = Live()
    eng.cd = SimpleNamespace(tasks=tasks)  # type: ignore[assignment]
    eng.containers = {c.id: c}
    eng.store = SimpleNamespace(delete=lambda id: None)  # type: ignore[assignment]
    eng.networks = SimpleNamespace(detach=_nothing)  # type: ignore[assignment]
    eng.volumes = SimpleNamespace(release=lambda c, volumes: None)  # type: ignore[assignment]
    eng.shutting_down = False
    eng.save = lambda c: None  # type: ignore[method-assign]
    eng.emit = lambda c, action, **extra: None  # type: ignore[method-assign]
    eng.remove_resources = _nothing  # type: ignore[method-assign]
    eng._announce_removed = lambda c: None  # type: ignore[method-assign]
    return eng, c, live


@pytest.mark.parametrize(("fail_first", "deletes"), [(False, 1), (True, 2)])
def test_removal_after_the_exit_deletes_the_task_once(fail_first: bool, deletes: int) -> None:
    tasks = _Tasks(fail_first)
    eng, c, live = _engine(tasks)

    async def exit_then_remove() -> None:
        async with live.lock:  # the monitor records the exit
            await eng._exited(c, live, 0, 0)
        await eng._remove(c, live, force=False, volumes=False)

    asyncio.run(exit_then_remove())
    assert tasks.deletes == deletes
    assert c.id not in eng.containers
