"""``delete``: tear down a stopped (or, with --force, any) container, then poststop hooks."""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..cgroups.base import CgroupManager
from ..container import ContainerNotFound, ContainerStatus, State, WrongStatus, remove_state_dir


def delete(root: str, container_id: str, *, force: bool = False) -> None:
    try:
        state = State.load(root, container_id)
    except ContainerNotFound:
        if force:
            return
        raise
    status = state.status(root)
    if not status.can_delete() and not force:
        raise WrongStatus(f"cannot delete container {container_id} that is not stopped: {status.value}")
    from ..cgroups.detect import manager_from_paths

    mgr = manager_from_paths(state.cgroup_paths, state.cgroup_version)
    if status is not ContainerStatus.STOPPED:
        # a created container is killed too (runc does so); --force kills whatever runs
        _kill_all(state, mgr)
    elif mgr.pids():
        _kill_all(state, mgr)
    try:
        mgr.remove()
    except OSError:
        if not force:
            raise
    remove_state_dir(State.dir_for(root, container_id))
    hooks = state.config_hooks.get("poststop")
    if hooks:
        from ..hooks import run_hooks

        try:
            run_hooks("poststop", hooks, {**state.oci_state(root), "status": "stopped"})
        except Exception:  # noqa: BLE001 - spec: poststop failures are logged only
            import logging

            logging.getLogger("dockyard.runtime").warning("poststop hook failed", exc_info=True)


SIGKILL = 9  # the signal module imports enum: ~7 ms for one constant


def _kill_all(state: State, mgr: CgroupManager) -> None:
    """SIGKILL init and the cgroup (thawed first: frozen tasks die only once thawed), wait until empty."""
    if state.init_alive():
        try:
            os.kill(state.pid, SIGKILL)
        except ProcessLookupError:
            pass
    try:
        mgr.freeze(False)
    except OSError:
        pass
    for _ in range(20):  # a fork racing the kill on v1 can add a task: go again
        mgr.kill_all(SIGKILL)
        _reap(state.pid)
        if mgr.wait_empty(0.1) and not state.init_alive():
            return
        _reap(state.pid)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
