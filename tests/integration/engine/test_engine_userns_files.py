"""``--userns-remap`` with ``docker cp`` (both ways), ``export`` and ``commit``, as dockerd: archives and
committed layers carry the container's view of ownership (host ids unmapped back), files copied in get
the remapped host ids. Asserted on the tar streams and from the host (/proc/<pid>/root)."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Daemon, started_daemon

pytestmark = pytest.mark.root

HOST_ID = 296608  # no account on the host has it: the "UID:GID" shorthand, a 65536-id range


@pytest.fixture(scope="module")
def remapped(busybox_tar: Path) -> Iterator[Daemon]:
    with started_daemon(busybox_tar, extra_args=("--userns-remap", f"{HOST_ID}:{HOST_ID}")) as d:
        yield d


@pytest.fixture
def box(remapped: Daemon) -> Iterator[str]:
    r = remapped.cli("run", "-d", "busybox", "sh", "-c",
                     "echo x > /f && chown 7:8 /f && mkdir /d && echo y > /d/g && touch /ready && sleep 300")
    assert r.returncode == 0, r.stderr.decode()
    cid = r.stdout.decode().strip()
    try:
        for _ in range(100):
            if remapped.cli("exec", cid, "test", "-e", "/ready").returncode == 0:
                break
        yield cid
    finally:
        remapped.cli("rm", "-f", cid)


def api(d: Daemon, method: str, path: str, body: bytes = b"") -> bytes:
    args = ["curl", "-sf", "--unix-socket", str(d.socket), "-X", method, f"http://d{path}"]
    if body:
        args += ["-H", "Content-Type: application/x-tar", "--data-binary", "@-"]
    r = subprocess.run(args, input=body, capture_output=True, timeout=60)
    assert r.returncode == 0, (path, r.stderr)
    return r.stdout


def owners(tar: bytes) -> dict[str, tuple[int, int]]:
    with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
        return {m.name.lstrip("./"): (m.uid, m.gid) for m in tf}


def test_cp_out_and_export_show_the_containers_ids(remapped: Daemon, box: str) -> None:
    got = owners(api(remapped, "GET", f"/containers/{box}/archive?path=/f"))
    assert got == {"f": (7, 8)}
    got = owners(api(remapped, "GET", f"/containers/{box}/archive?path=/d"))
    assert got == {"d": (0, 0), "d/g": (0, 0)}
    got = owners(api(remapped, "GET", f"/containers/{box}/export"))
    assert got["f"] == (7, 8) and got["bin/busybox"] == (0, 0) and got["d/g"] == (0, 0)


def test_cp_in_gets_the_remapped_host_ids(remapped: Daemon, box: str) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        ti = tarfile.TarInfo("in")
        ti.size, ti.uid, ti.gid = 2, 5, 6
        tf.addfile(ti, io.BytesIO(b"hi"))
    api(remapped, "PUT", f"/containers/{box}/archive?path=/d", buf.getvalue())
    pid = json.loads(remapped.cli("inspect", box).stdout)[0]["State"]["Pid"]
    st = Path(f"/proc/{pid}/root/d/in").stat()
    assert (st.st_uid, st.st_gid) == (HOST_ID + 5, HOST_ID + 6)
    inside = remapped.cli("exec", box, "stat", "-c", "%u:%g", "/d/in").stdout.decode().strip()
    assert inside == "5:6"


def test_commit_layer_has_the_containers_ids(remapped: Daemon, box: str) -> None:
    r = remapped.cli("commit", box, "c2remap:1")
    assert r.returncode == 0, r.stderr.decode()
    try:
        out = remapped.cli("run", "--rm", "c2remap:1", "stat", "-c", "%u:%g", "/f", "/d/g").stdout.decode().split()
        assert out == ["7:8", "0:0"]
        out = remapped.cli("run", "--rm", "--userns", "host", "c2remap:1", "stat", "-c", "%u:%g", "/f").stdout
        assert out.decode().strip() == "7:8"
        saved = remapped.cli("save", "c2remap:1").stdout
        with tarfile.open(fileobj=io.BytesIO(saved)) as tf:
            index = json.load(tf.extractfile("manifest.json"))  # type: ignore[arg-type]
            top = tf.extractfile(index[0]["Layers"][-1]).read()  # type: ignore[union-attr]
        layer = owners(top)
        assert layer["f"] == (7, 8) and layer["d/g"] == (0, 0), layer
    finally:
        remapped.cli("rmi", "-f", "c2remap:1")
