"""``kill``: signal init, or with ``--all`` every process of the container's cgroup."""

from __future__ import annotations

import _signal  # signal.py imports enum (~7 ms); the C module has the numbers
import os

from dockyard.errors import InvalidArgument

from ..container import State, WrongStatus


def parse_signal(value: str | int, allow_zero: bool = False) -> int:
    """Accept 9, "9", "KILL", "SIGKILL", "sigkill" (runc's ParseSignal); 0 (a liveness probe,
    which runc's ``kill`` takes) only when asked for."""
    if isinstance(value, int):
        sig = value
    else:
        s = value.strip()
        if s.isdigit():
            sig = int(s)
        else:
            name = s.upper()
            if not name.startswith("SIG"):
                name = "SIG" + name
            try:
                if not name.startswith("SIG_") and isinstance(getattr(_signal, name, None), int):
                    sig = int(getattr(_signal, name))
                else:
                    raise AttributeError(name)
            except AttributeError as err:
                if name.startswith("SIGRTMIN+") or name.startswith("SIGRTMAX-"):
                    base = _signal.SIGRTMIN if name.startswith("SIGRTMIN") else _signal.SIGRTMAX
                    off = int(name[9:])
                    sig = base + off if name.startswith("SIGRTMIN") else base - off
                else:
                    raise InvalidArgument(f"unknown signal {value!r}") from err
    if not (0 if allow_zero else 1) <= sig <= int(_signal.SIGRTMAX):
        raise InvalidArgument(f"invalid signal number {sig}")
    return sig


def kill(root: str, container_id: str, sig: int, *, all_processes: bool = False) -> None:
    state = State.load(root, container_id)
    status = state.status(root)
    if not all_processes and not status.can_kill():
        raise WrongStatus("container not running")
    if all_processes:
        from ..cgroups.detect import manager_from_paths

        mgr = manager_from_paths(state.cgroup_paths, state.cgroup_version)
        paused = status.value == "paused"
        mgr.kill_all(sig)  # v2: cgroup.kill for SIGKILL (no fork escapes); else every task
        if paused and sig == _signal.SIGKILL:
            mgr.freeze(False)  # frozen tasks only die once thawed
        return
    try:
        os.kill(state.pid, sig)
    except ProcessLookupError as err:
        raise WrongStatus("container not running") from err
