"""What both daemons share: logging to stderr and a file, pid files, clean SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from dockyard import errors


def setup_logging(log_file: Path, level: str = "info") -> None:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    root.setLevel(level.upper())
    for handler in (logging.StreamHandler(sys.stderr), logging.FileHandler(log_file)):
        handler.setFormatter(fmt)
        root.addHandler(handler)


def pid_alive(pid: int) -> bool:
    """A process that runs: a zombie (dead, not yet reaped by its parent) does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]  # after the command name, which may hold spaces
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def runs_program(pid: int, name: str) -> bool:
    """Whether ``pid`` runs the program ``name`` (its executable, or the script an interpreter runs):
    a pid file's number may belong to another process since."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return False
    return any(os.path.basename(arg.decode(errors="replace")) == name for arg in argv[:2])


def running_daemon(pid_file: Path, name: str) -> int:
    """The pid of the live ``name`` daemon its pid file names, 0 if there is none."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return 0
    return pid if pid > 0 and pid_alive(pid) and runs_program(pid, name) else 0


class PidFile:
    """A pid file that refuses a second live daemon ``name`` and is removed on exit.

    The number it holds is taken for a running daemon only if that process is alive (no zombie
    of a killed one) and runs ``name`` (not another program that got the number since)."""

    def __init__(self, path: Path, name: str) -> None:
        self.path = path
        self.name = name

    def __enter__(self) -> PidFile:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        old = running_daemon(self.path, self.name)
        if old and old != os.getpid():
            raise errors.AlreadyExists(f"pid file {self.path}: process {old} is still running")
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(f"{os.getpid()}\n")
        os.replace(tmp, self.path)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if int(self.path.read_text().strip()) == os.getpid():
                self.path.unlink()
        except (OSError, ValueError):
            pass


def stop_event() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT, for a clean shutdown of the running loop."""
    event = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, event.set)
    return event
