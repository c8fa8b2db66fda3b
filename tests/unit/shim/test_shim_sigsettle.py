"""shim/sigsettle.py: a signal sent right after a start waits for the program to catch it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from dockyard.shim import sigsettle

_LATE_HANDLER = "import signal, time; time.sleep(0.04); signal.signal(signal.SIGTERM, lambda *a: None); time.sleep(5)"


def _settle(pid: int, signo: int, started: float, window: float = sigsettle.WINDOW) -> float:
    t0 = time.monotonic()
    sigsettle.settle(pid, signo, started, window)
    return time.monotonic() - t0


def test_held_until_the_handler_is_installed() -> None:
    p = subprocess.Popen([sys.executable, "-c", _LATE_HANDLER])
    try:
        waited = _settle(p.pid, signal.SIGTERM, time.monotonic(), window=5)  # python's start-up counts too
        assert sigsettle.handled(p.pid, signal.SIGTERM)
        assert 0.04 <= waited < 4
    finally:
        p.kill()
        p.wait()


def test_not_held_after_the_window_for_sigkill_or_when_caught() -> None:
    p = subprocess.Popen(["sleep", "5"])
    try:
        assert _settle(p.pid, signal.SIGTERM, time.monotonic() - 1) < 0.01, "started long ago"
        assert _settle(p.pid, signal.SIGKILL, time.monotonic()) < 0.01
        waited = _settle(p.pid, signal.SIGTERM, time.monotonic())  # never caught: held for the window only
        assert sigsettle.WINDOW * 0.5 < waited < sigsettle.WINDOW + 0.2
        assert _settle(0, signal.SIGTERM, time.monotonic()) < 0.01
    finally:
        p.kill()
        p.wait()
