"""User namespaces: validate and write ``uidMappings``/``gidMappings``, become root inside.

The parent (still in the host user namespace) writes the maps of the
intermediate once it has unshared ``CLONE_NEWUSER``: only a process in the
parent namespace may map host ids.  An unprivileged caller may map only its own
ids and must write ``deny`` to ``setgroups`` before ``gid_map`` (user_namespaces(7));
root needs neither, and keeps ``setgroups`` usable for ``additionalGids``.
"""

from __future__ import annotations

import errno
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

from dockyard.errors import InvalidArgument

MAX_LINES = 340  # kernel limit since 4.15


def format_map(mappings: list[dict[str, Any]] | None, what: str = "uid") -> str:
    """``containerID hostID size`` lines, validated (sizes > 0, ids >= 0, at most 340 lines)."""
    lines: list[str] = []
    for m in mappings or []:
        try:
            cid, hid, size = int(m["containerID"]), int(m["hostID"]), int(m["size"])
        except (KeyError, TypeError, ValueError) as err:
            raise InvalidArgument(f"invalid {what} mapping {m!r}: containerID, hostID and size are required") from err
        if cid < 0 or hid < 0 or size <= 0:
            raise InvalidArgument(f"invalid {what} mapping {m!r}")
        lines.append(f"{cid} {hid} {size}\n")
    if len(lines) > MAX_LINES:
        raise InvalidArgument(f"too many {what} mappings ({len(lines)} > {MAX_LINES})")
    return "".join(lines)


def host_id(mappings: list[dict[str, Any]] | None, container_id: int) -> int | None:
    """The host id that ``container_id`` maps to, or None when it is not mapped."""
    for m in mappings or []:
        cid, hid, size = int(m["containerID"]), int(m["hostID"]), int(m["size"])
        if cid <= container_id < cid + size:
            return hid + container_id - cid
    return None


def validate(linux: dict[str, Any], new_userns: bool, join_userns: bool) -> None:
    """runc's rules: a new user namespace needs both maps; maps without one are an error."""
    has_maps = bool(linux.get("uidMappings") or linux.get("gidMappings"))
    if new_userns:
        if not linux.get("uidMappings") or not linux.get("gidMappings"):
            raise InvalidArgument("user namespaces enabled, but no uid or gid mappings found")
        format_map(linux.get("uidMappings"), "uid")
        format_map(linux.get("gidMappings"), "gid")
    elif has_maps and not join_userns:
        raise InvalidArgument("user namespaces not enabled in config, but uid/gid mappings are set")


def write_maps(pid: int, uid_mappings: list[dict[str, Any]], gid_mappings: list[dict[str, Any]]) -> None:
    """Write /proc/<pid>/{uid_map,setgroups,gid_map} of a process that just unshared its userns."""
    _write(f"/proc/{pid}/uid_map", format_map(uid_mappings, "uid"))
    if os.geteuid() != 0:
        _write(f"/proc/{pid}/setgroups", "deny")
    _write(f"/proc/{pid}/gid_map", format_map(gid_mappings, "gid"))


def _write(path: str, data: str) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except OSError as err:
        raise OSError(err.errno, f"open {path}: {err.strerror}") from err
    try:
        os.write(fd, data.encode())  # one write: the kernel accepts a map exactly once
    except OSError as err:
        raise OSError(err.errno, f"write {path} ({data.strip()!r}): {err.strerror}") from err
    finally:
        os.close(fd)


def become_root() -> None:
    """Switch to uid/gid 0 of the (new or joined) user namespace; drop host supplementary groups."""
    try:
        os.setgroups([])
    except PermissionError:
        pass  # setgroups is "deny" (unprivileged caller): the groups are already unmapped
    try:
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)
    except OSError as err:
        raise OSError(err.errno or errno.EINVAL,
                      f"become root in the user namespace (is id 0 mapped?): {err.strerror}") from err
