"""A Debian ``docker-registry`` (distribution) on 127.0.0.1, and a dockyard-containerd of the tests' own."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REGISTRY_BIN = "/usr/bin/docker-registry"
REPO = Path(__file__).resolve().parents[3]
BIN = REPO / ".venv" / "bin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Registry:
    def __init__(self, base: Path, htpasswd: Path | None = None) -> None:
        self.base = base
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        auth = f"auth:\n  htpasswd:\n    realm: dockyard-test\n    path: {htpasswd}\n" if htpasswd else ""
        (base / "config.yml").write_text(
            f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {base / 'data'}\n"
            f"  delete:\n    enabled: true\nhttp:\n  addr: {self.host}\n{auth}")
        log = open(base / "registry.log", "ab")
        self.proc = subprocess.Popen([REGISTRY_BIN, "serve", str(base / "config.yml")], stdout=log, stderr=log,
                                     start_new_session=True)
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"http://{self.host}/v2/", timeout=1)
                break
            except urllib.error.HTTPError:
                break  # 401: up, and asking for credentials
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((base / "registry.log").read_text()) from None
                time.sleep(0.05)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def registry() -> Iterator[Registry]:
    if not os.path.exists(REGISTRY_BIN):
        pytest.fail("docker-registry is not installed: apt-get install -y docker-registry")
    base = Path(tempfile.mkdtemp(prefix="dy-reg-"))
    r = Registry(base)
    try:
        yield r
    finally:
        r.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def auth_registry() -> Iterator[Registry]:
    """A registry demanding htpasswd Basic auth for user ``dy`` / password ``s3cret``."""
    base = Path(tempfile.mkdtemp(prefix="dy-reg-"))
    htpasswd = base / "htpasswd"
    if shutil.which("htpasswd"):
        subprocess.run(["htpasswd", "-Bbc", str(htpasswd), "dy", "s3cret"], check=True, capture_output=True)
    else:
        import crypt  # noqa: F401  (Python 3.11 still has it; bcrypt is what distribution wants)
        pytest.fail("htpasswd is not installed: apt-get install -y apache2-utils")
    r = Registry(base, htpasswd)
    try:
        yield r
    finally:
        r.stop()
        shutil.rmtree(base, ignore_errors=True)


class Containerd:
    """A dockyard-containerd of the test module's own; ``kill9`` and ``start`` for crash tests."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.root = base / "root"
        self.state = base / "state"
        self.address = str(base / "c.sock")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = open(self.base / "containerd.log", "ab")
        self.proc = subprocess.Popen(
            [str(BIN / "dockyard-containerd"), "--root", str(self.root), "--state", str(self.state),
             "--address", self.address], stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 20
        while not os.path.exists(self.address) or not self._answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((self.base / "containerd.log").read_text()[-3000:])
            time.sleep(0.05)

    def _answers(self) -> bool:
        with socket.socket(socket.AF_UNIX) as s:
            try:
                s.connect(self.address)
                return True
            except OSError:
                return False

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def run(self, coro_fn, *args):  # type: ignore[no-untyped-def]
        """Run ``coro_fn(client, *args)`` with a fresh client (gRPC channels are per event loop)."""
        from dockyard.containerd.client import ContainerdClient

        async def go():  # type: ignore[no-untyped-def]
            c = ContainerdClient(self.address, "test")
            try:
                return await coro_fn(c, *args)
            finally:
                await c.close()

        return asyncio.run(go())


@pytest.fixture
def containerd() -> Iterator[Containerd]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    base = Path(tempfile.mkdtemp(prefix="dy-cd-", dir="/tmp"))
    c = Containerd(base)
    try:
        c.start()
        yield c
    finally:
        c.stop()
        for line in Path("/proc/self/mounts").read_text().splitlines():
            point = line.split()[1]
            if point.startswith(str(base)):
                subprocess.run(["umount", "-l", point], check=False)
        shutil.rmtree(base, ignore_errors=True)
