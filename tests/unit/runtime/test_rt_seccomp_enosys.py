"""runc's -ENOSYS prefix: syscalls newer than a deny-by-default profile get ENOSYS, not its errno."""

from __future__ import annotations

import ctypes
import errno
import os

import pytest

from dockyard.runtime.linux import seccomp, seccomp_enosys

ALLOWED = ["write", "exit", "exit_group", "getppid", "mmap", "munmap", "brk", "madvise", "futex",
           "rt_sigaction", "rt_sigprocmask"]
PROFILE = {"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
           "syscalls": [{"names": ALLOWED, "action": "SCMP_ACT_ALLOW"}]}


def _errnos_under(profile: dict, numbers: list[int]) -> list[int]:
    """In a forked child with ``profile`` installed: the errno of each raw syscall (0: it worked)."""
    prog = seccomp.compile(profile)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            from dockyard.runtime.linux import syscalls as sc

            libc = ctypes.CDLL(None, use_errno=True)
            sc.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)
            prog.install()
            out = []
            for nr in numbers:
                ctypes.set_errno(0)
                rc = libc.syscall(ctypes.c_long(nr), ctypes.c_long(0))
                out.append(ctypes.get_errno() if rc < 0 else 0)
            os.write(w, " ".join(map(str, out)).encode())
        finally:
            os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    data = os.read(r, 1000).decode()
    os.close(r)
    return [int(x) for x in data.split()]


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="x86_64 syscall numbers")
def test_unknown_syscalls_get_enosys_known_ones_the_default() -> None:
    getppid, times, unshare = 110, 100, 272  # unshare is above every name the profile lists
    assert _errnos_under(PROFILE, [1000, getppid, times, unshare]) == [errno.ENOSYS, 0, errno.EPERM, errno.ENOSYS]
    # runc's exceptions: an allowing default, or a default that already is ENOSYS, get no prefix
    assert _errnos_under({**PROFILE, "defaultErrnoRet": errno.ENXIO}, [1000])[0] == errno.ENOSYS
    assert _errnos_under({**PROFILE, "defaultErrnoRet": errno.ENOSYS}, [times])[0] == errno.ENOSYS


def test_prefix_only_for_refusing_defaults() -> None:
    assert seccomp_enosys.wanted(PROFILE)
    assert not seccomp_enosys.wanted({**PROFILE, "defaultAction": "SCMP_ACT_ALLOW"})
    assert not seccomp_enosys.wanted({**PROFILE, "defaultAction": "SCMP_ACT_LOG"})
    assert not seccomp_enosys.wanted({**PROFILE, "defaultErrnoRet": errno.ENOSYS})
