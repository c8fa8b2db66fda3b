"""A signal sent just after a task started waits, briefly, for its program to catch it.

The kernel drops a signal that PID 1 of a PID namespace leaves at its default action. A program
installs its handlers a few milliseconds after its exec (busybox ``top``: 1-5 ms here), and a
``kill`` right after ``start`` can arrive first: the signal is lost and the container runs on
(moby's TestKillWithStopSignalAndRestartPolicies). dockerd's kill goes through a ``runc kill``
process, slow enough that the program is ready; ours reaches the process in about as much time as
the program needs. So within ``WINDOW`` seconds of the start, the shim holds a signal init neither
catches nor ignores yet until it does or the window ends, then sends it either way (as it would
have been dropped, waiting loses nothing). SIGKILL and SIGSTOP are never held. The shim is
single-threaded: the hold blocks it for at most ``WINDOW``.
"""

from __future__ import annotations

import signal
import time

WINDOW = 0.1
_POLL = 0.002


def handled(pid: int, signo: int) -> bool:
    """Does ``pid`` catch or ignore ``signo`` (its SigCgt/SigIgn masks)? True when unreadable."""
    try:
        with open(f"/proc/{pid}/status") as f:
            masks = {k: v.strip() for k, _, v in (line.partition(":") for line in f) if k in ("SigCgt", "SigIgn")}
    except OSError:
        return True
    bit = 1 << (signo - 1)
    return any(int(masks.get(k) or "0", 16) & bit for k in ("SigCgt", "SigIgn"))


def settle(pid: int, signo: int, started: float, window: float = WINDOW) -> None:
    """Before sending ``signo`` to init ``pid``, started at ``started`` (``time.monotonic()``):
    see the module's text."""
    if pid <= 0 or signo in (signal.SIGKILL, signal.SIGSTOP):
        return
    deadline = started + window
    while time.monotonic() < deadline and not handled(pid, signo):
        time.sleep(_POLL)
