"""Extraction limits (archive/safe_extract.Limits): every archive is bounded while it streams.

Each limit is made small by ``set_limits`` (the test hook; the daemons read
``DOCKYARD_EXTRACT_LIMITS``) and an archive just over it is refused, through a layer apply and
through ``docker cp``, with an InvalidArgument that names the limit and before the member that
goes over is written."""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from layertar import f, make_tar

from dockyard import errors
from dockyard.archive import safe_extract
from dockyard.archive.safe_extract import LimitExceeded, Limits, extract_archive
from dockyard.containerd.diff.apply import apply_layer


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    r.mkdir()
    return r


@pytest.fixture
def small_limits() -> Iterator[None]:
    old = safe_extract.set_limits(Limits(max_bytes=1000, max_members=5, max_path=64, max_header=2048))
    try:
        yield
    finally:
        safe_extract.set_limits(old)


def _both(root: Path, data: bytes) -> list[Exception]:
    """The errors of a layer apply and of a cp of ``data`` (a tar) into ``root``."""
    out = []
    for name, run in (("layer", lambda: apply_layer(io.BytesIO(data), root / "layer")),
                      ("cp", lambda: extract_archive(io.BytesIO(data), root / "cp", "/"))):
        (root / name).mkdir()
        with pytest.raises(errors.InvalidArgument) as info:
            run()
        out.append(info.value)
    return out


def test_limits_parse_sizes_and_refuse_unknown_names() -> None:
    lim = Limits.parse("max_bytes=2g, max_members=10,max_path=1k")
    assert (lim.max_bytes, lim.max_members, lim.max_path) == (2 << 30, 10, 1024)
    assert lim.max_header == Limits().max_header
    with pytest.raises(errors.InvalidArgument, match="unknown limit 'bytes'"):
        Limits.parse("bytes=1")
    with pytest.raises(errors.InvalidArgument, match="not a size"):
        Limits.parse("max_bytes=lots")


def test_defaults_are_sane() -> None:
    lim = Limits()
    assert lim.max_members == 10_000_000 and lim.max_path == 4096 and lim.max_bytes >= 1 << 30


@pytest.mark.usefixtures("small_limits")
def test_expanded_bytes_over_max_bytes_refused_before_written(root: Path) -> None:
    data = make_tar([f("ok", b"x" * 600), f("big", b"y" * 600)])
    for err in _both(root, data):
        assert isinstance(err, LimitExceeded) and "max_bytes (1000 bytes)" in str(err) and "'big'" in str(err)
    for name in ("layer", "cp"):
        assert (root / name / "ok").read_bytes() == b"x" * 600
        assert not (root / name / "big").exists()


@pytest.mark.usefixtures("small_limits")
def test_member_count_over_max_members_refused(root: Path) -> None:
    data = make_tar([f(f"m{i}") for i in range(6)])
    for err in _both(root, data):
        assert "max_members" in str(err)
    assert sorted(os.listdir(root / "cp")) == [f"m{i}" for i in range(5)]


@pytest.mark.usefixtures("small_limits")
def test_name_and_link_target_over_max_path_refused(root: Path) -> None:
    for err in _both(root, make_tar([f("n" * 65)])):
        assert "max_path (64 bytes)" in str(err) and "name" in str(err)
    sym = tarfile.TarInfo("s")
    sym.type, sym.linkname = tarfile.SYMTYPE, "t" * 65
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        tf.addfile(sym)
    with pytest.raises(LimitExceeded, match="link target exceeds the extraction limit max_path"):
        extract_archive(io.BytesIO(buf.getvalue()), root / "cp", "/")


@pytest.mark.usefixtures("small_limits")
def test_huge_pax_header_refused_before_it_is_read(root: Path) -> None:
    """A pax header claiming 1 TiB: refused from its size, never read (tarfile reads headers whole)."""
    hdr = tarfile.TarInfo("././@PaxHeader")
    hdr.type, hdr.size = tarfile.XHDTYPE, 1 << 40
    raw = hdr.tobuf(format=tarfile.GNU_FORMAT) + b"\0" * 4096  # the stream ends long before 1 TiB
    with pytest.raises(LimitExceeded, match=r"max_header \(2048 bytes\)"):
        extract_archive(io.BytesIO(raw), root, "/")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:  # a GNU long name of 3000 bytes
        tf.addfile(tarfile.TarInfo("x" * 3000), io.BytesIO(b""))
    with pytest.raises(LimitExceeded, match="max_header"):
        apply_layer(io.BytesIO(buf.getvalue()), root)


@pytest.mark.usefixtures("small_limits")
def test_gzip_bomb_streams_and_stops_at_the_limit(root: Path) -> None:
    """64 MiB of zeros in a ~64 KiB gzip: refused at the member, nothing of it on disk."""
    ti = tarfile.TarInfo("bomb")
    ti.size = 64 << 20
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        tf.addfile(ti, io.BytesIO(bytes(ti.size)))
    body = gzip.compress(buf.getvalue(), compresslevel=1)
    assert len(body) < 1 << 20
    with pytest.raises(LimitExceeded, match="max_bytes"):
        extract_archive(io.BytesIO(body), root, "/")
    assert os.listdir(root) == []


@pytest.mark.root
def test_free_disk_less_reserve_bounds_a_layer(tmp_path: Path) -> None:
    """On an 8 MiB filesystem a 7.9 MiB file goes over free space less the reserve (2 % here)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mnt)], check=True)
    try:
        data = make_tar([f("fits", b"a" * (1 << 20))])
        apply_layer(io.BytesIO(data), mnt)
        too_big = make_tar([f("huge", b"b" * (7 << 20))])
        with pytest.raises(LimitExceeded, match="free disk space .*disk_reserve"):
            apply_layer(io.BytesIO(too_big), mnt)
        assert not (mnt / "huge").exists()
        assert (mnt / "fits").stat().st_size == 1 << 20
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
