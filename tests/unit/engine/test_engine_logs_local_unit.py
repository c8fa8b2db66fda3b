"""The local log driver's file format, rotation and readers, without a daemon."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from dockyard import errors
from dockyard.engine.logs_local import LocalLog, _files, read_local, validate_opts
from dockyard.engine.streams import STDERR, STDOUT


def _fill(d: Path, n: int, **kw: object) -> LocalLog:
    log = LocalLog(d, **kw)  # type: ignore[arg-type]
    for i in range(n):
        log.write(STDERR if i % 5 == 0 else STDOUT, b"line%03d\n" % i)
    log.close()
    if log._compressor is not None:
        log._compressor.join()
    return log


def test_rotation_keeps_max_file_and_compresses(tmp_path: Path) -> None:
    _fill(tmp_path, 200, max_size=300, max_file=4)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "container.log", "container.log.1.gz", "container.log.2.gz", "container.log.3.gz"]
    assert (tmp_path / "container.log").stat().st_size <= 300
    with gzip.open(tmp_path / "container.log.3.gz") as f:
        assert f.read(4) != b""
    entries = read_local(tmp_path, True, True, None)
    nums = [int(e[1][4:7]) for e in entries]
    assert nums == list(range(nums[0], 200)) and nums[0] > 0  # oldest files dropped, order kept


def test_tail_reads_backwards_and_filters_streams(tmp_path: Path) -> None:
    _fill(tmp_path, 50, max_size=0)
    assert [e[1] for e in read_local(tmp_path, True, True, 2)] == [b"line048\n", b"line049\n"]
    assert [e[1] for e in read_local(tmp_path, False, True, 2)] == [b"line040\n", b"line045\n"]
    assert read_local(tmp_path, True, True, 0) == []
    stamp = read_local(tmp_path, True, True, 1)[0][2]
    assert len(stamp) == 30 and stamp.endswith("Z")


def test_tail_spans_compressed_files(tmp_path: Path) -> None:
    _fill(tmp_path, 60, max_size=200, max_file=5)
    got = [e[1] for e in read_local(tmp_path, True, True, 20)]
    assert got == [b"line%03d\n" % i for i in range(40, 60)]


def test_torn_last_record_is_ignored(tmp_path: Path) -> None:
    _fill(tmp_path, 3, max_size=0)
    with open(tmp_path / "container.log", "ab") as f:
        f.write(b"\x00\x00\x00\x40\x01partial")  # a crash mid-write
    assert [e[1] for e in read_local(tmp_path, True, True, None)] == [b"line000\n", b"line001\n", b"line002\n"]


def test_partial_line_flushed_at_close_and_in_flight_gz_preferred(tmp_path: Path) -> None:
    log = LocalLog(tmp_path, max_size=0)
    log.write(STDOUT, b"no newline")
    log.close()
    assert [e[1] for e in read_local(tmp_path, True, True, None)] == [b"no newline"]
    (tmp_path / "container.log.1").write_bytes(b"")
    (tmp_path / "container.log.1.gz").write_bytes(gzip.compress(b""))
    assert [p.name for p in _files(tmp_path)] == ["container.log.1.gz", "container.log"]


@pytest.mark.parametrize(("opts", "message"), [
    ({"labels": "a"}, "unknown log opt 'labels' for log driver local"),
    ({"max-file": "0"}, "max-file cannot be less than 1"),
    ({"max-file": "x"}, "invalid max-file"),
    ({"max-size": "lots"}, "invalid max-size"),
    ({"compress": "maybe"}, "invalid compress"),
])
def test_validate_opts(opts: dict[str, str], message: str) -> None:
    with pytest.raises(errors.InvalidArgument, match=message):
        validate_opts(opts)
    validate_opts({"max-size": "1m", "max-file": "2", "compress": "false"})
