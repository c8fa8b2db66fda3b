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
