"""Load a cgroup device program with bpf(2) and attach it to a cgroup v2 directory.

Imported only when a v2 cgroup gets device rules (ctypes stays off the v1 path).  The
update protocol is runc's: list the device programs already attached, load the new one,
attach it with BPF_F_ALLOW_MULTI, replacing the old one in place (BPF_F_REPLACE) when there
is exactly one, else detaching the old ones after the new one is in (no window without a
filter).  The kernel keeps an attached program alive: our fds are closed on return.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
from collections.abc import Iterator
from contextlib import contextmanager

from ..linux.syscalls import libc

# include/uapi/linux/bpf.h
BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
BPF_PROG_DETACH = 9
BPF_PROG_GET_FD_BY_ID = 13
BPF_PROG_QUERY = 16
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6
BPF_F_ALLOW_MULTI = 2
BPF_F_REPLACE = 4
LICENSE = b"Apache"
PROG_NAME = b"dockyard_dev"
MAX_PROGS = 64  # the kernel's limit per cgroup and attach type
LOG_SIZE = 1 << 16
ATTR_SIZE = 128

_NR_BPF = {"x86_64": 321, "aarch64": 280}


class BPFError(OSError):
    """A bpf(2) failure; for BPF_PROG_LOAD the message carries the verifier's log."""


def _bpf(cmd: int, attr: ctypes.Array[ctypes.c_char], what: str) -> int:
    machine = os.uname().machine
    if machine not in _NR_BPF:
        raise BPFError(errno.ENOSYS, f"bpf(2) unknown on {machine}")
    ret = int(libc().syscall(_NR_BPF[machine], cmd, attr, len(attr)))
    if ret < 0:
        err = ctypes.get_errno()
        raise BPFError(err, f"{what}: {os.strerror(err)}")
    return ret


def _attr(layout: str, *values: int | bytes) -> ctypes.Array[ctypes.c_char]:
    """A ``union bpf_attr``: our fields, then zeros up to ATTR_SIZE (the kernel wants unknown
    trailing bytes zero, and writes some answers past the fields we fill, e.g. a query's)."""
    return ctypes.create_string_buffer(struct.pack(layout, *values), ATTR_SIZE)


def _addr(buf: ctypes.Array[ctypes.c_char]) -> int:
    return ctypes.addressof(buf)


def load(program: bytes, license: bytes = LICENSE) -> int:
    """BPF_PROG_LOAD of a CGROUP_DEVICE program → its fd; on failure retried with the
    verifier's log, which the error then quotes."""
    insns = ctypes.create_string_buffer(program, len(program))
    lic = ctypes.create_string_buffer(license)
    try:
        return _load_memlock(insns, lic)
    except BPFError:
        log = ctypes.create_string_buffer(LOG_SIZE)
        try:
            return _load(insns, lic, log)  # a verifier that passes this time: keep the program
        except BPFError as err:
            text = log.value.decode(errors="replace").strip()
            raise BPFError(err.errno, f"BPF_PROG_LOAD (cgroup device filter): "
                                      f"{os.strerror(err.errno or 0)}\n{text}".rstrip()) from err


def _load(insns: ctypes.Array[ctypes.c_char], lic: ctypes.Array[ctypes.c_char],
          log: ctypes.Array[ctypes.c_char] | None) -> int:
    # prog_type, insn_cnt, insns, license, log_level, log_size, log_buf, kern_version, prog_flags,
    # prog_name[16], prog_ifindex, expected_attach_type
    attr = _attr("=IIQQIIQII16sII", BPF_PROG_TYPE_CGROUP_DEVICE, len(insns) // 8, _addr(insns), _addr(lic),
                 1 if log is not None else 0, len(log) if log is not None else 0,
                 _addr(log) if log is not None else 0, 0, 0, PROG_NAME, 0, 0)
    return _bpf(BPF_PROG_LOAD, attr, "BPF_PROG_LOAD")


