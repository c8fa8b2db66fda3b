"""Hostile tars through every extraction path of a running daemon (issue 13).

cp into a container (stopped and running, PUT /containers/{id}/archive as docker-py sends it),
into a volume and a bind mount, import, load, build ADD, and commit. Canaries live OUTSIDE
every root the daemon writes into: a host directory that absolute symlinks in the tars point
at, one beside the daemon's extraction mount points (``<containerd root>/unpack``, the parent
of a layer's apply root) and, for commit, the daemon's TMPDIR. Each must keep its entries,
content, mode, owner and link count."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import tarfile
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard import errors
from dockyard.client.http import Client
from tests.conftest import Daemon

pytestmark = pytest.mark.root


class Canary:
    """A directory with a file; remembers everything about them."""

    def __init__(self, parent: Path) -> None:
        self.dir = parent / f"canary-{uuid.uuid4().hex[:8]}"
        self.dir.mkdir()
        (self.dir / "file").write_text("original")
        os.chmod(self.dir, 0o750)
        os.chmod(self.dir / "file", 0o640)
        self.before = self._state()

    def _state(self) -> list[tuple[str, int, int, int, int, str]]:
        out = []
        for p in sorted([self.dir, *self.dir.rglob("*")]):
            st = os.lstat(p)
            out.append((str(p), st.st_mode, st.st_uid, st.st_gid, st.st_nlink,
                        p.read_text() if stat.S_ISREG(st.st_mode) else ""))
        return out

    def assert_untouched(self) -> None:
        assert self.dir.is_dir(), f"{self.dir} is gone"
        assert self._state() == self.before

    def remove(self) -> None:
        for p in sorted(self.dir.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            p.unlink() if not p.is_dir() or p.is_symlink() else p.rmdir()
        self.dir.rmdir()


@pytest.fixture
def host_canary() -> Iterator[Canary]:
    c = Canary(Path(tempfile.mkdtemp(prefix="dy-canary-", dir="/tmp")))
    yield c
    c.remove()
    c.dir.parent.rmdir()


@pytest.fixture
def unpack_canary(daemon: Daemon) -> Iterator[Canary]:
    work = daemon.data_root / "containerd" / "unpack"
    assert work.is_dir(), "the daemon's extraction mount points moved: update this test"
    c = Canary(work)
    yield c
    if c.dir.exists():
        c.remove()


@pytest.fixture(scope="module")
def api(daemon: Daemon) -> Client:
    return Client(daemon.host)


def member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", linkname: str = "", mode: int = 0o644,
           uid: int = 0, major: int = 0, minor: int = 0) -> tuple[tarfile.TarInfo, bytes]:
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.uid, ti.gid, ti.linkname = kind, mode, uid, uid, linkname
    ti.devmajor, ti.devminor = major, minor
    ti.size = len(data) if kind == tarfile.REGTYPE else 0
    return ti, data


def tar(*members: tuple[tarfile.TarInfo, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for ti, data in members:
            tf.addfile(ti, io.BytesIO(data) if ti.isreg() else None)
    return buf.getvalue()


def contained(canary: Canary) -> bytes:
    """A tar whose every entry tries to reach the canary but must land inside the root."""
    rel = "../" * 12 + str(canary.dir.relative_to("/"))
    return tar(
        member(str(canary.dir / "file"), data=b"absolute name", mode=0o777, uid=4242),
        member("abs", tarfile.SYMTYPE, linkname=str(canary.dir)),
        member("abs/file", data=b"through an absolute link", mode=0o777, uid=4242),
        member("dotdot", tarfile.SYMTYPE, linkname=rel),
        member("dotdot/file2", data=b"through a .. link"),
        member("abs/zero", tarfile.CHRTYPE, mode=0o666, major=1, minor=5),
        member("abs/su", data=b"#!/bin/sh\n", mode=0o4755),
    )


REFUSED = {
    "traversal": tar(member("../../../../../../../../../tmp/dy-pwned", data=b"x")),
    "hard-link-out": tar(member("h", tarfile.LNKTYPE, linkname="../../../../../../../../../etc/passwd")),
    "whiteout-dot": tar(member(".wh..")),
    "whiteout-dotdot": tar(member(".wh...")),
}


def put(api: Client, id: str, path: str, body: bytes) -> None:
    api.request("PUT", f"/containers/{id}/archive", {"path": path}, body=body).read()


def run(d: Daemon, *args: str) -> str:
    r = d.cli("run", *args, timeout=60)
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout.decode()


@pytest.fixture
def containers(daemon: Daemon) -> Iterator[list[str]]:
    made: list[str] = []
    yield made
    if made:
        daemon.cli("rm", "-f", "-v", *made)


def create(api: Client, containers: list[str], cmd: str, binds: list[str] | None = None, start: bool = True) -> str:
    id = api.json("POST", "/containers/create", body={
        "Image": "busybox", "Cmd": ["sh", "-c", cmd], "HostConfig": {"Binds": binds or []}})["Id"]
    containers.append(id)
    if start:
        api.request("POST", f"/containers/{id}/start").read()
    return str(id)


def wait(api: Client, id: str) -> None:
    api.request("POST", f"/containers/{id}/wait").read()


# -- docker cp into the rootfs ----------------------------------------------------------------------


@pytest.mark.parametrize("running", [False, True])
def test_cp_directory_over_a_planted_symlink(api: Client, containers: list[str], host_canary: Canary,
                                             running: bool) -> None:
    """`/x -> <host dir>` planted by the container, then `docker cp ./x c:/`: the host dir kept its mode and owner."""
    id = create(api, containers, f"ln -s {host_canary.dir} /x; ln -s {host_canary.dir}/file /f; sleep 60")
    if not running:
        api.request("POST", f"/containers/{id}/kill").read()
        wait(api, id)
    else:
        _until_exists(api, id, "/f")
    put(api, id, "/", tar(member("x", tarfile.DIRTYPE, mode=0o777, uid=4242),
                          member("x/file", data=b"pwn", mode=0o777, uid=4242),
                          member("f", data=b"pwn", mode=0o777, uid=4242)))
    host_canary.assert_untouched()
    put(api, id, "/", contained(host_canary))
    host_canary.assert_untouched()
    for name, body in REFUSED.items():
        if name.startswith("whiteout"):
            put(api, id, "/", body)  # plain names for cp: a file called `.wh...`, nothing deleted
            continue
        with pytest.raises(errors.InvalidArgument):
            put(api, id, "/", body)
    host_canary.assert_untouched()
    assert not Path("/tmp/dy-pwned").exists()


def _until_exists(api: Client, id: str, path: str) -> None:
    import time

    deadline = time.monotonic() + 10
    while True:
        try:
            api.request("HEAD", f"/containers/{id}/archive", {"path": path}).close()  # a HEAD has no body
            return
        except errors.NotFound:
            assert time.monotonic() < deadline, f"{path} never appeared"
            time.sleep(0.05)


# -- docker cp into a volume and a bind mount -------------------------------------------------------


def test_cp_into_volume_and_bind(api: Client, containers: list[str], host_canary: Canary, tmp_path: Path) -> None:
    bind = tmp_path / "bind"
    bind.mkdir()
    beside = Canary(tmp_path)  # next to the bind source
    vol = f"hostile-{uuid.uuid4().hex[:8]}"
    id = create(api, containers, f"ln -s {host_canary.dir} /data/x; ln -s {beside.dir} /bind/x; sleep 60",
                binds=[f"{vol}:/data", f"{bind}:/bind"])
    try:
        _until_exists(api, id, "/bind/x")
        _until_exists(api, id, "/data/x")
        for dest, canary in (("/data", host_canary), ("/bind", beside)):
            rel = os.path.relpath(canary.dir / "file", bind)
            for link in (rel, "../" * 12 + str(canary.dir.relative_to("/")) + "/file"):
                with pytest.raises(errors.InvalidArgument):  # a hard link out of the mount
                    put(api, id, dest, tar(member("h", tarfile.LNKTYPE, linkname=link)))
            put(api, id, dest, tar(member("x", tarfile.DIRTYPE, mode=0o777, uid=4242),
                                   member("x/file", data=b"pwn", mode=0o777)))
            put(api, id, dest, contained(canary))
            with pytest.raises(errors.InvalidArgument):
                put(api, id, dest, REFUSED["traversal"])
            canary.assert_untouched()
        assert (bind / "x" / "file").read_bytes() == b"pwn" and not (bind / "x").is_symlink()
        assert (bind / beside.dir.relative_to("/") / "file").read_bytes() == b"through an absolute link"
    finally:
        api.request("DELETE", f"/containers/{id}", {"force": True, "v": True}).read()
        containers.remove(id)
        api.request("DELETE", f"/volumes/{vol}").read()
        beside.remove()


# -- layers: import, load, build ADD -------------------------------------------------------------------


def _check_contained_image(d: Daemon, image: str, canary: Canary) -> None:
    inside = str(canary.dir)
    out = run(d, "--rm", image, "sh", "-c", f"cat {inside}/file; echo; cat {inside}/file2; echo; "
                                          f"stat -c '%a %F' {inside}/su {inside}/zero")
    assert "through an absolute link" in out and "through a .. link" in out
    assert "4755 regular file" in out and "character special file" in out


def test_import(daemon: Daemon, host_canary: Canary, unpack_canary: Canary, tmp_path: Path) -> None:
    src = tmp_path / "hostile.tar"
    src.write_bytes(contained(host_canary))
    r = daemon.cli("import", str(src), "hostile:import")
    assert r.returncode == 0, r.stderr.decode()
    for name, body in REFUSED.items():
        p = tmp_path / f"{name}.tar"
        p.write_bytes(body)
        r = daemon.cli("import", str(p), f"hostile:{name}")
        if r.returncode == 0:  # stored; its unpack is refused when a container needs it
            assert daemon.cli("run", "--rm", f"hostile:{name}", "x", timeout=60).returncode != 0
            daemon.cli("rmi", f"hostile:{name}")
    host_canary.assert_untouched()
    unpack_canary.assert_untouched()
    daemon.cli("rmi", "hostile:import")
    assert not Path("/tmp/dy-pwned").exists()


def _docker_archive(layers: list[bytes], tag: str) -> bytes:
    diff_ids = ["sha256:" + hashlib.sha256(b).hexdigest() for b in layers]
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    names = [f"{i}/layer.tar" for i in range(len(layers))]
    manifest = json.dumps([{"Config": "config.json", "RepoTags": [tag], "Layers": names}]).encode()
    return tar(member("config.json", data=config), *(member(n, data=b) for n, b in zip(names, layers)),
               member("manifest.json", data=manifest))


def test_load(daemon: Daemon, busybox_tar: Path, host_canary: Canary, unpack_canary: Canary, tmp_path: Path) -> None:
    base = busybox_tar.read_bytes()
    cases = {"contained": contained(host_canary), **REFUSED}
    for name, body in cases.items():
        archive = tmp_path / f"{name}.tar"
        archive.write_bytes(_docker_archive([base, body], f"hostile-load:{name}"))
        r = daemon.cli("load", "-i", str(archive), timeout=120)
        if name == "contained":
            assert r.returncode == 0, r.stderr.decode()
            _check_contained_image(daemon, f"hostile-load:{name}", host_canary)
        elif r.returncode == 0:
            assert daemon.cli("run", "--rm", f"hostile-load:{name}", "true", timeout=60).returncode != 0
        daemon.cli("rmi", f"hostile-load:{name}")
        host_canary.assert_untouched()
        unpack_canary.assert_untouched()
    assert run(daemon, "--rm", "busybox", "echo", "ok").strip() == "ok"  # the snapshot store still works
    assert not Path("/tmp/dy-pwned").exists()


def test_build_add(daemon: Daemon, host_canary: Canary, unpack_canary: Canary, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "evil.tar").write_bytes(contained(host_canary))
    (ctx / "Dockerfile").write_text("FROM busybox\nADD evil.tar /\n")
    r = daemon.cli("build", "-q", "-t", "hostile:add", str(ctx), timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    _check_contained_image(daemon, "hostile:add", host_canary)
    daemon.cli("rmi", "hostile:add")
    for name, body in REFUSED.items():
        (ctx / "evil.tar").write_bytes(body)
        r = daemon.cli("build", "-q", "-t", f"hostile:{name}", str(ctx), timeout=120)
        if name.startswith("whiteout"):
            assert r.returncode != 0 and b"whiteout" in r.stderr, r.stderr.decode()
        daemon.cli("rmi", f"hostile:{name}")
        host_canary.assert_untouched()
        unpack_canary.assert_untouched()
    assert not Path("/tmp/dy-pwned").exists()


# -- commit: a container touches /.wh... ------------------------------------------------------------------


@pytest.fixture
def tmpdir_daemon(busybox_tar: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Daemon, Path]]:
    """A daemon whose TMPDIR is a private directory: the host's /tmp is never at stake."""
    tmpdir = Path(tempfile.mkdtemp(prefix="dy-tmpdir-", dir="/tmp"))
    monkeypatch.setenv("TMPDIR", str(tmpdir))
    d = Daemon(Path(tempfile.mkdtemp(prefix="dy-", dir="/tmp")))
    try:
        d.start()
        r = d.cli("import", str(busybox_tar), "busybox:latest")
        assert r.returncode == 0, r.stderr.decode()
        yield d, tmpdir
    finally:
        d.cleanup()
        import shutil

        shutil.rmtree(tmpdir, ignore_errors=True)


def test_commit_of_a_dotdot_whiteout_deletes_nothing(tmpdir_daemon: tuple[Daemon, Path]) -> None:
    """issue 13: `touch '/.wh...'` then `docker commit` removed entries of the host's TMPDIR."""
    d, tmpdir = tmpdir_daemon
    # several: rmtree(TMPDIR) stops at the first busy mount point, in directory order
    canaries = [*(Canary(tmpdir) for _ in range(8)), Canary(d.data_root / "containerd" / "unpack")]
    (tmpdir / "plain-file").write_text("keep")
    run(d, "--name", "wh", "busybox", "touch", "/.wh...")
    r = d.cli("commit", "wh", "hostile:commit", timeout=120)
    for c in canaries:
        c.assert_untouched()
    assert (tmpdir / "plain-file").read_text() == "keep"
    if r.returncode == 0:  # whatever the commit said, a container from it must not delete either
        d.cli("run", "--rm", "hostile:commit", "true", timeout=60)
        for c in canaries:
            c.assert_untouched()
    assert run(d, "--rm", "busybox", "echo", "ok").strip() == "ok"
