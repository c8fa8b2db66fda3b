"""The -ENOSYS prefix runc puts before a profile's filter.

A deny-by-default profile would answer a syscall newer than the profile (one it cannot
name) with its default errno, EPERM usually; libc and language runtimes probe new syscalls
and fall back only on ENOSYS.  So, as runc does, syscalls numbered above the highest one
the profile names (per architecture) get ENOSYS before libseccomp's program runs.  Only
for profiles whose default action refuses, and not when the default already is ENOSYS.
"""

from __future__ import annotations

import ctypes
import errno
import struct

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_LD_ABS_W = 0x20
_JEQ = 0x15
_JGT = 0x25
_JSET = 0x45
_JA = 0x05
_RET = 0x06
_OFF_NR, _OFF_ARCH = 0, 4
_X32_BIT = 0x40000000
_RET_ERRNO = 0x00050000
# libseccomp's architecture token → the AUDIT_ARCH value the kernel puts in seccomp_data.arch
_AUDIT_ARCH = {0x4000003E: 0xC000003E}  # x32 runs as x86_64, its numbers carry _X32_BIT
_PERMISSIVE = ("SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE")


def wanted(profile: dict[str, Any]) -> bool:
    if profile.get("defaultAction", "SCMP_ACT_ALLOW") in _PERMISSIVE:
        return False
    return profile.get("defaultErrnoRet") != errno.ENOSYS


def last_syscalls(lib: ctypes.CDLL, profile: dict[str, Any], arch_tokens: list[int]) -> dict[int, dict[bool, int]]:
    """{audit arch: {is x32: highest syscall number the profile names}}."""
    lib.seccomp_syscall_resolve_name_arch.argtypes = [ctypes.c_uint32, ctypes.c_char_p]
    names = {n for rule in profile.get("syscalls") or [] for n in rule.get("names") or []}
    out: dict[int, dict[bool, int]] = {}
    for token in arch_tokens:
        numbers = [lib.seccomp_syscall_resolve_name_arch(token, n.encode()) for n in names]
        known = [nr & 0xFFFFFFFF for nr in numbers if nr >= 0]
        if known:
            out.setdefault(_AUDIT_ARCH.get(token, token), {})[token in _AUDIT_ARCH] = max(known)
    return out


def stub(last: dict[int, dict[bool, int]]) -> bytes:
    """Classic BPF: ENOSYS above each architecture's last syscall, else on to the filter after it."""
    prog: list[tuple[int, Any, Any, Any]] = []  # (code, jt, jf, k); jumps name labels
    labels: dict[str, int] = {}
    for i, (arch, maxima) in enumerate(sorted(last.items())):
        labels[f"arch{i}"] = len(prog)
        prog.append((_JEQ, None, f"arch{i + 1}", arch))
        prog.append((_LD_ABS_W, None, None, _OFF_NR))
        if True in maxima and False in maxima:
            prog.append((_JSET, f"x32_{i}", None, _X32_BIT))
            prog.append((_JGT, "enosys", "main", maxima[False]))
            labels[f"x32_{i}"] = len(prog)
            prog.append((_JGT, "enosys", "main", maxima[True]))
        else:
            prog.append((_JGT, "enosys", "main", next(iter(maxima.values()))))
    labels[f"arch{len(last)}"] = len(prog)
    prog.append((_JA, None, None, "main"))
    labels["enosys"] = len(prog)
    prog.append((_RET, None, None, _RET_ERRNO | errno.ENOSYS))
    labels["main"] = len(prog)
    out = [struct.pack("=HBBI", _LD_ABS_W, 0, 0, _OFF_ARCH)]
    for at, (code, jt, jf, k) in enumerate(prog):
        if code == _JA:
            k = labels[k] - at - 1
        out.append(struct.pack("=HBBI", code, _offset(labels, jt, at), _offset(labels, jf, at), k))
    return b"".join(out)


def _offset(labels: dict[str, int], label: str | None, at: int) -> int:
    return 0 if label is None else labels[label] - at - 1
