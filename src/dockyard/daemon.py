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
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class PidFile:
    """A pid file that refuses a second live daemon and is removed on exit."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> "PidFile":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            old = int(self.path.read_text().strip())
        except (OSError, ValueError):
            old = 0
        if old and old != os.getpid() and pid_alive(old):
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
