"""``dockyard -H ssh://root@127.0.0.1:<port>``: the client over a private sshd on loopback.

A throwaway sshd (its own host key, authorized key, config and pid file in a temp
dir; only 127.0.0.1) runs ``dockyard system dial-stdio`` for each connection; its
``SetEnv`` points the remote side at the test daemon, as a remote host's own
DOCKER_HOST would.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import BIN, Daemon

pytestmark = pytest.mark.root

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Sshd:
    def __init__(self, base: Path, daemon_host: str) -> None:
        self.base = base
        self.port = _free_port()
        self.key = base / "id_ed25519"
        host_key = base / "host_ed25519"
        for path in (self.key, host_key):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
        (base / "authorized_keys").write_bytes(self.key.with_suffix(".pub").read_bytes())
        self.pidfile = base / "sshd.pid"
        path = f"{BIN}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        (base / "sshd_config").write_text(
            f"HostKey {host_key}\nAuthorizedKeysFile {base}/authorized_keys\nPidFile {self.pidfile}\n"
            "StrictModes no\nUsePAM no\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nPubkeyAuthentication yes\nMaxStartups 100\nMaxSessions 100\n"
            f"SetEnv DOCKER_HOST={daemon_host} PATH={path}\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.base / "sshd.log", "ab") as log:
            self.proc = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(self.base / "sshd_config"), "-p", str(self.port),
                 "-o", "ListenAddress=127.0.0.1"], stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"sshd did not start: {(self.base / 'sshd.log').read_text()}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def env(self) -> dict[str, str]:
        opts = (f"-i {self.key} -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=no "
                "-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -F /dev/null")
        env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "DOCKYARD_HOST")}
        return {**env, "DOCKYARD_SSH_OPTS": opts}


@pytest.fixture(scope="module")
def sshd(daemon: Daemon) -> Iterator[Sshd]:
    privsep = Path("/run/sshd")  # sshd insists on its privilege separation directory
    made_privsep = not privsep.exists()
    if made_privsep:
        privsep.mkdir(mode=0o755)
    server = Sshd(Path(tempfile.mkdtemp(prefix="dy-ssh-", dir="/tmp")), daemon.host)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.base, ignore_errors=True)
        if made_privsep:
            shutil.rmtree(privsep, ignore_errors=True)


def _cli(server: Sshd, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([str(BIN / "dockyard"), "-H", f"ssh://root@127.0.0.1:{server.port}", *args],
                          input=input, check=False, capture_output=True, timeout=60, env=server.env())


def test_version_and_ps_over_ssh(sshd: Sshd, daemon: Daemon) -> None:
    r = _cli(sshd, "version", "--format", "{{.Server.APIVersion}}")
    assert r.returncode == 0, r.stderr.decode()
    local = daemon.cli("version", "--format", "{{.Server.APIVersion}}")
    assert r.stdout == local.stdout and r.stdout.strip()
    r = daemon.cli("run", "-d", "--name", "ssh-ps-probe", "busybox", "sleep", "30")
    assert r.returncode == 0, r.stderr.decode()
    try:
        r = _cli(sshd, "ps", "--format", "{{.Names}}")
        assert r.returncode == 0, r.stderr.decode()
        assert "ssh-ps-probe" in r.stdout.decode().split()
    finally:
        daemon.cli("rm", "-f", "ssh-ps-probe")


def test_run_rm_echo_over_ssh(sshd: Sshd, daemon: Daemon) -> None:
    r = _cli(sshd, "run", "--rm", "busybox", "echo", "hi")
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == b"hi\n"
    r = _cli(sshd, "run", "--rm", "busybox", "sh", "-c", "exit 3")
    assert r.returncode == 3


def test_streams_over_ssh(sshd: Sshd, daemon: Daemon) -> None:
    """Hijacked stdin (with its half-close) and a followed log both cross the ssh channel."""
    r = _cli(sshd, "run", "--rm", "-i", "busybox", "tr", "a-z", "A-Z", input=b"hello over ssh\n")
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == b"HELLO OVER SSH\n"
    r = daemon.cli("run", "-d", "--name", "ssh-logs-probe", "busybox", "sh", "-c",
                   "for i in 1 2 3; do echo line$i; sleep 0.2; done")
    assert r.returncode == 0, r.stderr.decode()
    try:
        r = _cli(sshd, "logs", "-f", "ssh-logs-probe")
        assert r.returncode == 0, r.stderr.decode()
        assert r.stdout == b"line1\nline2\nline3\n"
    finally:
        daemon.cli("rm", "-f", "ssh-logs-probe")


def test_ssh_host_errors(sshd: Sshd) -> None:
    r = subprocess.run([str(BIN / "dockyard"), "-H", "ssh://root@127.0.0.1:1/some/path", "version"],
                       check=False, capture_output=True, timeout=30, env=sshd.env())
    assert r.returncode != 0
    assert b"no path" in r.stderr
    closed = _free_port()  # nothing listens there: ssh fails, the client says so and exits non-zero
    r = subprocess.run([str(BIN / "dockyard"), "-H", f"ssh://root@127.0.0.1:{closed}", "ps"],
                       check=False, capture_output=True, timeout=60, env=sshd.env())
    assert r.returncode == 1
    assert b"Connection refused" in r.stderr
