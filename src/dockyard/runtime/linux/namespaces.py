"""Map the spec's ``linux.namespaces`` onto unshare flags and setns joins."""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

from dockyard.errors import InvalidArgument

from . import syscalls as sc

NAMESPACE_FLAGS: dict[str, int] = {
    "pid": sc.CLONE_NEWPID,
    "network": sc.CLONE_NEWNET,
    "mount": sc.CLONE_NEWNS,
    "ipc": sc.CLONE_NEWIPC,
    "uts": sc.CLONE_NEWUTS,
    "user": sc.CLONE_NEWUSER,
    "cgroup": sc.CLONE_NEWCGROUP,
    "time": sc.CLONE_NEWTIME,
}

# setns order: user first (it grants the capabilities for the others), mount last
# (after it, the namespace paths on the host may no longer resolve).
_JOIN_ORDER = ("user", "ipc", "uts", "network", "pid", "cgroup", "time", "mount")


class NamespacePlan:
    """Namespaces to create (``new``) and to join by path (``join``, in setns order)."""

    def __init__(self, new: set[str] | None = None, join: list[tuple[str, str]] | None = None) -> None:
        self.new: set[str] = set(new or ())
        self.join: list[tuple[str, str]] = list(join or [])

    @property
    def unshare_flags(self) -> int:
        """Flags the intermediate unshares; cgroup is left to init (after it joined its cgroup)."""
        flags = 0
        for t in self.new:
            if t != "cgroup":
                flags |= NAMESPACE_FLAGS[t]
        return flags

    def has(self, ns_type: str) -> bool:
        return ns_type in self.new or any(t == ns_type for t, _ in self.join)


def plan(namespaces: list[dict[str, Any]] | None) -> NamespacePlan:
    result = NamespacePlan()
    seen: set[str] = set()
    for ns in namespaces or []:
        t = ns.get("type", "")
        if t not in NAMESPACE_FLAGS:
            raise InvalidArgument(f"unknown namespace type {t!r}")
        if t in seen:
            raise InvalidArgument(f"duplicate namespace type {t!r}")
        seen.add(t)
        if ns.get("path"):
            result.join.append((t, ns["path"]))
        else:
            result.new.add(t)
    result.join.sort(key=lambda j: _JOIN_ORDER.index(j[0]))
    return result


def join_all(joins: list[tuple[str, str]]) -> None:
    """Open every path first (later joins could hide them), then setns in order."""
    fds: list[tuple[str, int, str]] = []
    try:
        for t, path in joins:
            try:
                fds.append((t, os.open(path, os.O_RDONLY | os.O_CLOEXEC), path))
            except OSError as err:
                raise OSError(err.errno, f"open {t} namespace {path}: {err.strerror}") from err
        for t, fd, path in fds:
            try:
                sc.setns(fd, NAMESPACE_FLAGS[t])
            except OSError as err:
                raise OSError(err.errno, f"join {t} namespace {path}: {err.strerror}") from err
    finally:
        for _, fd, _ in fds:
            os.close(fd)
