"""``events``: stats snapshots and OOM notifications as JSON lines, in runc's shapes.

``{"type": "stats", "id": ..., "data": {...}}`` every interval (or once with
``--stats``) and ``{"type": "oom", "id": ...}`` whenever the cgroup's OOM-kill
counter grows (polled: v1 ``memory.oom_control``, v2 ``memory.events``).  The
stream ends when the container stops.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

from ..cgroups import stats as cgstats
from ..container import ContainerStatus, State, WrongStatus

OOM_POLL = 0.1


def stats_event(root: str, container_id: str) -> dict[str, Any]:
    state = State.load(root, container_id)
    if state.status(root) is ContainerStatus.STOPPED:
        raise WrongStatus(f"container {container_id} is not running")
    return {"type": "stats", "id": container_id, "data": cgstats.stats(state.cgroup_paths, state.cgroup_version)}


def oom_killed(root: str, container_id: str) -> bool:
    """True once the kernel OOM-killed a process of the container (valid until ``delete``)."""
    state = State.load(root, container_id)
    return cgstats.oom_kills(state.cgroup_paths, state.cgroup_version) > 0


def stream(root: str, container_id: str, interval: float,
           clock: Callable[[], float] = time.monotonic) -> Iterator[dict[str, Any]]:
    state = State.load(root, container_id)
    seen = cgstats.oom_kills(state.cgroup_paths, state.cgroup_version)
    next_stats = clock()
    while True:
        status = state.status(root)
        count = cgstats.oom_kills(state.cgroup_paths, state.cgroup_version)
        if count > seen:
            seen = count
            yield {"type": "oom", "id": container_id}
        if status is ContainerStatus.STOPPED:
            return
        if clock() >= next_stats:
            yield {"type": "stats", "id": container_id,
                   "data": cgstats.stats(state.cgroup_paths, state.cgroup_version)}
            next_stats = clock() + interval
        time.sleep(min(OOM_POLL, interval))


def dumps(event: dict[str, Any]) -> str:
    """One compact line, as runc's encoder writes it (tools match ``{"type":"stats","id":...``).

    Without the memory ``oom_kill`` counter the in-process shim reads: runc's stats have none,
    and tools watching for ``oom`` (runc's own tests: ``grep oom``) must see only oom events."""
    memory = (event.get("data") or {}).get("memory")
    if event.get("type") == "stats" and memory and "oom_kill" in memory:
        event = {**event, "data": {**event["data"], "memory": {k: v for k, v in memory.items() if k != "oom_kill"}}}
    return json.dumps(event, separators=(",", ":"))
