"""dockyardd's watch over its dockyard-containerd, as dockerd supervises its containerd.

At start the engine adopts the containerd its pid file names if that one answers (one left
running by an engine that crashed), else starts one. When containerd dies it is reaped (no
zombie holds its pid file) and started again. The containers live on meanwhile under their
shims; the new containerd finds their tasks again in their bundles (``containerd/tasks/manager.py``
keeps nothing a bundle and its shim socket do not hold), and the engine's monitors wait on them
again (``Engine.wait_exit``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from dockyard import errors
from dockyard.daemon import pid_alive, running_daemon

log = logging.getLogger("dockyard.engine")

NAME = "dockyard-containerd"
MAX_BACKOFF = 10.0
STABLE = 10.0  # a containerd that ran this long resets the backoff
ANSWER_WITHIN = 20.0  # how long a starting containerd may take to answer


class ContainerdSupervisor:
    def __init__(self, start: Callable[[], subprocess.Popen[bytes]], pid_file: Path,
                 answers: Callable[[], bool]) -> None:
        self._start = start
        self.pid_file = pid_file
        self._answers = answers
        self.proc: subprocess.Popen[bytes] | None = None  # when it is our child
        self.pid = 0  # 0: a containerd on the socket that no pid file names: not ours to supervise
        self.restarts = 0

    def start_or_adopt(self) -> None:
        """Adopt the live containerd of the pid file once it answers, else start one (blocking)."""
        pid = running_daemon(self.pid_file, NAME)
        if pid and _within(ANSWER_WITHIN, self._answers):
            self.pid = pid
            log.info("using the %s already running (pid %d)", NAME, pid)
            return
        if pid:
            log.warning("%s (pid %d) does not answer; killing it", NAME, pid)
            _kill(pid, signal.SIGKILL, timeout=10)
        elif self._answers():
            log.info("using the %s already on its socket (no pid file: not supervised)", NAME)
            return
        self.start()

    def start(self) -> None:
        """Start containerd and wait until it answers (blocking: at daemon start, or in a thread).
        When another one answers instead (left starting by an engine that crashed), that one has
        the pid file and the socket: it is adopted and ours, refused by the pid file, reaped."""
        proc = self._start()
        owner = running_daemon(self.pid_file, NAME)
        if owner and owner != proc.pid:
            log.warning("%s (pid %d) took the socket first; adopting it", NAME, owner)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            self.proc, self.pid = None, owner
            return
        self.proc, self.pid = proc, proc.pid

    async def watch(self) -> None:
        """Until cancelled: wait for containerd to exit, reap it, start it again."""
        if not self.pid:
            return
        loop = asyncio.get_running_loop()
        backoff = 0.1
        while True:
            started = loop.time()
            await _exited(self.pid)
            code = self.proc.wait() if self.proc is not None else "an unknown status"  # reaped: no zombie
            log.error("%s (pid %d) exited with %s; starting it again", NAME, self.pid, code)
            if loop.time() - started > STABLE:
                backoff = 0.1
            while True:
                try:
                    await asyncio.to_thread(self.start)  # sets self.proc, even if this task is cancelled meanwhile
                    break
                except errors.DockyardError as err:
                    log.error("starting %s again failed: %s; next try in %.1fs", NAME, err, backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(MAX_BACKOFF, backoff * 2)
            self.restarts += 1
            log.info("%s running again (pid %d)", NAME, self.pid)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 15 s: at the engine's shutdown (the watch is over by then)."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        elif self.pid:
            _kill(self.pid, signal.SIGTERM, timeout=15)


def _within(seconds: float, check: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _kill(pid: int, sig: int, timeout: float) -> None:
    """Signal a process that is not our child and wait until it is gone (SIGKILL after ``timeout``)."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    if not _within(timeout, lambda: not pid_alive(pid)):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        _within(5, lambda: not pid_alive(pid))


async def _exited(pid: int) -> None:
    """Until the process ``pid`` has exited: its pidfd turns readable (a child or not)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    # the callback's value is unused: ``or`` only skips setting a future that is done
    loop.add_reader(fd, lambda: done.done() or done.set_result(None))  # type: ignore[func-returns-value]
    try:
        await done
    finally:
        loop.remove_reader(fd)
        os.close(fd)
