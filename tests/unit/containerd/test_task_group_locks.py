"""The tasks of a shim group join its shim one at a time; the group's lock lives only while used."""

from __future__ import annotations

import asyncio
from pathlib import Path

from dockyard.containerd.tasks.manager import TaskManager


def test_a_group_lock_is_exclusive_and_dropped_with_its_last_user(tmp_path: Path) -> None:
    tm = TaskManager(tmp_path / "state", tmp_path / "runtime")
    inside: list[int] = []
    most = 0

    async def join(n: int) -> None:
        nonlocal most
        async with tm._group_lock("default", "pod-1"):
            inside.append(n)
            most = max(most, len(inside))
            await asyncio.sleep(0.01)
            inside.remove(n)

    async def main() -> None:
        await asyncio.gather(*(join(n) for n in range(5)))

    asyncio.run(main())
    assert most == 1
    assert tm._group_locks == {}
