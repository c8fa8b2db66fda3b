"""Load an OCI ``linux.seccomp`` profile through libseccomp (ctypes, no Python binding needed).

libseccomp compiles the rule list into BPF for every listed architecture;
we only translate names.  ``SCMP_FLTATR_CTL_NNP`` is turned off so the filter
does not silently set no_new_privs (that is the spec's ``noNewPrivileges``
decision, not ours).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
from functools import lru_cache
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SCMP_ACT_KILL_PROCESS = 0x80000000
SCMP_ACT_KILL_THREAD = 0x00000000
SCMP_ACT_TRAP = 0x00030000
SCMP_ACT_ERRNO = 0x00050000
SCMP_ACT_TRACE = 0x7FF00000
SCMP_ACT_LOG = 0x7FFC0000
SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_FLTATR_CTL_NNP = 3

_OPS = {
    "SCMP_CMP_NE": 1,
    "SCMP_CMP_LT": 2,
    "SCMP_CMP_LE": 3,
    "SCMP_CMP_EQ": 4,
    "SCMP_CMP_GE": 5,
    "SCMP_CMP_GT": 6,
    "SCMP_CMP_MASKED_EQ": 7,
}


class SeccompError(OSError):
    pass


class _ArgCmp(ctypes.Structure):
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


@lru_cache(maxsize=1)
def _lib() -> ctypes.CDLL:
    name = ctypes.util.find_library("seccomp") or "libseccomp.so.2"
    try:
        lib = ctypes.CDLL(name, use_errno=True)
    except OSError as err:
        raise SeccompError(errno.ENOSYS, "linux.seccomp is set but libseccomp.so.2 is not installed") from err
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    lib.seccomp_arch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.seccomp_arch_resolve_name.restype = ctypes.c_uint32
    lib.seccomp_arch_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
    lib.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.POINTER(_ArgCmp),
    ]
    return lib


def action_value(action: str, errno_ret: int | None = None) -> int:
    if action == "SCMP_ACT_ALLOW":
        return SCMP_ACT_ALLOW
    if action == "SCMP_ACT_ERRNO":
        return SCMP_ACT_ERRNO | ((errno.EPERM if errno_ret is None else errno_ret) & 0xFFFF)
    if action in ("SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD"):
        return SCMP_ACT_KILL_THREAD
    if action == "SCMP_ACT_KILL_PROCESS":
        return SCMP_ACT_KILL_PROCESS
    if action == "SCMP_ACT_TRAP":
        return SCMP_ACT_TRAP
    if action == "SCMP_ACT_TRACE":
        return SCMP_ACT_TRACE | ((errno.EPERM if errno_ret is None else errno_ret) & 0xFFFF)
    if action == "SCMP_ACT_LOG":
        return SCMP_ACT_LOG
    raise SeccompError(errno.EINVAL, f"seccomp action {action!r} not supported")


def load(profile: dict[str, Any]) -> None:
    lib = _lib()
    default = action_value(profile.get("defaultAction", "SCMP_ACT_ALLOW"), profile.get("defaultErrnoRet"))
    ctx = lib.seccomp_init(default)
    if not ctx:
        raise SeccompError(errno.EINVAL, "seccomp_init failed")
    try:
        lib.seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0)
        for arch in profile.get("architectures") or []:
            token = lib.seccomp_arch_resolve_name(arch.removeprefix("SCMP_ARCH_").lower().encode())
            if token == 0:
                continue
            rc = lib.seccomp_arch_add(ctx, token)
            if rc < 0 and -rc != errno.EEXIST:
                raise SeccompError(-rc, f"seccomp: add architecture {arch}")
        for rule in profile.get("syscalls") or []:
            action = action_value(rule["action"], rule.get("errnoRet"))
            if action == default:
                continue
            for name in rule.get("names") or []:
                nr = lib.seccomp_syscall_resolve_name(name.encode())
                if nr < 0:
                    continue  # unknown on this kernel/arch: runc ignores it too
                _add_rule(lib, ctx, action, nr, rule.get("args") or [], name)
        rc = lib.seccomp_load(ctx)
        if rc < 0:
            raise SeccompError(-rc, f"seccomp_load: {errno.errorcode.get(-rc, rc)}")
    finally:
        lib.seccomp_release(ctx)


def _add_rule(lib: ctypes.CDLL, ctx: int, action: int, nr: int, args: list[dict[str, Any]], name: str) -> None:
    indexes = [a["index"] for a in args]
    # conditions on distinct args are ANDed in one rule; repeated indexes mean OR: one rule each
    groups = [args] if len(set(indexes)) == len(indexes) else [[a] for a in args]
    for group in groups:
        arr = (_ArgCmp * max(1, len(group)))()
        for i, a in enumerate(group):
            arr[i] = _ArgCmp(a["index"], _OPS[a["op"]], a.get("value", 0), a.get("valueTwo", 0))
        rc = lib.seccomp_rule_add_array(ctx, action, nr, len(group), arr)
        if rc < 0:
            raise SeccompError(-rc, f"seccomp: add rule for {name}: {errno.errorcode.get(-rc, rc)}")
