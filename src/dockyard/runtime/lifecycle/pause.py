"""``pause``/``resume``: freeze or thaw the container's cgroup."""

from __future__ import annotations

from ..container import State, WrongStatus


def pause(root: str, container_id: str) -> None:
    state = State.load(root, container_id)
    status = state.status(root)
    if not status.can_pause():
        raise WrongStatus(f"container not running or created: {status.value}")
    _manager(state).freeze(True)


def resume(root: str, container_id: str) -> None:
    state = State.load(root, container_id)
    status = state.status(root)
    if not status.can_resume():
        raise WrongStatus(f"container not paused: {status.value}")
    _manager(state).freeze(False)


def _manager(state: State):  # type: ignore[no-untyped-def]
    from ..cgroups.detect import manager_from_paths

    return manager_from_paths(state.cgroup_paths, state.cgroup_version)
