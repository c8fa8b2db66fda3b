"""Detach keys on an attached TTY's stdin (Docker's `ctrl-p,ctrl-q`, or `detachKeys=...`).

Docker scans the client's stdin for the sequence only when the container has a TTY; a match
ends the attach (the container keeps running) and the bytes of the sequence never reach the
container. A partial match is held back until the next byte decides it.
"""

from __future__ import annotations

from dockyard import errors

DEFAULT = "ctrl-p,ctrl-q"


def parse(spec: str) -> bytes:
    """`ctrl-p,ctrl-q` → b"\\x10\\x11"; a key is one character, `DEL` or `ctrl-<a-z@[\\]^_>`, spelt
    exactly so (moby/term's ToBytes: `ctrl-A` and ` ctrl-a` are unknown)."""
    out = bytearray()
    for k in spec.split(","):
        if len(k) == 1:
            out.append(ord(k))
        elif k == "DEL":
            out.append(127)
        elif k.startswith("ctrl-") and len(k) == 6:
            c = k[5]
            if "a" <= c <= "z":
                out.append(ord(c) - ord("a") + 1)
            elif c in "@[\\]^_":
                out.append(ord(c) - ord("@"))
            else:
                raise errors.InvalidArgument(f"Unknown character: '{k}'")
        else:
            raise errors.InvalidArgument(f"Unknown character: '{k}'")
    return bytes(out)


class Scanner:
    """Feeds stdin through; `feed` returns what to forward and whether the sequence was seen."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self.held = b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        out = bytearray()
        for b in data:
            cand = self.held + bytes([b])
            if self.keys and self.keys.startswith(cand):
                if cand == self.keys:
                    self.held = b""
                    return bytes(out), True
                self.held = cand
            else:
                out += cand
                self.held = b""
        return bytes(out), False
