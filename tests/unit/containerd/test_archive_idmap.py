"""A user namespace's owners in archives (archive/idmap.py): ``docker cp`` out and a committed layer
carry the container's ids, ``docker cp`` in writes the host's; an id the ranges cannot map is refused."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from dockyard import errors
from dockyard.archive.files import extract_tar, write_tar
from dockyard.archive.idmap import OVERFLOW_ID, IdMap, IdRange
from dockyard.containerd.diff.diff import write_diff

pytestmark = pytest.mark.root  # chown to the range's ids

IDS = IdMap(IdRange(0, 296608, 65536), IdRange(0, 396608, 65536))


def test_range_moves_both_ways_and_refuses_what_it_cannot_map() -> None:
    r = IdRange(0, 296608, 65536)
    assert r.to_container(296608 + 7) == 7 and r.to_container(0) == OVERFLOW_ID
    assert r.to_host(65535) == 296608 + 65535
    with pytest.raises(errors.InvalidArgument, match="Container ID 65536 cannot be mapped to a host ID"):
        r.to_host(65536)


def _tree(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "d").mkdir(parents=True)
    (root / "d" / "f").write_text("x")
    os.chown(root / "d", 296608, 396608)
    os.chown(root / "d" / "f", 296608 + 7, 396608 + 8)
    return root


def _owners(data: bytes) -> dict[str, tuple[int, int]]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        return {m.name: (m.uid, m.gid) for m in tf}


def test_write_tar_and_write_diff_carry_the_containers_ids(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    out = io.BytesIO()
    write_tar(str(root), "/d", out, ids=IDS)
    assert _owners(out.getvalue()) == {"d": (0, 0), "d/f": (7, 8)}
    out = io.BytesIO()
    write_diff(root, out, ids=IDS)
    assert _owners(out.getvalue()) == {"d": (0, 0), "d/f": (7, 8)}
    out = io.BytesIO()
    write_tar(str(root), "/d", out)
    assert _owners(out.getvalue())["d/f"] == (296608 + 7, 396608 + 8)


def _archive(uid: int, gid: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        ti = tarfile.TarInfo("in")
        ti.size, ti.uid, ti.gid = 2, uid, gid
        tf.addfile(ti, io.BytesIO(b"hi"))
    return buf.getvalue()


def test_extract_tar_writes_the_host_ids(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    extract_tar(str(root), "/d", io.BytesIO(_archive(5, 6)), ids=IDS)
    st = (root / "d" / "in").stat()
    assert (st.st_uid, st.st_gid) == (296608 + 5, 396608 + 6)
    extract_tar(str(root), "/", io.BytesIO(_archive(5, 6)), owner=(9, 10), ids=IDS)
    st = (root / "in").stat()
    assert (st.st_uid, st.st_gid) == (296608 + 9, 396608 + 10)
    with pytest.raises(errors.InvalidArgument, match="cannot be mapped"):
        extract_tar(str(root), "/d", io.BytesIO(_archive(70000, 6)), ids=IDS)
