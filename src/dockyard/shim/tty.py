"""The shim's terminals: a pty master the runtime sends over a console socket, copied to
the stdout FIFO and from the stdin FIFO in the shim's own select loop.

Keys: ``""`` is init's console, any other an exec's ID. Selector data is
``("pty", key)`` for the master and ``("ptyin", key)`` for the stdin FIFO.
"""

from __future__ import annotations

import fcntl
import os
import selectors
import socket
import time


class Tty:
    """A pty master and the FIFOs it is copied to (out) and from (stdin)."""

    def __init__(self, master: int, out: int, stdin: int) -> None:
        self.master = master
        self.out = out
        self.stdin = stdin


def console_listener(path: str) -> socket.socket:
    """A UNIX socket the runtime sends the pty master to (``--console-socket``)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lsock.bind(path)
    lsock.listen(1)
    return lsock


def receive_master(lsock: socket.socket, path: str) -> int | None:
    """The pty master fd the runtime sent on ``lsock`` (closed and unlinked here), None if it sent none."""
    lsock.settimeout(10)
    try:
        conn, _ = lsock.accept()
        with conn:
            _, fds, _, _ = socket.recv_fds(conn, 4096, 1)
    finally:
        lsock.close()
        os.unlink(path)
    return fds[0] if fds else None


class Terminals:
    """The ptys of one shim, registered on its selector."""

    def __init__(self, sel: selectors.BaseSelector) -> None:
        self.sel = sel
        self.ttys: dict[str, Tty] = {}

    def add(self, key: str, tty: Tty) -> None:
        os.set_blocking(tty.master, False)
        self.ttys[key] = tty
        self.sel.register(tty.master, selectors.EVENT_READ, ("pty", key))
        if tty.stdin >= 0:
            os.set_blocking(tty.stdin, False)
            self.sel.register(tty.stdin, selectors.EVENT_READ, ("ptyin", key))

    def get(self, key: str) -> Tty | None:
        return self.ttys.get(key)

    def pty_out(self, key: str) -> bool:
        """Copy what the pty has to the stdout FIFO; False once the terminal is closed."""
        tty = self.ttys.get(key)
        if tty is None:
            return False
        while True:
            try:
                data = os.read(tty.master, 65536)
            except BlockingIOError:
                return True
            except OSError:  # EIO: every slave end is closed
                data = b""
            if not data:
                self.close(key)
                return False
            if tty.out >= 0:
                try:
                    write_all(tty.out, data)
                except OSError:
                    pass

    def pty_in(self, key: str) -> None:
        tty = self.ttys.get(key)
        if tty is None:
            return
        try:
            data = os.read(tty.stdin, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.sel.unregister(tty.stdin)
            os.close(tty.stdin)
            tty.stdin = -1
            return
        try:
            write_all(tty.master, data)
        except OSError:
            pass

    def drain(self, key: str) -> None:
        """At the process's exit: copy what is left, then close."""
        if key in self.ttys:
            self.pty_out(key)
            self.close(key)

    def close(self, key: str) -> None:
        tty = self.ttys.pop(key, None)
        if tty is None:
            return
        for fd in (tty.master, tty.stdin):
            if fd >= 0:
                try:
                    self.sel.unregister(fd)
                except (KeyError, ValueError):
                    pass
                os.close(fd)
        if tty.out >= 0:
            os.close(tty.out)


def set_size(tty: Tty, width: int, height: int) -> None:
    import struct
    import termios

    fcntl.ioctl(tty.master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            time.sleep(0.005)  # a full pipe: the reader drains it soon
            continue
        view = view[n:]
