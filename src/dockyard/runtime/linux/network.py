"""Bring the loopback interface up in a fresh network namespace, without ip(8).

A new netns has ``lo`` down; runc raises it so 127.0.0.1 works.  Two ioctls on
any socket (SIOCGIFFLAGS/SIOCSIFFLAGS) are all it takes.
"""

from __future__ import annotations

import _socket  # not socket: its import (enum, selectors) costs ~10 ms on create's path
import fcntl
import struct

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


def link_up(name: str = "lo") -> None:
    s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
    try:
        req = struct.pack("16sh22x", name.encode(), 0)
        res = fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, req)
        flags = struct.unpack("16sh22x", res)[1]
        if flags & IFF_UP:
            return
        fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack("16sh22x", name.encode(), flags | IFF_UP))
    finally:
        s.close()
