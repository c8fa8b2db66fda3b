"""Linux inotify through ctypes (no package): directories watched, events read from one fd.

Only what ``compose watch`` needs: ``add`` a directory (its entries' creations, writes, attribute
changes, deletions and moves are reported, and its own deletion or move), ``read`` the events
waiting (blocking up to a timeout, or until ``wake``), ``close``.
"""

from __future__ import annotations

import ctypes
import errno
import os
import select
import struct

IN_MODIFY, IN_ATTRIB, IN_CLOSE_WRITE = 0x2, 0x4, 0x8
IN_MOVED_FROM, IN_MOVED_TO, IN_CREATE, IN_DELETE = 0x40, 0x80, 0x100, 0x200
IN_DELETE_SELF, IN_MOVE_SELF, IN_Q_OVERFLOW, IN_IGNORED = 0x400, 0x800, 0x4000, 0x8000
IN_ONLYDIR = 0x01000000
IN_NONBLOCK, IN_CLOEXEC = os.O_NONBLOCK, os.O_CLOEXEC
MASK = (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
        | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
_HEAD = struct.Struct("iIII")  # wd, mask, cookie, len (struct inotify_event)


class Unavailable(OSError):
    """No inotify here (not Linux, no instances or watches left): the caller polls instead."""


class Inotify:
    def __init__(self) -> None:
        try:
            self._libc = ctypes.CDLL(None, use_errno=True)
            init = self._libc.inotify_init1
        except (OSError, AttributeError) as err:
            raise Unavailable(errno.ENOSYS, f"inotify: {err}") from None
        fd = init(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            code = ctypes.get_errno()
            raise Unavailable(code, f"inotify_init1: {os.strerror(code)}")
        self.fd = fd
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    def add(self, directory: str) -> int | None:
        """Watch ``directory``; None when it is gone or no directory (the caller's next walk says so)."""
        wd = self._libc.inotify_add_watch(self.fd, os.fsencode(directory), MASK)
        if wd < 0:
            code = ctypes.get_errno()
            if code in (errno.ENOENT, errno.ENOTDIR, errno.EACCES):
                return None
            raise Unavailable(code, f"inotify_add_watch {directory}: {os.strerror(code)}")
        return int(wd)

    def read(self, timeout: float | None) -> list[tuple[int, int, str]]:
        """The events waiting as (watch descriptor, mask, name), after blocking up to ``timeout``
        seconds for the first; empty after the timeout or a ``wake``."""
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        poller.register(self._wake_r, select.POLLIN)
        ready = {fd for fd, _ in poller.poll(None if timeout is None else int(timeout * 1000))}
        if self._wake_r in ready:
            while _read_some(self._wake_r):
                pass
        if self.fd not in ready:
            return []
        out = []
        while data := _read_some(self.fd):
            out.extend(parse(data))
        return out

    def wake(self) -> None:
        """Make a blocked ``read`` return (safe from a signal handler)."""
        try:
            os.write(self._wake_w, b"x")
        except BlockingIOError:
            pass  # a wake-up is pending already

    def close(self) -> None:
        for fd in (self.fd, self._wake_r, self._wake_w):
            os.close(fd)


def _read_some(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except BlockingIOError:
        return b""


def parse(data: bytes) -> list[tuple[int, int, str]]:
    """``struct inotify_event`` records as (wd, mask, name)."""
    out = []
    at = 0
    while at + _HEAD.size <= len(data):
        wd, mask, _cookie, size = _HEAD.unpack_from(data, at)
        name = data[at + _HEAD.size:at + _HEAD.size + size].split(b"\0", 1)[0]
        out.append((wd, mask, os.fsdecode(name)))
        at += _HEAD.size + size
    return out
