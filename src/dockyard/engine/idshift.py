"""The owners in a tar stream moved between a remapped container's ids and the host's (``--userns-remap``).

dockerd's archives of a remapped container carry the container's view of ownership (host id minus the
range's start) and what is copied in gets the host ids; so do ``docker export`` and ``docker commit``'s
layer. Only the headers change: each ustar header's ``uid`` and ``gid`` (octal, or base-256 when large)
and ``uid``/``gid`` records of PAX extended headers, the checksum recomputed; the data blocks pass as
they came, so a stream is rewritten as it flows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from dockyard import errors

BLOCK = 512
OVERFLOW_ID = 65534  # what a user namespace shows for an id outside its map

Mapper = Callable[[int], int]


def to_container(start: int, size: int) -> Mapper:
    """Host id -> the container's (ids outside the range show as the overflow id, as inside the namespace)."""
    return lambda h: h - start if start <= h < start + size else OVERFLOW_ID


def to_host(start: int, size: int) -> Mapper:
    """Container id -> host id; an id the range cannot map is refused (dockerd's idtools.ToHost)."""
    def move(c: int) -> int:
        if not 0 <= c < size:
            raise errors.InvalidArgument(f"Container ID {c} cannot be mapped to a host ID")
        return start + c
    return move


def _number(field: bytes) -> int:
    if field and field[0] & 0x80:  # base-256
        value = field[0] & 0x7F
        for b in field[1:]:
            value = (value << 8) | b
        return value
    text = field.split(b"\0", 1)[0].strip(b" ")
    return int(text, 8) if text else 0


def _field(value: int, width: int) -> bytes:
    if value < 8 ** (width - 1):
        return b"%0*o\0" % (width - 1, value)
    return bytes([0x80]) + value.to_bytes(width - 1, "big")


def _is_zero(header: bytes) -> bool:
    return header == b"\0" * BLOCK


def _rewrite_header(header: bytes, uid: Mapper, gid: Mapper) -> bytes:
    h = bytearray(header)
    h[108:116] = _field(uid(_number(header[108:116])), 8)
    h[116:124] = _field(gid(_number(header[116:124])), 8)
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h)


def _rewrite_pax(data: bytes, uid: Mapper, gid: Mapper) -> bytes:
    out, pos = [], 0
    while pos < len(data):
        space = data.index(b" ", pos)
        length = int(data[pos:space])
        key, _, value = data[space + 1:pos + length - 1].partition(b"=")
        if key in (b"uid", b"gid"):
            moved = str((uid if key == b"uid" else gid)(int(value))).encode()
            body = b" " + key + b"=" + moved + b"\n"
            n = len(body) + len(str(len(body)))
            n = len(body) + len(str(n))
            out.append(str(n).encode() + body)
        else:
            out.append(data[pos:pos + length])
        pos += length
    return b"".join(out)


class Shifter:
    """Feed a tar stream in any chunks; get back the same stream with its owners moved."""

    def __init__(self, uid: Mapper, gid: Mapper) -> None:
        self.uid, self.gid = uid, gid
        self.buf = b""
        self.passing = 0  # data bytes (padded) of the current entry still to pass through
        self.pax: bytes | None = None  # the header of a PAX entry whose records are being gathered
        self.pax_size = 0

    def feed(self, data: bytes) -> bytes:
        self.buf += data
        out: list[bytes] = []
        while True:
            if self.passing:
                take = min(self.passing, len(self.buf))
                out.append(self.buf[:take])
                self.buf, self.passing = self.buf[take:], self.passing - take
                if self.passing:
                    break
            if self.pax is not None:
                padded = -(-self.pax_size // BLOCK) * BLOCK
                if len(self.buf) < padded:
                    break
                records = _rewrite_pax(self.buf[:self.pax_size], self.uid, self.gid)
                pax_header = bytearray(self.pax)
                pax_header[124:136] = _field(len(records), 12)
                out.append(_rewrite_header(bytes(pax_header), lambda i: i, lambda i: i))
                out.append(records + b"\0" * (-len(records) % BLOCK))
                self.buf, self.pax = self.buf[padded:], None
                continue
            if len(self.buf) < BLOCK:
                break
            header, self.buf = self.buf[:BLOCK], self.buf[BLOCK:]
            if _is_zero(header):
                out.append(header)
                continue
            size = _number(header[124:136])
            if header[156:157] in (b"x", b"g"):
                self.pax, self.pax_size = header, size
                continue
            kind = header[156:157]
            out.append(header if kind in (b"L", b"K") else _rewrite_header(header, self.uid, self.gid))
            # links, devices, directories and FIFOs carry no data, whatever their size field says (as tarfile)
            self.passing = 0 if kind in (b"1", b"2", b"3", b"4", b"5", b"6") else -(-size // BLOCK) * BLOCK
        return b"".join(out)

    def finish(self) -> bytes:
        rest, self.buf = self.buf, b""
        return rest


async def shift(chunks: AsyncIterator[bytes], uid: Mapper, gid: Mapper) -> AsyncIterator[bytes]:
    s = Shifter(uid, gid)
    async for data in chunks:
        moved = s.feed(data)
        if moved:
            yield moved
    tail = s.finish()
    if tail:
        yield tail


def shift_bytes(data: bytes, uid: Mapper, gid: Mapper) -> bytes:
    s = Shifter(uid, gid)
    return s.feed(data) + s.finish()
