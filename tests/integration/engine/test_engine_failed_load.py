"""A failed ``load`` or ``import`` leaves nothing behind (issue 13): what the archive's first
members wrote (blobs, the snapshots of the layers already unpacked) is held by the operation's
lease from the moment it is written and swept when the operation fails, as after a failed pull.
The store's directories (blobs, ingests, snapshots) are compared before and after."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from tests.conftest import Daemon

pytestmark = pytest.mark.root

REF = "failed/load:1"


def _layer_of(path: str, data: bytes) -> bytes:
    """A layer tar holding one file, ``path``, of ``data``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        _add(tf, path, data)
    return buf.getvalue()


def _layer(path: str, size: int) -> bytes:
    """A layer tar holding one file of ``size`` random (incompressible) bytes."""
    return _layer_of(path, os.urandom(size))


def _add(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tf.addfile(info, io.BytesIO(data))


def archive(layers: list[bytes], diff_ids: list[bytes] | None = None) -> tuple[bytes, list[str]]:
    """A ``docker save`` archive of the old format (config first, then ``<id>/layer.tar`` each,
    then manifest.json); the config's diff_ids are those of ``diff_ids`` (default: ``layers``).
    Returns the tar and the member names of the layers, in order."""
    ids = ["sha256:" + hashlib.sha256(x).hexdigest() for x in (diff_ids or layers)]
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                         "rootfs": {"type": "layers", "diff_ids": ids}}).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    paths = [f"{i:02d}{'0' * 62}/layer.tar" for i in range(len(layers))]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        _add(tf, config_name, config)
        for path, layer in zip(paths, layers):
            _add(tf, path, layer)
        _add(tf, "manifest.json", json.dumps([{"Config": config_name, "RepoTags": [REF], "Layers": paths}]).encode())
    return buf.getvalue(), paths


def offset_of(tar: bytes, member: str) -> tuple[int, int]:
    """(offset of ``member``'s data in ``tar``, its size)."""
    with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
        info = tf.getmember(member)
        return info.offset_data, info.size


def store_listing(d: Daemon) -> dict[str, list[str]]:
    root = d.data_root / "containerd"
    out = {}
    for what, path in (("blobs", root / "content" / "blobs" / "sha256"), ("ingests", root / "content" / "ingest"),
                       ("snapshots", root / "snapshots" / "overlayfs" / "snapshots")):
        out[what] = sorted(p.name for p in path.iterdir()) if path.exists() else []
    return out


def ok(d: Daemon, *args: str, input: bytes | None = None) -> str:
    r = d.cli(*args, input=input, timeout=120)
    assert r.returncode == 0, f"{args}: {r.stderr.decode()}"
    return r.stdout.decode()


def fails(d: Daemon, *args: str, input: bytes | None = None) -> str:
    r = d.cli(*args, input=input, timeout=120)
    assert r.returncode != 0, f"{args} succeeded: {r.stdout.decode()}"
    return r.stderr.decode()


def a_good_load_works(d: Daemon, tmp_path: Path) -> None:
    """After the failure, the whole archive loads and its files are in a container's rootfs."""
    one, two = os.urandom(1 << 20), os.urandom(2 << 20)
    good, _ = archive([_layer_of("one", one), _layer_of("two", two)])
    ok(d, "load", "-i", str(_write(tmp_path / "good.tar", good)))
    ok(d, "create", "--name", "loaded", REF)
    try:
        ok(d, "cp", "loaded:/two", str(tmp_path / "two"))
        ok(d, "cp", "loaded:/one", str(tmp_path / "one"))
    finally:
        ok(d, "rm", "-f", "loaded")
    assert (tmp_path / "one").read_bytes() == one and (tmp_path / "two").read_bytes() == two
    ok(d, "rmi", REF)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.fixture
def daemon_before(fresh_daemon: Daemon) -> tuple[Daemon, dict[str, list[str]]]:
    return fresh_daemon, store_listing(fresh_daemon)


def test_a_load_cut_in_its_second_layer_leaves_nothing_behind(daemon_before, tmp_path: Path) -> None:
    d, before = daemon_before
    tar, paths = archive([_layer("one", 1 << 20), _layer("two", 4 << 20)])
    start, size = offset_of(tar, paths[1])
    cut = _write(tmp_path / "cut.tar", tar[:start + size // 2])

    fails(d, "load", "-i", str(cut))
    assert store_listing(d) == before
    assert ok(d, "images", "-q", REF).strip() == ""
    a_good_load_works(d, tmp_path)


def test_a_load_of_a_garbled_tar_leaves_nothing_behind(daemon_before, tmp_path: Path) -> None:
    """The config and the first layer are stored; then the tar turns to noise."""
    d, before = daemon_before
    tar, paths = archive([_layer("one", 1 << 20), _layer("two", 1 << 20)])
    start, _ = offset_of(tar, paths[1])
    garbled = _write(tmp_path / "garbled.tar", tar[:start - 512] + os.urandom(len(tar) - start + 512))

    fails(d, "load", "-i", str(garbled))
    assert store_listing(d) == before
    a_good_load_works(d, tmp_path)


def test_a_load_whose_second_layer_fails_to_unpack_leaves_no_snapshot(daemon_before, tmp_path: Path) -> None:
    """Every blob arrives, the first layer is unpacked and committed, the second one's content
    does not match its diff_id: the first layer's snapshot goes with the blobs."""
    d, before = daemon_before
    layers = [_layer("one", 1 << 20), _layer("two", 1 << 20)]
    tar, _ = archive([layers[0], _layer("other", 1 << 20)], diff_ids=layers)

    err = fails(d, "load", "-i", str(_write(tmp_path / "mismatch.tar", tar)))
    assert "diff_id" in err or "digest" in err, err
    assert store_listing(d) == before
    a_good_load_works(d, tmp_path)


def test_an_import_of_a_garbled_tar_leaves_nothing_behind(daemon_before, tmp_path: Path) -> None:
    d, before = daemon_before
    rootfs = _layer("file", 2 << 20)
    garbled = _write(tmp_path / "rootfs.tar", rootfs[:1536] + b"\x00garbage" * 4096 + os.urandom(1 << 20))

    fails(d, "import", str(garbled), "failed/import:1")
    assert store_listing(d) == before
    assert ok(d, "images", "-q", "failed/import:1").strip() == ""
    a_good_load_works(d, tmp_path)
