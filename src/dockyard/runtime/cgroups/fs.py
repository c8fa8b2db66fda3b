"""Filesystem helpers shared by the cgroup implementations (no typing import: hot path)."""

from __future__ import annotations

import errno
import os
import time

from dockyard.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

DEFAULT_PARENT = "/dockyard-runc"


def normalize_cgroups_path(cgroups_path: str | None, container_id: str) -> str:
    """Return the cgroup path (with a leading '/' if absolute) after validation.

    Empty → ``/dockyard-runc/<id>`` (runc uses ``/<id>``: a fixed parent keeps
    our cgroups together).  ``..`` components are refused so a spec cannot
    point the runtime at an arbitrary cgroup of the host.  systemd-style
    ``slice:prefix:name`` paths are not supported (cgroupfs driver only).
    """
    path = (cgroups_path or "").strip()
    if not path:
        return f"{DEFAULT_PARENT}/{container_id}"
    if ":" in path and not path.startswith("/"):
        raise InvalidArgument(f"systemd cgroupsPath {path!r} is not supported (cgroupfs driver only)")
    parts = [p for p in path.split("/") if p]
    if any(p in (".", "..") for p in parts) or not parts:
        raise InvalidArgument(f"invalid cgroupsPath {cgroups_path!r}")
    joined = "/".join(parts)
    return "/" + joined if path.startswith("/") else joined


def join_cgroup(mountpoint: str, own: str, path: str) -> str:
    """Absolute paths are relative to the hierarchy root; relative ones to our own cgroup."""
    if path.startswith("/"):
        return os.path.join(mountpoint, path.lstrip("/"))
    return os.path.join(mountpoint, own.lstrip("/"), path)


def own_cgroups(proc_cgroup: str = "/proc/self/cgroup") -> dict[str, str]:
    """Map controller name (``""`` for the unified line) to our current cgroup path."""
    out: dict[str, str] = {}
    with open(proc_cgroup) as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            for c in ctrls.split(",") if ctrls else [""]:
                out[c.removeprefix("name=")] = path
    return out


def write(path: str, value: str | int) -> None:
    try:
        with open(path, "w") as f:
            f.write(str(value))
    except OSError as err:
        raise OSError(err.errno, f"write {value!r} to {path}: {os.strerror(err.errno or 0)}") from err


def read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def read_pids(procs_file: str) -> list[int]:
    try:
        return [int(x) for x in read(procs_file).split()]
    except FileNotFoundError:
        return []


def backoff(timeout: float, first: float = 0.0005, cap: float = 0.02) -> Iterator[None]:
    """Yield until ``timeout`` passes, sleeping 0.5 ms, 1 ms, 2 ms ... (at most ``cap``) in between.

    The common case (already done) costs no sleep at all; a slow kernel costs a
    few wake-ups instead of fixed 10 ms naps.
    """
    deadline = time.monotonic() + timeout
    delay = first
    while True:
        yield
        now = time.monotonic()
        if now >= deadline:
            return
        time.sleep(min(delay, deadline - now))
        delay = min(delay * 2, cap)


def wait_procs_empty(procs_file: str, timeout: float) -> bool:
    """Poll ``cgroup.procs`` with a short backoff until no task is left (v1 has no event file)."""
    for _ in backoff(timeout):
        if not read_pids(procs_file):
            return True
    return False


def rmdir_retry(path: str, timeout: float = 1.0) -> None:
    """rmdir that waits out EBUSY (the kernel frees a cgroup shortly after its last task exits)."""
    last: OSError | None = None
    for _ in backoff(timeout):
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as err:
            if err.errno != errno.EBUSY:
                raise
            last = err
    assert last is not None
    raise last


def remove_tree(path: str) -> None:
    """Remove a cgroup directory and any child cgroups, deepest first (rmdir only: never unlink)."""
    if not os.path.isdir(path):
        return
    for dirpath, dirnames, _ in os.walk(path, topdown=False):
        for d in dirnames:
            rmdir_retry(os.path.join(dirpath, d))
    rmdir_retry(path)