def _load_memlock(insns: ctypes.Array[ctypes.c_char], lic: ctypes.Array[ctypes.c_char]) -> int:
    """Kernels before 5.11 charge programs to RLIMIT_MEMLOCK (EPERM when it is low): then the
    limit is lifted for the load only (init, forked later, must not inherit it)."""
    try:
        return _load(insns, lic, None)
    except BPFError as err:
        if err.errno != errno.EPERM:
            raise
        first = err
    import resource

    old = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    try:
        resource.setrlimit(resource.RLIMIT_MEMLOCK, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    except (OSError, ValueError):
        raise first from None
    try:
        return _load(insns, lic, None)
    finally:
        resource.setrlimit(resource.RLIMIT_MEMLOCK, old)


def attached(cgroup_fd: int) -> list[int]:
    """IDs of the device programs attached to the cgroup (BPF_PROG_QUERY)."""
    ids = (ctypes.c_uint32 * MAX_PROGS)()
    # target_fd, attach_type, query_flags, attach_flags, prog_ids, prog_cnt
    attr = _attr("=IIIIQI4x", cgroup_fd, BPF_CGROUP_DEVICE, 0, 0, ctypes.addressof(ids), MAX_PROGS)
    _bpf(BPF_PROG_QUERY, attr, "BPF_PROG_QUERY (BPF_CGROUP_DEVICE)")
    count = struct.unpack_from("=I", attr, 24)[0]
    return list(ids[:count])


def prog_fd(prog_id: int) -> int:
    return _bpf(BPF_PROG_GET_FD_BY_ID, _attr("=III4x", prog_id, 0, 0), f"BPF_PROG_GET_FD_BY_ID {prog_id}")


def attach(cgroup_fd: int, fd: int, replace_fd: int | None = None) -> None:
    flags = BPF_F_ALLOW_MULTI | (BPF_F_REPLACE if replace_fd is not None else 0)
    # target_fd, attach_bpf_fd, attach_type, attach_flags, replace_bpf_fd
    attr = _attr("=IIIII4x", cgroup_fd, fd, BPF_CGROUP_DEVICE, flags, replace_fd or 0)
    _bpf(BPF_PROG_ATTACH, attr, "BPF_PROG_ATTACH (BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI)")


def detach(cgroup_fd: int, fd: int) -> None:
    attr = _attr("=IIIII4x", cgroup_fd, fd, BPF_CGROUP_DEVICE, 0, 0)
    _bpf(BPF_PROG_DETACH, attr, "BPF_PROG_DETACH (BPF_CGROUP_DEVICE)")


def _old_program_fds(cgroup_fd: int) -> list[int]:
    """Fds of the attached device programs; ones an LSM hides from us are skipped, as runc
    skips them (another device program can only restrict further)."""
    fds = []
    try:
        for prog_id in attached(cgroup_fd):
            try:
                fds.append(prog_fd(prog_id))
            except BPFError as err:
                if err.errno not in (errno.EPERM, errno.EACCES, errno.ENOENT):
                    raise
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    return fds


def install(cgroup_dir: str, program: bytes) -> None:
    """Load ``program`` and make it the cgroup's only device filter (runc's protocol)."""
    with _attached(cgroup_dir) as (cgroup_fd, fds):
        old = list(fds)
        new = load(program)
        fds.append(new)
        if len(old) == 1 and _replace(cgroup_fd, new, old[0]):
            return
        attach(cgroup_fd, new)
        for fd in old:
            detach(cgroup_fd, fd)


@contextmanager
def _attached(cgroup_dir: str) -> Iterator[tuple[int, list[int]]]:
    """The cgroup's directory fd and the fds of the device programs attached to it; what the caller
    appends to the list is closed with them."""
    cgroup_fd = os.open(cgroup_dir, os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    fds: list[int] = []
    try:
        fds = _old_program_fds(cgroup_fd)
        yield cgroup_fd, fds
    finally:
        for fd in fds:
            os.close(fd)
        os.close(cgroup_fd)


def _replace(cgroup_fd: int, new: int, old: int) -> bool:
    """Swap ``old`` for ``new`` in one step; False where the kernel lacks BPF_F_REPLACE (< 5.6)."""
    try:
        attach(cgroup_fd, new, replace_fd=old)
    except BPFError as err:
        if err.errno == errno.EINVAL:
            return False
        raise
    return True


def remove_all(cgroup_dir: str) -> None:
    """Detach every device program we can see from the cgroup."""
    with _attached(cgroup_dir) as (cgroup_fd, fds):
        for fd in fds:
            detach(cgroup_fd, fd)
