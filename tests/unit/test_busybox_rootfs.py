"""scripts/make-busybox-rootfs: reproducible busybox:latest rootfs tarball."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "make-busybox-rootfs"


def _busybox_static_available() -> bool:
    """True if busybox-static is installed or at least known to apt."""
    if shutil.which("dpkg-query"):
        r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "busybox-static"],
                           capture_output=True, text=True)
        if r.returncode == 0 and "install ok installed" in r.stdout:
            return True
    if shutil.which("apt-cache"):
        r = subprocess.run(["apt-cache", "show", "busybox-static"],
                           capture_output=True, text=True)
        if r.returncode == 0 and r.stdout.strip():
            return True
    return False


pytestmark = pytest.mark.skipif(not _busybox_static_available(),
                                reason="busybox-static package not found (not installed, unknown to apt)")


def _build(out: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, str(SCRIPT), *args, str(out)],
                       capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    return r


def _sha256(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("rootfs") / "busybox.tar"
    r = _build(out)
    assert r.stdout == ""
    return out


def test_script_is_executable():
    assert os.access(SCRIPT, os.X_OK)


def test_deterministic(rootfs, tmp_path):
    second = tmp_path / "again.tar"
    _build(second)
    assert _sha256(second) == _sha256(rootfs)


def test_deterministic_installed_source(rootfs, tmp_path):
    # The fallback path (binary of the installed package) must work too.
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "busybox-static"],
                       capture_output=True, text=True)
    if "install ok installed" not in r.stdout:
        pytest.skip("busybox-static not installed")
    out = tmp_path / "installed.tar"
    _build(out, "--source", "installed")
    with tarfile.open(out) as t:
        names = set(t.getnames())
    assert {"bin/busybox", "bin/sh", "etc/passwd"} <= names


def test_source_date_epoch(tmp_path):
    env = dict(os.environ, SOURCE_DATE_EPOCH="1700000000")
    out = tmp_path / "sde.tar"
    _build(out, env=env)
    with tarfile.open(out) as t:
        assert {m.mtime for m in t.getmembers()} == {1700000000}


def test_tar_format(rootfs):
    with tarfile.open(rootfs) as t:
        members = t.getmembers()
    names = [m.name for m in members]
    assert len(names) == len(set(names))
    # every parent directory comes before its children
    seen = set()
    for m in members:
        parent = m.name.rsplit("/", 1)[0] if "/" in m.name else None
        assert parent is None or parent in seen, m.name
        seen.add(m.name)
    for m in members:
        assert m.uid == 0 and m.gid == 0, m.name
        assert m.mtime == 0, m.name
        assert not m.pax_headers, m.name
        assert not m.name.startswith(("/", "./")), m.name
        assert m.type in (tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE), m.name
    # no pax/GNU extension headers in the raw stream either
    raw = rootfs.read_bytes()
    for off in range(0, len(raw), 512):
        block = raw[off:off + 512]
        if block[257:262] == b"ustar":
            assert block[156:157] not in (b"x", b"g", b"L", b"K")


def test_contents(rootfs, tmp_path):
    with tarfile.open(rootfs) as t:
        m = {x.name: x for x in t.getmembers()}

        bb = m["bin/busybox"]
        assert bb.isreg() and bb.mode & 0o111 and bb.size > 100_000
        head = t.extractfile(bb).read(4)
        assert head == b"\x7fELF"

        for applet in ("bin/sh", "bin/ls", "bin/cat", "bin/true"):
            assert m[applet].issym(), applet
            assert m[applet].linkname == "/bin/busybox"
        assert any(n.startswith("sbin/") and m[n].issym() for n in m)
        assert any(n.startswith("usr/bin/") and m[n].issym() for n in m)
        assert any(n.startswith("usr/sbin/") and m[n].issym() for n in m)

        passwd = t.extractfile(m["etc/passwd"]).read().decode()
        assert passwd.splitlines()[0] == "root:x:0:0:root:/root:/bin/sh"
        assert any(line.startswith("daemon:") for line in passwd.splitlines())
        assert any(line.startswith("nobody:x:65534:65534:") for line in passwd.splitlines())

        group = t.extractfile(m["etc/group"]).read().decode()
        assert group.startswith("root:x:0:")
        assert "\nnogroup:x:65534:" in group
        assert any(line.startswith("daemon:") for line in group.splitlines())

        for f in ("etc/hosts", "etc/resolv.conf"):
            assert m[f].isreg() and m[f].size == 0
        assert "etc/hostname" not in m

        dirs = {"tmp": 0o1777, "root": 0o700, "proc": 0o755, "sys": 0o755,
                "dev": 0o755, "var": 0o755, "home": 0o755, "usr/bin": 0o755,
                "usr/sbin": 0o755, "sbin": 0o755, "bin": 0o755, "etc": 0o755}
        for d, mode in dirs.items():
            assert m[d].isdir(), d
            assert stat.S_IMODE(m[d].mode) == mode, (d, oct(m[d].mode))


def test_busybox_runs(rootfs, tmp_path):
    with tarfile.open(rootfs) as t:
        data = t.extractfile("bin/busybox").read()
    exe = tmp_path / "busybox"
    exe.write_bytes(data)
    exe.chmod(0o755)
    r = subprocess.run([str(exe), "sh", "-c", "echo ok"],
                       capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout == "ok\n"


def test_stdout_output(rootfs):
    r = subprocess.run([sys.executable, str(SCRIPT), "-"], capture_output=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert hashlib.sha256(r.stdout).hexdigest() == _sha256(rootfs)
