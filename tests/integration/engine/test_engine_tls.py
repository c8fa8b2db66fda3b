"""Remote daemons: dockyardd on tcp://127.0.0.1 with mutual TLS; docker and dockyard clients with --tls*.

Certificates are made here with openssl: a CA, a server cert for IP 127.0.0.1, a client cert.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import BIN, Daemon, _alive

pytestmark = pytest.mark.root

DOCKER = "/usr/local/bin/docker"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certs(d: Path) -> None:
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca-key.pem", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=dockyard-test-ca", cwd=d)
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"),
                      ("client", "extendedKeyUsage=clientAuth\n")):
        (d / f"{name}.ext").write_text(ext)
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}-key.pem", "-out", f"{name}.csr",
                 "-subj", f"/CN={name}", cwd=d)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial",
                 "-out", f"{name}-cert.pem", "-days", "2", "-extfile", f"{name}.ext", cwd=d)
    # the client's DOCKER_CERT_PATH layout
    (d / "client").mkdir()
    for src, dst in (("ca.pem", "ca.pem"), ("client-cert.pem", "cert.pem"), ("client-key.pem", "key.pem")):
        (d / "client" / dst).write_bytes((d / src).read_bytes())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TLSDaemon(Daemon):
    def __init__(self, base: Path, certs: Path) -> None:
        super().__init__(base)
        self.certs = certs
        self.port = _free_port()
        self.tcp = f"tcp://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = open(self.base / "dockyardd.out", "ab")
        c = self.certs
        self.proc = subprocess.Popen(
            [str(BIN / "dockyardd"), "--data-root", str(self.data_root), "--exec-root", str(self.exec_root),
             "-H", self.host, "-H", self.tcp, "--cgroup-parent", self.cgroup_parent, "--tlsverify",
             "--tlscacert", str(c / "ca.pem"), "--tlscert", str(c / "server-cert.pem"),
             "--tlskey", str(c / "server-key.pem")],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 30
        while not (_alive(self.socket) and self._tcp_up()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dockyardd did not start:\n{self.log_tail()}")
            time.sleep(0.05)

    def _tcp_up(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False


@pytest.fixture(scope="module")
def tls_daemon(busybox_tar: Path) -> Iterator[TLSDaemon]:
    base = Path(tempfile.mkdtemp(prefix="dyt-", dir="/tmp"))
    certs = base / "certs"
    certs.mkdir()
    make_certs(certs)
    d = TLSDaemon(base, certs)
    try:
        d.start()
        r = d.cli("import", str(busybox_tar), "busybox:latest")
        assert r.returncode == 0, r.stderr.decode()
        yield d
    finally:
        d.cleanup()


def _docker(d: TLSDaemon, *args: str, tls: bool = True) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env.update(DOCKER_CONFIG=str(d.base / "dockercfg"), DOCKER_CLI_HINTS="false")
    flags = ["--tlsverify", "--tlscacert", str(d.certs / "ca.pem"), "--tlscert", str(d.certs / "client-cert.pem"),
             "--tlskey", str(d.certs / "client-key.pem")] if tls else []
    return subprocess.run([DOCKER, "-H", d.tcp, *flags, *args], capture_output=True, env=env, timeout=60)


def test_docker_cli_over_mutual_tls(tls_daemon: TLSDaemon) -> None:
    r = _docker(tls_daemon, "run", "--rm", "busybox", "echo", "over-tls")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"over-tls\n"


def test_a_client_without_a_certificate_is_refused(tls_daemon: TLSDaemon) -> None:
    r = _docker(tls_daemon, "version", tls=False)
    assert r.returncode != 0
    import ssl

    ctx = ssl.create_default_context(cafile=str(tls_daemon.certs / "ca.pem"))
    with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
        with socket.create_connection(("127.0.0.1", tls_daemon.port)) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                s.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
                if not s.recv(100):
                    raise ConnectionResetError("closed")


def test_dockyard_cli_with_docker_tls_environment(tls_daemon: TLSDaemon) -> None:
    env = {**os.environ, "DOCKER_HOST": tls_daemon.tcp, "DOCKER_TLS_VERIFY": "1",
           "DOCKER_CERT_PATH": str(tls_daemon.certs / "client")}
    env.pop("DOCKYARD_HOST", None)
    r = subprocess.run([str(BIN / "dockyard"), "run", "--rm", "busybox", "echo", "cli-tls"], capture_output=True,
                       env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"cli-tls\n"

