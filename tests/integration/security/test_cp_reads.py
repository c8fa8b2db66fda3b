"""Reading out of a container stays inside it (issue 13), and extraction limits hold in the daemons.

``docker cp`` out (GET /containers/{id}/archive), its stat (HEAD) and ``export`` walk the
container's root from its fd: a symlink planted in the container to a host path names that
path *inside* the container, even while the container swaps directories for such symlinks
as fast as it can. A host canary's content never appears in what is read."""

from __future__ import annotations

import base64
import io
import json
import os
import tarfile
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard import errors
from dockyard.client.http import Client
from tests.conftest import Daemon, started_daemon

pytestmark = pytest.mark.root

SECRET = b"HOST-SECRET-" + uuid.uuid4().hex.encode()


@pytest.fixture
def canary() -> Iterator[Path]:
    """A host directory with a secret file (as /etc/shadow would be)."""
    d = Path(tempfile.mkdtemp(prefix="dy-shadow-", dir="/tmp"))
    (d / "shadow").write_bytes(SECRET)
    yield d
    (d / "shadow").unlink()
    d.rmdir()


@pytest.fixture(scope="module")
def api(daemon: Daemon) -> Client:
    return Client(daemon.host)


@pytest.fixture
def containers(daemon: Daemon) -> Iterator[list[str]]:
    made: list[str] = []
    yield made
    if made:
        daemon.cli("rm", "-f", *made)


def _tar(entries: list[tuple[str, bytes, str]]) -> bytes:
    """(name, content, symlink target) entries; a trailing / makes a directory."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data, target in entries:
            ti = tarfile.TarInfo(name.rstrip("/"))
            if name.endswith("/"):
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
            elif target:
                ti.type, ti.linkname = tarfile.SYMTYPE, target
            else:
                ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def _create(d: Daemon, made: list[str], *args: str) -> str:
    r = d.cli("create", "--network", "none", *args)
    assert r.returncode == 0, r.stderr.decode()
    made.append(r.stdout.decode().strip())
    return made[-1]


def _get(api: Client, cid: str, path: str) -> tuple[dict[str, object], bytes]:
    resp = api.request("GET", f"/containers/{cid}/archive", {"path": path})
    st = json.loads(base64.b64decode(resp.headers["x-docker-container-path-stat"]))
    return st, resp.read()


def _file_in(body: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(body)) as tf:
        f = tf.extractfile(tf.getmember(name))
        assert f is not None
        return f.read()


def test_host_paths_named_by_container_symlinks_resolve_inside(daemon: Daemon, api: Client, containers: list[str],
                                                                canary: Path) -> None:
    """Absolute and ``..`` links to the canary's host path reach the container's own file at that path."""
    cid = _create(daemon, containers, "busybox", "true")
    inner = str(canary.relative_to("/"))
    up = "../" * 12 + inner
    api.request("PUT", f"/containers/{cid}/archive", {"path": "/"}, body=_tar([
        (f"{inner}/", b"", ""), (f"{inner}/shadow", b"container's own", ""),
        ("w/", b"", ""), ("w/abs", b"", str(canary)), ("w/up", b"", up), ("w/file", b"", f"{canary}/shadow"),
    ])).read()
    for path in ("/w/abs/shadow", "/w/up/shadow", "/w/abs/../abs/shadow"):
        st, body = _get(api, cid, path)
        assert _file_in(body, "shadow") == b"container's own", path
        assert st["size"] == len(b"container's own")
    st, body = _get(api, cid, "/w/file")  # the link itself, its target resolved in the container
    assert st["linkTarget"] == f"{canary}/shadow"
    st, body = _get(api, cid, "/w/abs/")  # a trailing slash follows the link: the container's directory
    assert _file_in(body, "abs/shadow") == b"container's own"
    r = daemon.cli("cp", "-L", f"{cid}:/w/file", "-")
    assert r.returncode == 0 and SECRET not in r.stdout
    export = api.request("GET", f"/containers/{cid}/export").read()
    assert SECRET not in export and b"container's own" in export


def test_reads_racing_symlink_swaps_never_leave_the_root(daemon: Daemon, api: Client, containers: list[str],
                                                        canary: Path) -> None:
    """The container swaps /r/d between a directory and a symlink to the canary's host directory
    while it is read 150 times (archive, stat, a file below it): the canary never shows up."""
    loop = (f"mkdir -p /r; while true; do mkdir /r/d; echo in > /r/d/shadow; rm -rf /r/d; "
            f"ln -s {canary} /r/d; rm /r/d; ln -s ../../../../../../{str(canary).lstrip('/')} /r/d; rm /r/d; done")
    cid = _create(daemon, containers, "busybox", "sh", "-c", loop)
    assert daemon.cli("start", cid).returncode == 0
    seen = 0
    for i in range(150):
        path = ("/r", "/r/d/shadow", "/r/d/")[i % 3]
        try:
            resp = api.request("GET", f"/containers/{cid}/archive", {"path": path})
            body = resp.read()
        except (errors.NotFound, errors.InvalidArgument):
            continue  # the name was between states
        assert SECRET not in body, f"host canary read through {path}"
        seen += 1
    assert seen > 10
    assert (canary / "shadow").read_bytes() == SECRET


def test_head_of_a_symlink_swapped_dir_reports_the_container(daemon: Daemon, api: Client, containers: list[str],
                                                             canary: Path) -> None:
    cid = _create(daemon, containers, "busybox", "true")
    api.request("PUT", f"/containers/{cid}/archive", {"path": "/"}, body=_tar([("w/", b"", ""),
                                                                              ("w/l", b"", str(canary))])).read()
    with pytest.raises(errors.NotFound):  # no such directory in the container: not the host's
        api.request("HEAD", f"/containers/{cid}/archive", {"path": "/w/l/shadow"}).close()


# -- limits, set for one daemon through its environment (the test hook) ------------------------------


@pytest.fixture
def limited_daemon(busybox_tar: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Daemon]:
    monkeypatch.setenv("DOCKYARD_EXTRACT_LIMITS", "max_bytes=4m,max_members=1000")
    with started_daemon(busybox_tar) as d:
        yield d


def test_extraction_limits_refuse_cp_import_and_volume_writes(limited_daemon: Daemon, tmp_path: Path) -> None:
    d = limited_daemon
    api = Client(d.host)
    big = _tar([("big", bytes(5 << 20), "")])
    many = _tar([(f"m{i}", b"", "") for i in range(1001)])
    r = d.cli("create", "--network", "none", "-v", "/vol", "busybox", "true")
    assert r.returncode == 0, r.stderr.decode()
    cid = r.stdout.decode().strip()
    try:
        for path in ("/", "/vol"):  # the rootfs (containerd) and a volume (the engine)
            with pytest.raises(errors.InvalidArgument, match=r"max_bytes \(4194304 bytes\)"):
                api.request("PUT", f"/containers/{cid}/archive", {"path": path}, body=big).read()
            with pytest.raises(errors.InvalidArgument, match="max_members"):
                api.request("PUT", f"/containers/{cid}/archive", {"path": path}, body=many).read()
        api.request("PUT", f"/containers/{cid}/archive", {"path": "/"}, body=_tar([("small", b"ok", "")])).read()
        (tmp_path / "big.tar").write_bytes(big)
        r = d.cli("import", str(tmp_path / "big.tar"), "big:1")
        assert r.returncode != 0 and "max_bytes" in r.stderr.decode()
    finally:
        d.cli("rm", "-f", "-v", cid)
    assert not os.path.exists(tmp_path / "big")
