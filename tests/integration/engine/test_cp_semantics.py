"""``docker cp`` path semantics, Docker's documented table (docs.docker.com/reference/cli/docker/container/cp),
both directions, with ``dockyard cp`` and with the real docker CLI (/usr/bin/docker) against the same daemon.

The container's ``/w`` and a local ``w`` hold the same tree, so one table serves both directions:
each case copies ``w/<src>`` to ``w/<dst>`` (to the container: local → container, from it: the
reverse) and says what ``w`` must hold afterwards, or which error leaves it unchanged."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.client.http import Client
from tests.conftest import Daemon

pytestmark = pytest.mark.root

DOCKER = "/usr/bin/docker"
DIR, LINK = "<dir>", "<link>"

# the tree in the container's /w and the local w: files (content), directories, one symlink
TREE: dict[str, str] = {"f": "F", "g": "G", "d": DIR, "d/a": "A", "d/sub": DIR, "d/sub/b": "B", "e": DIR,
                        "x": DIR, "x/d": "XD", "lnk": LINK + "d"}
D_COPY = {"": DIR, "/a": "A", "/sub": DIR, "/sub/b": "B"}


def under(prefix: str, tree: dict[str, str]) -> dict[str, str]:
    return {prefix + k: v for k, v in tree.items()}


# (case, src, dst, what w gains | the error's words); the error cases leave w as it was
CASES: list[tuple[str, str, str, dict[str, str] | str]] = [
    ("file-to-missing", "f", "new", {"new": "F"}),
    ("file-to-missing-trailing-slash", "f", "new/", "no such directory"),
    ("file-onto-file", "f", "g", {"g": "F"}),
    ("file-into-dir", "f", "e", {"e/f": "F"}),
    ("file-into-dir-trailing-slash", "f", "e/", {"e/f": "F"}),
    ("file-missing-parent", "f", "nope/x", ""),
    ("file-into-symlinked-dir", "f", "lnk", {"d/f": "F"}),
    ("file-src-trailing-slash", "f/", "e", ""),
    ("dir-to-missing", "d", "nd", under("nd", D_COPY)),
    ("dir-onto-file", "d", "f", "cannot copy directory"),
    ("dir-into-dir", "d", "e", under("e/d", D_COPY)),
    ("dir-into-dir-trailing-slash", "d", "e/", under("e/d", D_COPY)),
    ("dir-contents-into-dir", "d/.", "e", {k: v for k, v in under("e", D_COPY).items() if k != "e"}),
    ("dir-contents-to-missing", "d/.", "nd", under("nd", D_COPY)),
    ("dir-over-a-file-of-its-name", "d", "x", "cannot overwrite non-directory"),
    ("symlink-copied-as-link", "lnk", "e", {"e/lnk": LINK + "d"}),
    ("missing-src", "nope", "e", ""),
]


def expected(outcome: dict[str, str] | str) -> dict[str, str]:
    return {**TREE, **outcome} if isinstance(outcome, dict) else dict(TREE)


def tar_of_tree() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        tf.addfile(_info("w", DIR))
        for name, value in TREE.items():
            data = value.encode() if value not in (DIR,) and not value.startswith(LINK) else b""
            tf.addfile(_info(f"w/{name}", value), io.BytesIO(data))
    return buf.getvalue()


def _info(name: str, value: str) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    if value == DIR:
        ti.type, ti.mode = tarfile.DIRTYPE, 0o755
    elif value.startswith(LINK):
        ti.type, ti.linkname = tarfile.SYMTYPE, value[len(LINK):]
    else:
        ti.size, ti.mode = len(value), 0o644
    return ti


def make_local(base: Path) -> Path:
    w = base / "w"
    w.mkdir()
    for name, value in TREE.items():
        p = w / name
        if value == DIR:
            p.mkdir()
        elif value.startswith(LINK):
            p.symlink_to(value[len(LINK):])
        else:
            p.write_text(value)
    return w


def local_tree(w: Path) -> dict[str, str]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(w):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(w))
            out[rel] = LINK + os.readlink(p) if p.is_symlink() else DIR if p.is_dir() else p.read_text()
    return out


def container_tree(api: Client, cid: str) -> dict[str, str]:
    data = api.request("GET", f"/containers/{cid}/archive", {"path": "/w"}).read()
    out = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        for m in tf:
            if m.name == "w":
                continue
            rel = m.name.removeprefix("w/")
            if m.isdir():
                out[rel] = DIR
            elif m.issym():
                out[rel] = LINK + m.linkname
            else:
                f = tf.extractfile(m)
                out[rel] = f.read().decode() if f else ""
    return out


@pytest.fixture(scope="module")
def api(daemon: Daemon) -> Client:
    return Client(daemon.host)


@pytest.fixture
def ctr(daemon: Daemon, api: Client) -> Iterator[str]:
    r = daemon.cli("create", "busybox", "sh")
    assert r.returncode == 0, r.stderr.decode()
    cid = r.stdout.decode().strip()
    try:
        api.request("PUT", f"/containers/{cid}/archive", {"path": "/"}, body=tar_of_tree()).read()
        yield cid
    finally:
        daemon.cli("rm", "-f", cid)


def cp(tool: str, daemon: Daemon, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    if tool == "docker":
        if not os.access(DOCKER, os.X_OK):
            pytest.skip("no docker CLI here")
        return subprocess.run([DOCKER, "-H", daemon.host, "cp", *args], input=input, capture_output=True,
                              timeout=60)
    return daemon.cli("cp", *args, input=input)


def check(r: subprocess.CompletedProcess[bytes], outcome: dict[str, str] | str) -> None:
    err = r.stderr.decode()
    if isinstance(outcome, dict):
        assert r.returncode == 0, err
    else:
        assert r.returncode != 0, "the copy should have failed"
        assert outcome in err


@pytest.mark.parametrize("tool", ["dockyard", "docker"])
@pytest.mark.parametrize(("case", "src", "dst", "outcome"), CASES, ids=[c[0] for c in CASES])
def test_cp_into_container(daemon: Daemon, api: Client, ctr: str, tmp_path: Path, tool: str, case: str, src: str,
                           dst: str, outcome: dict[str, str] | str) -> None:
    w = make_local(tmp_path)
    r = cp(tool, daemon, f"{w}/{src}", f"{ctr}:/w/{dst}")
    check(r, outcome)
    assert container_tree(api, ctr) == expected(outcome)


@pytest.mark.parametrize("tool", ["dockyard", "docker"])
@pytest.mark.parametrize(("case", "src", "dst", "outcome"), CASES, ids=[c[0] for c in CASES])
def test_cp_out_of_container(daemon: Daemon, ctr: str, tmp_path: Path, tool: str, case: str, src: str, dst: str,
                             outcome: dict[str, str] | str) -> None:
    w = make_local(tmp_path)
    r = cp(tool, daemon, f"{ctr}:/w/{src}", f"{w}/{dst}")
    check(r, outcome)
    assert local_tree(w) == expected(outcome)
    shutil.rmtree(w)


@pytest.mark.parametrize("tool", ["dockyard", "docker"])
def test_cp_follow_link_copies_the_target_under_the_link_name(daemon: Daemon, ctr: str, tmp_path: Path,
                                                              tool: str) -> None:
    w = make_local(tmp_path)
    r = cp(tool, daemon, "-L", f"{ctr}:/w/lnk", f"{w}/e")
    assert r.returncode == 0, r.stderr.decode()
    assert local_tree(w) == {**TREE, **under("e/lnk", D_COPY)}


@pytest.mark.parametrize("tool", ["dockyard", "docker"])
def test_cp_tar_streams_both_ways(daemon: Daemon, api: Client, ctr: str, tool: str) -> None:
    """``-`` as SRC reads a tar from stdin into a directory; as DEST writes the tar to stdout."""
    out = cp(tool, daemon, f"{ctr}:/w/d", "-")
    assert out.returncode == 0, out.stderr.decode()
    with tarfile.open(fileobj=io.BytesIO(out.stdout)) as tf:
        assert sorted(m.name for m in tf) == ["d", "d/a", "d/sub", "d/sub/b"]
    r = cp(tool, daemon, "-", f"{ctr}:/w/e", input=out.stdout)
    assert r.returncode == 0, r.stderr.decode()
    assert container_tree(api, ctr) == {**TREE, **under("e/d", D_COPY)}
    r = cp(tool, daemon, "-", f"{ctr}:/w/f", input=out.stdout)
    assert r.returncode != 0 and "must be a directory" in r.stderr.decode()


# -- PUT /containers/{id}/archive options, as dockerd takes them --------------------------------


def _one(name: str, kind: bytes = tarfile.REGTYPE, uid: int = 0) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        ti = tarfile.TarInfo(name)
        ti.type, ti.uid, ti.gid, ti.mode = kind, uid, uid, 0o755 if kind == tarfile.DIRTYPE else 0o644
        tf.addfile(ti, io.BytesIO(b""))
    return buf.getvalue()


def test_no_overwrite_dir_non_dir(api: Client, ctr: str) -> None:
    """With noOverwriteDirNonDir a directory is never replaced by a file nor the reverse; without it, both are."""
    from dockyard import errors

    put = f"/containers/{ctr}/archive"
    for value in ("1", "true", "True"):
        with pytest.raises(errors.InvalidArgument, match="cannot overwrite directory"):
            api.request("PUT", put, {"path": "/w", "noOverwriteDirNonDir": value}, body=_one("d")).read()
        with pytest.raises(errors.InvalidArgument, match="cannot overwrite non-directory"):
            api.request("PUT", put, {"path": "/w", "noOverwriteDirNonDir": value},
                        body=_one("f", tarfile.DIRTYPE)).read()
    assert container_tree(api, ctr) == TREE
    api.request("PUT", put, {"path": "/w", "noOverwriteDirNonDir": "false"}, body=_one("d")).read()
    api.request("PUT", put, {"path": "/w"}, body=_one("f", tarfile.DIRTYPE)).read()
    tree = container_tree(api, ctr)
    assert tree["d"] == "" and tree["f"] == DIR


def _owners(api: Client, cid: str, path: str) -> dict[str, tuple[int, int]]:
    data = api.request("GET", f"/containers/{cid}/archive", {"path": path}).read()
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        return {m.name: (m.uid, m.gid) for m in tf}


def test_copy_uid_gid_takes_the_containers_user(daemon: Daemon, api: Client) -> None:
    """copyUIDGID: entries owned by the container's User (resolved in its /etc/passwd); without a User,
    or without the option, the archive's owners stay."""
    r = daemon.cli("create", "--user", "nobody", "busybox", "true")
    assert r.returncode == 0, r.stderr.decode()
    cid = r.stdout.decode().strip()
    try:
        api.request("PUT", f"/containers/{cid}/archive", {"path": "/tmp", "copyUIDGID": "1"},
                    body=_one("mine", uid=1234)).read()
        api.request("PUT", f"/containers/{cid}/archive", {"path": "/tmp"}, body=_one("kept", uid=1234)).read()
        owners = _owners(api, cid, "/tmp")
        assert owners["tmp/mine"] == (65534, 65534)
        assert owners["tmp/kept"] == (1234, 1234)
    finally:
        daemon.cli("rm", "-f", cid)


@pytest.mark.parametrize("tool", ["dockyard", "docker"])
def test_cp_archive_flag_chowns_to_the_containers_user(daemon: Daemon, api: Client, tmp_path: Path,
                                                       tool: str) -> None:
    r = daemon.cli("create", "--user", "nobody", "busybox", "true")
    assert r.returncode == 0, r.stderr.decode()
    cid = r.stdout.decode().strip()
    try:
        (tmp_path / "f").write_text("x")
        os.chown(tmp_path / "f", 1234, 1234)
        assert cp(tool, daemon, "-a", str(tmp_path / "f"), f"{cid}:/tmp/a").returncode == 0
        assert cp(tool, daemon, str(tmp_path / "f"), f"{cid}:/tmp/b").returncode == 0
        owners = _owners(api, cid, "/tmp")
        assert owners["tmp/a"] == (65534, 65534) and owners["tmp/b"] == (1234, 1234)
    finally:
        daemon.cli("rm", "-f", cid)
