"""Network sandboxes: a network namespace per container, kept alive by a bind mount of its nsfs file.

The namespace exists before the container's task (the runtime joins it by
path through ``linux.namespaces``), so addresses, routes and the DNS socket are
in place before the first instruction of the container runs, and it outlives
daemon restarts. ``unshare --net=FILE`` makes and pins it in one call.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import threading
from pathlib import Path
from typing import Any, Callable, TypeVar

from dockyard import errors

CLONE_NEWNET = 0x40000000
MNT_DETACH = 2
T = TypeVar("T")


def create(path: Path) -> None:
    if is_netns(path):
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    r = subprocess.run(["unshare", f"--net={path}", "true"], capture_output=True, text=True)
    if r.returncode != 0:
        raise errors.Internal(f"create network namespace {path}: {r.stderr.strip()}")


def is_netns(path: Path) -> bool:
    try:
        with open("/proc/self/mountinfo") as f:
            return any(line.split()[4] == str(path) for line in f)
    except OSError:
        return False


def destroy(path: Path) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    while is_netns(path):
        if libc.umount2(str(path).encode(), MNT_DETACH) != 0:
            err = ctypes.get_errno()
            raise errors.Internal(f"unmount network namespace {path}: {os.strerror(err)}")
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def run_in(path: Path, fn: Callable[[], T]) -> T:
    """Run ``fn`` on a fresh thread that has joined the namespace (setns affects only that thread).

    Used to open the embedded DNS server's socket inside the container's
    namespace: a socket keeps the namespace it was created in.
    """
    result: dict[str, Any] = {}

    def target() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns {path}")
            finally:
                os.close(fd)
            result["value"] = fn()
        except BaseException as err:  # handed to the caller
            result["error"] = err

    t = threading.Thread(target=target, name="netns-join")
    t.start()
    t.join()
    if "error" in result:
        raise result["error"]
    return result["value"]  # type: ignore[no-any-return]
