"""Docker's logdriver.LogEntry framing, checked against the protobuf library's own encoding of the
same message (built here from its .proto description)."""

from __future__ import annotations

import struct

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from dockyard import errors
from dockyard.plugins.logdriver import decode_entry, decode_stream, encode_entry


def log_entry_class() -> type:
    f = descriptor_pb2.FileDescriptorProto(name="entry.proto", package="logdriver", syntax="proto3")
    m = f.message_type.add(name="LogEntry")
    T = descriptor_pb2.FieldDescriptorProto
    for name, number, kind in (("source", 1, T.TYPE_STRING), ("time_nano", 2, T.TYPE_INT64),
                               ("line", 3, T.TYPE_BYTES), ("partial", 4, T.TYPE_BOOL)):
        m.field.add(name=name, number=number, type=kind, label=T.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("logdriver.LogEntry"))


@pytest.mark.parametrize(("source", "t", "line", "partial"), [
    ("stdout", 1_700_000_000_123_456_789, b"hello", False),
    ("stderr", -5, b"x" * 300, True),
    ("", 0, b"", False),
])
def test_encoding_is_protobufs(source: str, t: int, line: bytes, partial: bool) -> None:
    LogEntry = log_entry_class()
    framed = encode_entry(source, t, line, partial)
    (size,) = struct.unpack(">I", framed[:4])
    assert size == len(framed) - 4
    theirs = LogEntry(source=source, time_nano=t, line=line, partial=partial)
    assert framed[4:] == theirs.SerializeToString()
    parsed = LogEntry.FromString(framed[4:])
    assert (parsed.source, parsed.time_nano, parsed.line, parsed.partial) == (source, t, line, partial)
    assert decode_entry(theirs.SerializeToString()) == {"source": source, "time_nano": t, "line": line,
                                                        "partial": partial}


def test_stream_of_entries_and_malformed_ones() -> None:
    data = encode_entry("stdout", 1, b"a") + encode_entry("stderr", 2, b"b")
    assert [e["line"] for e in decode_stream(data)] == [b"a", b"b"]
    with pytest.raises(errors.Internal, match="does not fit"):
        list(decode_stream(data[:-1]))
    with pytest.raises(errors.Internal, match="does not fit"):
        list(decode_stream(struct.pack(">I", 1 << 30)))
    with pytest.raises(errors.Internal, match="truncated length"):
        list(decode_stream(b"\x00\x00"))
