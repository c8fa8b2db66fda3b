"""Terminal support: a pty allocated *inside* the container, master sent to the caller.

Like runc, the master is created from the container's own devpts instance
(``/dev/ptmx`` after the pivot) and sent over ``--console-socket`` with
SCM_RIGHTS; the slave becomes init's controlling terminal and stdio.
"""

from __future__ import annotations

import fcntl
import os
import socket
import struct
import termios

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

TIOCGPTN = 0x80045430
TIOCSPTLCK = 0x40045431


def open_pty() -> tuple[int, str]:
    master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
    n = struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, struct.pack("I", 0)))[0]
    return master, f"/dev/pts/{n}"


def setup_console(console_sock: socket.socket, size: dict[str, int] | None) -> None:
    master, slave_path = open_pty()
    if size and size.get("height") and size.get("width"):
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", size["height"], size["width"], 0, 0))
    slave = os.open(slave_path, os.O_RDWR | os.O_NOCTTY)
    socket.send_fds(console_sock, [slave_path.encode()], [master])
    console_sock.close()
    os.close(master)
    os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)


class HostConsoleMissing(OSError):
    """A foreground process with ``process.terminal`` needs a terminal of ours (runc: the same)."""


class ForegroundTerminal:
    """runc's foreground tty: the container's pty master comes to *us*, and we copy.

    ``run``/``exec`` without ``--detach`` and with ``process.terminal`` hand init the
    ``child`` end of a socketpair as its console socket; ``attach`` receives the master,
    clears ONLCR on it (the container's newlines reach our stdout unchanged), puts our own
    terminal in raw mode (output processing kept, as runc keeps it) and copies stdin → master and master → stdout until ``close``,
    which drains what the process wrote before it exited and restores the terminal.
    Like runc, the terminal is stderr, stdout or stdin if one is a tty, else ``/dev/tty``.
    """

    def __init__(self) -> None:
        self.host_fd, self._own_host = _host_console()
        self.parent, self.child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.master = -1
        self._saved: list[Any] | None = None
        self._threads: list[Any] = []
        self._stop_r, self._stop_w = os.pipe()

    def receive_in_background(self) -> None:
        """Attach as soon as the master arrives (runc's goroutine): an exec'd process runs at once,
        so ONLCR must be cleared before it writes much, not after the exec returned."""
        import threading

        self._error: BaseException | None = None

        def receive() -> None:
            try:
                self.attach()
            except BaseException as err:  # noqa: BLE001 - reported by wait_attached
                self._error = err

        self._receiver = threading.Thread(target=receive, daemon=True)
        self._receiver.start()

    def wait_attached(self, timeout: float = 60.0) -> None:
        self._receiver.join(timeout)
        if self._receiver.is_alive():
            raise OSError(110, "the container's console did not arrive")
        if self._error is not None:
            raise self._error

    def attach(self) -> None:
        import threading
        import tty

        _, fds, _, _ = socket.recv_fds(self.parent, 16, 1)
        if not fds:
            raise OSError(5, "the container sent no console")
        self.master = fds[0]
        attrs = termios.tcgetattr(self.master)
        attrs[1] &= ~termios.ONLCR
        termios.tcsetattr(self.master, termios.TCSANOW, attrs)
        self._saved = termios.tcgetattr(self.host_fd)
        tty.setraw(self.host_fd, termios.TCSANOW)
        raw = termios.tcgetattr(self.host_fd)
        raw[1] |= termios.OPOST  # as runc's console does: our terminal still turns \n into \r\n
        termios.tcsetattr(self.host_fd, termios.TCSANOW, raw)
        self.resize()
        for target in (self._copy_in, self._copy_out):
            t = threading.Thread(target=target, daemon=True)
            t.start()
            self._threads.append(t)

    def size(self) -> dict[str, int] | None:
        """Our terminal's size as a process.consoleSize (an exec'd process may read it at once)."""
        try:
            rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(self.host_fd, termios.TIOCGWINSZ, b"\0" * 8))
        except OSError:
            return None
        return {"height": rows, "width": cols} if rows and cols else None

    def resize(self) -> None:
        if self.master < 0:
            return
        try:
            size = fcntl.ioctl(self.host_fd, termios.TIOCGWINSZ, b"\0" * 8)
            fcntl.ioctl(self.master, termios.TIOCSWINSZ, size)
        except OSError:
            pass  # runc ignores resize errors too (the terminal may be gone after a SIGHUP)

    def _copy_in(self) -> None:
        """stdin → master until stdin ends (its EOF is not passed on: runc's io.Copy does not)."""
        import select

        while True:
            ready, _, _ = select.select([0, self._stop_r], [], [])
            if self._stop_r in ready:
                return
            try:
                data = os.read(0, 65536)
            except OSError:
                return
            if not data:
                return
            try:
                _write_all(self.master, data)
            except OSError:
                return

    def _copy_out(self) -> None:
        """master → stdout; after ``close`` asks, whatever is still buffered, then stop."""
        import select

        stopping = False
        while True:
            ready, _, _ = select.select([self.master, self._stop_r], [], [], 0 if stopping else None)
            if self._stop_r in ready and not stopping:
                stopping = True
                os.set_blocking(self.master, False)
                continue
            if self.master not in ready:
                if stopping:
                    return
                continue
            try:
                data = os.read(self.master, 65536)
            except (BlockingIOError, OSError):
                return  # EIO: every slave end is closed
            if not data:
                return
            try:
                _write_all(1, data)
            except OSError:
                return

    def close(self) -> None:
        """After the process exited: drain its output, stop copying, restore our terminal."""
        os.write(self._stop_w, b"x")
        for t in self._threads:
            t.join(5.0)
        if self._saved is not None:
            termios.tcsetattr(self.host_fd, termios.TCSAFLUSH, self._saved)
            self._saved = None
        try:
            self.parent.shutdown(socket.SHUT_RDWR)  # wakes a receiver still waiting for a master
        except OSError:
            pass
        for sock in (self.parent, self.child):
            sock.close()
        for fd in (self.master, self._stop_r, self._stop_w) + ((self.host_fd,) if self._own_host else ()):
            if fd >= 0:
                os.close(fd)
        self.master = -1


def _host_console() -> tuple[int, bool]:
    """(fd, opened by us): the first of stderr, stdout, stdin that is a terminal, else /dev/tty."""
    for fd in (2, 1, 0):
        if os.isatty(fd):
            return fd, False
    try:
        return os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC), True
    except OSError as err:
        raise HostConsoleMissing(err.errno, f"open /dev/tty: {(err.strerror or '').lower()}") from err


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
