"""Capability names ↔ numbers and the drop sequence (bounding → user switch → capset → ambient)."""

from __future__ import annotations

import errno
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

from dockyard.oci.capabilities import CAPABILITIES  # noqa: E402  (names ↔ numbers)

from . import syscalls as sc


def last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except OSError:
        return max(CAPABILITIES.values())


def to_mask(names: Iterable[str], unknown: list[str] | None = None) -> int:
    """OR the bits of ``names``; unknown names are collected (runc warns and skips them)."""
    mask = 0
    for name in names:
        n = name.upper()
        if not n.startswith("CAP_"):
            n = "CAP_" + n
        bit = CAPABILITIES.get(n)
        if bit is None:
            if unknown is not None:
                unknown.append(name)
            continue
        mask |= 1 << bit
    return mask


def mask_from_hex(value: str) -> int:
    """Parse the ``CapEff:`` style hex of /proc/<pid>/status."""
    return int(value, 16)


def drop_bounding(keep: int) -> None:
    for cap in range(last_cap() + 1):
        if not keep & (1 << cap):
            try:
                sc.prctl(sc.PR_CAPBSET_DROP, cap)
            except OSError as err:
                if err.errno != errno.EINVAL:
                    raise


def apply_sets(caps: dict[str, Any]) -> None:
    """capset effective/permitted/inheritable, then raise ambient caps.

    An ambient cap must be permitted and inheritable; one that is not cannot be raised and
    is skipped, as runc skips it (its capability library ignores every ambient error): the
    default spec of ``runc spec`` lists ambient caps with an empty inheritable set.
    """
    eff = to_mask(caps.get("effective") or [])
    perm = to_mask(caps.get("permitted") or [])
    inh = to_mask(caps.get("inheritable") or [])
    sc.capset(eff, perm, inh)
    ambient = to_mask(caps.get("ambient") or [])
    try:
        sc.prctl(sc.PR_CAP_AMBIENT, sc.PR_CAP_AMBIENT_CLEAR_ALL)
    except OSError:
        pass
    for cap in range(last_cap() + 1):
        if ambient & (1 << cap):
            try:
                sc.prctl(sc.PR_CAP_AMBIENT, sc.PR_CAP_AMBIENT_RAISE, cap)
            except OSError as err:
                if err.errno not in (errno.EPERM, errno.EINVAL):
                    raise


def switch_user(user: dict[str, Any], caps: dict[str, Any] | None) -> None:
    """Drop the bounding set, change uid/gid keeping caps, then set the final cap sets."""
    if caps is not None:
        drop_bounding(to_mask(caps.get("bounding") or []))
    uid = int(user.get("uid", 0))
    gid = int(user.get("gid", 0))
    if uid:
        give_stdio(uid)
    sc.prctl(sc.PR_SET_KEEPCAPS, 1)
    groups = [int(g) for g in user.get("additionalGids") or []]
    try:
        os.setgroups(groups)
    except OSError as err:
        # a user namespace made by an unprivileged caller has setgroups "deny": nothing to clear then
        if groups or err.errno != errno.EPERM or not _setgroups_denied():
            raise OSError(err.errno, f"setgroups {user.get('additionalGids')}: {err.strerror}") from err
    try:
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
    except OSError as err:
        raise OSError(err.errno, f"set user {uid}:{gid}: {err.strerror}") from err
    sc.prctl(sc.PR_SET_KEEPCAPS, 0)
    if caps is not None:
        apply_sets(caps)


_DEV_NULL = os.makedev(1, 3)


def give_stdio(uid: int) -> None:
    """runc's fixStdioPermissions: stdio (a pty made by root, say) becomes the user's, group kept;
    /dev/null is left alone, and so is what we may not chown (unmapped ids, a read-only /dev)."""
    for fd in (0, 1, 2):
        try:
            st = os.fstat(fd)
        except OSError:
            continue
        if st.st_rdev == _DEV_NULL or st.st_uid == uid:
            continue
        try:
            os.fchown(fd, uid, st.st_gid)
        except OSError as err:
            if err.errno not in (errno.EINVAL, errno.EPERM, errno.EROFS):
                raise


def _setgroups_denied() -> bool:
    try:
        with open("/proc/self/setgroups") as f:
            return f.read().strip() == "deny"
    except OSError:
        return False
