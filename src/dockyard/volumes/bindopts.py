"""A bind's spec options as dockerd writes them (daemon/oci_linux.go WithMounts).

- ``BindOptions.NonRecursive``: ``bind`` instead of ``rbind`` (the source's submounts stay out).
- Read-only is recursive (``rro``: every submount read-only too, mount_setattr AT_RECURSIVE) when
  the kernel can (5.12+), unless ``ReadOnlyNonRecursive``; ``ReadOnlyForceRecursive`` refuses a
  kernel that cannot. Clients below API 1.44 get dockerd's old default: read-only binds not
  recursive; ``ReadOnlyForceRecursive`` from them is refused, ``NonRecursive`` below 1.40 ignored.
- A user mount replaces the default mount at its destination; one on ``/dev`` replaces every
  default mount under ``/dev`` too (the runtime then makes no devices there, as runc).
- A ``[r]shared`` bind makes the container's root shared; at start its source must be on a shared
  mount, a ``[r]slave`` one's on a shared or slave mount (ensureShared/ensureSharedOrSlave).
"""

from __future__ import annotations

import os
import re
from contextvars import ContextVar
from typing import Any

from dockyard import errors

# Set by the create handler for its request (the create runs in that context, its threads too):
# the client's API is below 1.44, so a read-only bind is not recursive unless asked.
OLD_CLIENT_RO_NON_RECURSIVE: ContextVar[bool] = ContextVar("old_client_ro_non_recursive", default=False)


def for_client(host_config: dict[str, Any], version: tuple[int, int]) -> None:
    """The create's API version applied to its ``Mounts``, as dockerd's container router does."""
    for m in host_config.get("Mounts") or []:
        opts = m.get("BindOptions") if isinstance(m, dict) else None
        if not isinstance(opts, dict):
            continue
        if version < (1, 40):
            opts["NonRecursive"] = False  # added in API 1.40
        if version < (1, 44) and (m.get("Type") or "").lower() == "bind" and opts.get("ReadOnlyForceRecursive"):
            raise errors.InvalidArgument("BindOptions.ReadOnlyForceRecursive needs API v1.44 or newer")
    OLD_CLIENT_RO_NON_RECURSIVE.set(version < (1, 44))


def rro_supported(release: str | None = None) -> bool:
    """mount_setattr(2) with AT_RECURSIVE and MOUNT_ATTR_RDONLY: Linux 5.12."""
    m = re.match(r"(\d+)\.(\d+)", release or os.uname().release)
    return m is not None and (int(m.group(1)), int(m.group(2))) >= (5, 12)


def spec_options(kind: str, rw: bool, propagation: str, non_recursive: bool = False,
                 ro_non_recursive: bool = False, force_recursive: bool = False) -> list[str]:
    """The OCI options of a bind or volume mount: ``rbind``/``bind``, ``rw`` or ``ro`` (+ ``rro``),
    then the propagation."""
    opts = ["bind" if non_recursive else "rbind", "rw" if rw else "ro"]
    if not rw:
        if kind == "bind" and OLD_CLIENT_RO_NON_RECURSIVE.get() and not force_recursive:
            ro_non_recursive = True
        supported = rro_supported()
        if force_recursive and not supported:
            raise errors.InvalidArgument("ReadOnlyForceRecursive: recursive read-only mounts need Linux 5.12 or newer")
        if force_recursive or (supported and not ro_non_recursive):
            opts.append("rro")
    return [*opts, propagation or "rprivate"]


def drop_shadowed(mounts: list[dict[str, Any]], user_destinations: set[str]) -> list[dict[str, Any]]:
    """``mounts`` (the defaults) without those a user mount replaces."""
    dev = "/dev" in user_destinations
    return [m for m in mounts
            if os.path.normpath(m["destination"]) not in user_destinations
            and not (dev and m["destination"].startswith("/dev/"))]


def _mount_of(path: str, mountinfo: str) -> tuple[str, list[str]]:
    """The mount point holding ``path`` and its optional fields (``shared:N``, ``master:N``): the longest
    mount point, the later of two at one path (the one on top), as dockerd's getSourceMount."""
    best, optional = "", []
    with open(mountinfo) as f:
        for line in f:
            fields = line.split(" - ", 1)[0].split()
            point = fields[4].replace("\\040", " ")
            if (path == point or path.startswith(point.rstrip("/") + "/")) and len(point) >= len(best):
                best, optional = point, fields[6:]
    return best, optional


def share_root(spec: dict[str, Any], propagation: str) -> None:
    """A ``shared``/``rshared`` bind makes the container's root shared, so mounts made under the bind
    reach the host, as dockerd's WithMounts (the start refuses a source not on a shared mount:
    ``check_propagation``)."""
    if propagation not in ("shared", "rshared"):
        return
    linux = spec.setdefault("linux", {})
    if linux.get("rootfsPropagation") not in ("shared", "rshared"):
        linux["rootfsPropagation"] = "shared"


def inside(path: str, parent: str) -> bool:
    """``path`` is ``parent`` or inside it."""
    return (os.path.normpath(path).rstrip("/") + "/").startswith(os.path.normpath(parent).rstrip("/") + "/")


def check_propagation(source: str, propagation: str, daemon_root: str, asked: bool,
                      mountinfo: str = "/proc/self/mountinfo") -> None:
    """At start, as dockerd's ensureShared/ensureSharedOrSlave: a ``[r]shared`` bind's source must be on a
    shared mount, a ``[r]slave`` one's on a shared or slave mount. A bind of (or holding) the daemon's root
    that got ``rslave`` without asking falls back to private propagation, as dockerd's. dockerd makes its
    root a shared mount at its start; the engine never mounts, so a source inside the daemon's root is
    taken as shared."""
    shared = propagation in ("shared", "rshared")
    if not shared and propagation not in ("slave", "rslave"):
        return
    if inside(source, daemon_root) or (not asked and inside(daemon_root, source)):
        return
    try:
        point, optional = _mount_of(os.path.realpath(source, strict=True), mountinfo)
    except OSError as err:
        raise errors.SpecRefused(f"{err.strerror}: {source}") from None
    wanted = ("shared:",) if shared else ("shared:", "master:")
    if not any(o.startswith(wanted) for o in optional):
        kind = "a shared" if shared else "a shared or slave"
        raise errors.SpecRefused(f"path {source} is mounted on {point} but it is not {kind} mount")
