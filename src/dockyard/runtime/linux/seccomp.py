"""Compile an OCI ``linux.seccomp`` profile with libseccomp (ctypes) and install it.

libseccomp compiles the rule list into BPF for every listed architecture;
we only translate names.  Compiling Docker's default profile takes ~10 ms, on
every container start, for the same few profiles: so the parent compiles once
(:func:`compile`), keeps the BPF in a cache keyed by the profile and the
libseccomp/kernel/arch that compiled it, and init only installs the program
with ``seccomp(2)`` (:meth:`Program.install`), which also honours the
profile's ``flags`` (TSYNC, LOG, SPEC_ALLOW).  The filter never sets
no_new_privs itself: that is the spec's ``noNewPrivileges`` decision, not ours.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
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
SCMP_ACT_NOTIFY = 0x7FC00000
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
    try:
        lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    except OSError:
        from ctypes.util import find_library  # runs ldconfig: only when the soname is not found directly

        name = find_library("seccomp")
        if name is None:
            raise SeccompError(errno.ENOSYS, "linux.seccomp is set but libseccomp.so.2 is not installed") from None
        lib = ctypes.CDLL(name, use_errno=True)
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    lib.seccomp_arch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.seccomp_arch_resolve_name.restype = ctypes.c_uint32
    lib.seccomp_arch_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
    lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.seccomp_api_get.restype = ctypes.c_uint
    lib.seccomp_version.restype = ctypes.POINTER(ctypes.c_uint * 3)
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
    if action == "SCMP_ACT_NOTIFY":
        return SCMP_ACT_NOTIFY
    raise SeccompError(errno.EINVAL, f"seccomp action {action!r} not supported")


_FILTER_FLAGS = {
    "SECCOMP_FILTER_FLAG_TSYNC": 1,
    "SECCOMP_FILTER_FLAG_LOG": 2,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4,
}
_SECCOMP_SET_MODE_FILTER = 1
_FLAG_NEW_LISTENER = 8
_SECCOMP_NR = {"x86_64": 317, "aarch64": 277}


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]


class Program:
    """A compiled filter (classic BPF, 8 bytes per instruction) and its ``seccomp(2)`` flags.

    ``notify``: the filter has SCMP_ACT_NOTIFY rules, so installing it yields a listener fd
    for the profile's seccomp agent (``seccomp_notify.hand_over``)."""

    def __init__(self, bpf: bytes, flags: int, notify: bool = False) -> None:
        self.bpf = bpf
        self.flags = flags | (_FLAG_NEW_LISTENER if notify else 0)
        self.notify = notify

    def install(self) -> int:
        """Attach the filter to the calling thread (init or an exec'd process, just before ``execve``);
        returns the listener fd of a notifying filter, else -1."""
        from .syscalls import libc

        prog = _SockFprog(len(self.bpf) // 8, self.bpf)
        nr = _SECCOMP_NR.get(os.uname().machine)
        if nr is None:
            raise SeccompError(errno.ENOSYS, f"seccomp: unsupported architecture {os.uname().machine}")
        rc = libc().syscall(ctypes.c_long(nr), ctypes.c_uint(_SECCOMP_SET_MODE_FILTER),
                            ctypes.c_uint(self.flags), ctypes.byref(prog))
        if rc < 0:
            err = ctypes.get_errno()
            raise SeccompError(err, f"seccomp: load filter: {os.strerror(err)}")
        return int(rc) if self.notify else -1


def check_notify(profile: dict[str, Any]) -> bool:
    """runc's rules for SCMP_ACT_NOTIFY; True when the profile uses it (an agent gets a listener)."""
    rules = [r for r in profile.get("syscalls") or [] if r.get("action") == "SCMP_ACT_NOTIFY"]
    if profile.get("defaultAction") == "SCMP_ACT_NOTIFY":
        raise SeccompError(errno.EINVAL, "SCMP_ACT_NOTIFY cannot be used as default action")
    if not rules:
        return False
    if any("write" in (r.get("names") or []) for r in rules):  # the runtime's own sync would block on it
        raise SeccompError(errno.EINVAL, "SCMP_ACT_NOTIFY cannot be used for the write syscall")
    if not profile.get("listenerPath"):
        raise SeccompError(errno.EINVAL, "SCMP_ACT_NOTIFY is used but no listenerPath is set")
    return True


def compile(profile: dict[str, Any], cache_dir: str | None = None) -> Program:  # noqa: A001 - the verb
    """``profile`` as BPF, from ``cache_dir`` when this libseccomp already compiled it here."""
    notify = check_notify(profile)
    flags = 0
    for name in profile.get("flags") or []:
        if name not in _FILTER_FLAGS:
            raise SeccompError(errno.EINVAL, f"seccomp flag {name!r} not supported")
        flags |= _FILTER_FLAGS[name]
    lib = _lib()
    if cache_dir is None:
        return Program(_compile(lib, profile), flags, notify)
    from ..fastjson import dumps

    version = lib.seccomp_version().contents
    key = hashlib.sha256(
        f"{tuple(version)} {lib.seccomp_api_get()} {os.uname().machine} enosys\n{dumps(profile)}".encode()).hexdigest()
    path = os.path.join(cache_dir, key + ".bpf")
    try:
        with open(path, "rb") as f:
            bpf = f.read()
        if bpf and len(bpf) % 8 == 0:
            return Program(bpf, flags, notify)
    except FileNotFoundError:
        pass
    bpf = _compile(lib, profile)
    os.makedirs(cache_dir, mode=0o700, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:  # whole or absent: another create may read it at any moment
        f.write(bpf)
    os.rename(tmp, path)
    return Program(bpf, flags, notify)


def _compile(lib: ctypes.CDLL, profile: dict[str, Any]) -> bytes:
    default = action_value(profile.get("defaultAction", "SCMP_ACT_ALLOW"), profile.get("defaultErrnoRet"))
    ctx = lib.seccomp_init(default)
    if not ctx:
        raise SeccompError(errno.EINVAL, "seccomp_init failed")
    fd = -1
    tokens: list[int] = []
    try:
        lib.seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0)
        for arch in profile.get("architectures") or []:
            token = lib.seccomp_arch_resolve_name(arch.removeprefix("SCMP_ARCH_").lower().encode())
            if token == 0:
                continue
            tokens.append(token)
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
        fd = os.memfd_create("seccomp-bpf", os.MFD_CLOEXEC)
        rc = lib.seccomp_export_bpf(ctx, fd)
        if rc < 0:
            raise SeccompError(-rc, f"seccomp_export_bpf: {errno.errorcode.get(-rc, rc)}")
        size = os.lseek(fd, 0, os.SEEK_END)
        return _enosys_prefix(lib, profile, tokens) + os.pread(fd, size, 0)
    finally:
        if fd >= 0:
            os.close(fd)
        lib.seccomp_release(ctx)


def _enosys_prefix(lib: ctypes.CDLL, profile: dict[str, Any], tokens: list[int]) -> bytes:
    from . import seccomp_enosys

    if not seccomp_enosys.wanted(profile):
        return b""
    last = seccomp_enosys.last_syscalls(lib, profile, list(dict.fromkeys(tokens)))
    return seccomp_enosys.stub(last) if last else b""


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
