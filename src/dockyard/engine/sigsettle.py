"""A signal sent just after a container started waits, briefly, for its program to catch it.

The kernel drops a signal that PID 1 of a PID namespace leaves at its default action. A program
installs its handlers a few milliseconds after its exec (busybox ``top``: 1-5 ms here), and a
``kill`` right after ``start`` can arrive first: the signal is lost and the container runs on
(moby's TestKillWithStopSignalAndRestartPolicies). dockerd's kill goes through a ``runc kill``
process, slow enough that the program is ready; ours reaches the process in about as much time as
the program needs. So within ``WINDOW`` seconds of the start, a signal the process neither
catches nor ignores yet is held until it does or the window ends, then sent either way (as it
would have been dropped, waiting loses nothing). SIGKILL and SIGSTOP are never held.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Mapping
from typing import Any

from dockyard.timefmt import parse_rfc3339

WINDOW = 0.1
_POLL = 0.002


def _handled(pid: int, signo: int) -> bool:
    """Does ``pid`` catch or ignore ``signo`` (its SigCgt/SigIgn masks)? True when unreadable."""
    try:
        with open(f"/proc/{pid}/status") as f:
            masks = {k: v.strip() for k, _, v in (line.partition(":") for line in f) if k in ("SigCgt", "SigIgn")}
    except OSError:
        return True
    bit = 1 << (signo - 1)
    return any(int(masks.get(k) or "0", 16) & bit for k in ("SigCgt", "SigIgn"))


def _since_start(state: Mapping[str, Any]) -> float:
    try:
        return time.time() - parse_rfc3339(state.get("StartedAt") or "")
    except (ValueError, TypeError):
        return float("inf")


async def settle(state: Mapping[str, Any], signo: int, window: float = WINDOW) -> None:
    """Before sending ``signo`` to the container whose ``State`` this is (see the module's text)."""
    pid = int(state.get("Pid") or 0)
    if pid <= 0 or signo in (signal.SIGKILL, signal.SIGSTOP):
        return
    left = window - _since_start(state)
    while left > 0 and not _handled(pid, signo):
        await asyncio.sleep(_POLL)
        left -= _POLL
