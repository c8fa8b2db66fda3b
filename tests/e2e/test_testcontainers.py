"""testcontainers-python's generic container against a private dockyardd.

testcontainers drives the daemon through docker-py, found by `DOCKER_HOST`. Three of its
settings are fixed here, and why:

- `TESTCONTAINERS_RYUK_DISABLED=true`: Ryuk (the reaper container testcontainers starts
  first) is `testcontainers/ryuk`, an image that only Docker Hub has; the tests never pull.
  Removal at exit is what the context manager does, and that is asserted instead.
- `TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1` and connection mode `docker_host`: this machine
  has a `/.dockerenv`, so testcontainers believes it runs inside a container and would
  connect to the host's default gateway. Published ports are reached on loopback only.

The daemon has a bridge of its own (published ports need one), removed at teardown.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Daemon, started_daemon

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def tc_daemon(busybox_tar: Path) -> Iterator[Daemon]:
    with started_daemon(busybox_tar, "dytc", "10.216") as d:
        yield d


@pytest.fixture
def tc_env(tc_daemon: Daemon, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Daemon:
    """Points testcontainers at our daemon (see the module docstring for each setting); an empty
    DOCKER_CONFIG keeps the machine's docker contexts and credential helpers out."""
    monkeypatch.setenv("DOCKER_HOST", tc_daemon.host)
    monkeypatch.setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
    monkeypatch.setenv("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
    monkeypatch.setenv("TESTCONTAINERS_CONNECTION_MODE", "docker_host")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path_factory.mktemp("docker-config")))
    from testcontainers.core.config import ConnectionMode, testcontainers_config

    # The config object reads the environment once, at import: set what it already read.
    monkeypatch.setattr(testcontainers_config, "ryuk_disabled", True)
    monkeypatch.setattr(testcontainers_config, "tc_host_override", "127.0.0.1")
    monkeypatch.setattr(testcontainers_config, "connection_mode_override", ConnectionMode.docker_host)
    return tc_daemon


def _ids(d: Daemon) -> set[str]:
    r = d.cli("ps", "-aq", "--no-trunc")
    assert r.returncode == 0, r.stderr.decode()
    return set(r.stdout.decode().split())


def _recv_all(host: str, port: int) -> bytes:
    with socket.create_connection((host, port), timeout=10) as s:
        chunks = []
        while chunk := s.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks)


def test_generic_container_ports_exec_logs_and_removal(tc_env: Daemon) -> None:
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy

    before = _ids(tc_env)
    container = (
        DockerContainer("busybox:latest")
        .with_env("GREETING", "hello-from-tc")
        .with_exposed_ports(8080)
        .with_command(["sh", "-c", 'echo "ready $GREETING"; echo oops >&2; exec nc -ll -p 8080 -e echo hi'])
        .waiting_for(LogMessageWaitStrategy("ready hello-from-tc").with_startup_timeout(20))
    )
    with container:
        cid = container.get_container_id()
        assert cid in _ids(tc_env)
        container.reload()  # docker-py's status is the create answer's until reloaded
        assert container.status == "running"

        host = container.get_container_host_ip()
        assert host == "127.0.0.1"
        port = container.get_exposed_port(8080)
        assert isinstance(port, int) and port > 0
        assert _recv_all(host, port) == b"hi\n"
        assert _recv_all(host, port) == b"hi\n"  # -ll: the listener stays

        result = container.exec(["sh", "-c", 'echo "$GREETING"; exit 3'])
        assert result.exit_code == 3
        assert result.output == b"hello-from-tc\n"
        ok = container.exec("id -u")
        assert (ok.exit_code, ok.output) == (0, b"0\n")

        out, err = container.get_logs()
        assert out == b"ready hello-from-tc\n"
        assert err == b"oops\n"
    assert cid not in _ids(tc_env)
    assert _ids(tc_env) == before


@pytest.mark.filterwarnings("ignore:The wait_for_logs function:DeprecationWarning")
def test_wait_for_logs_times_out_and_removal_on_failure(tc_env: Daemon) -> None:
    """A container whose message never comes: wait_for_logs gives up, and the context still removes it."""
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    before = _ids(tc_env)
    container = DockerContainer("busybox:latest").with_command(["sh", "-c", "echo starting; sleep 60"])
    with pytest.raises(TimeoutError), container as c:
        wait_for_logs(c, "starting", timeout=10)
        wait_for_logs(c, "never printed", timeout=1.5, interval=0.2)
    assert _ids(tc_env) == before


def test_exited_container_wait_and_logs(tc_env: Daemon) -> None:
    from testcontainers.core.container import DockerContainer

    with DockerContainer("busybox:latest").with_command(["sh", "-c", "echo done; exit 7"]) as c:
        assert c.wait() == 7
        assert c.get_logs() == (b"done\n", b"")


def test_httpd_with_mapping_tmpfs_fixed_port_and_http_wait(tc_env: Daemon, tmp_path: Path) -> None:
    """busybox httpd serving a read-only bind mount on a host port chosen by the test, waited for by HTTP."""
    import urllib.request

    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import HttpWaitStrategy

    (tmp_path / "index.html").write_text("served by dockyard\n")
    with socket.socket() as s:  # a free loopback port for the fixed binding
        s.bind(("127.0.0.1", 0))
        host_port = s.getsockname()[1]
    name = f"tc-httpd-{uuid.uuid4().hex[:6]}"
    container = (
        DockerContainer("busybox:latest")
        .with_name(name)
        .with_bind_ports(80, host_port)
        .with_volume_mapping(tmp_path, "/www", "ro")
        # The value is Docker's tmpfs option string: a bare "1m" (as with_tmpfs_mount's docstring
        # suggests) is refused by dockerd too ("invalid tmpfs option").
        .with_tmpfs_mount("/scratch", "size=1m")
        .with_command(["httpd", "-f", "-p", "80", "-h", "/www"])
        .waiting_for(HttpWaitStrategy(80, "/index.html").with_startup_timeout(20))
    )
    with container:
        assert container.get_exposed_port(80) == host_port
        with urllib.request.urlopen(f"http://127.0.0.1:{host_port}/index.html", timeout=10) as r:
            assert r.read() == b"served by dockyard\n"
        ro = container.exec(["sh", "-c", "touch /www/x"])
        assert ro.exit_code != 0
        tmpfs = container.exec(["sh", "-c", "grep ' /scratch ' /proc/mounts"])
        assert tmpfs.exit_code == 0 and tmpfs.output.startswith(b"tmpfs /scratch tmpfs")
        assert container.get_wrapped_container().name == name
    assert not (tmp_path / "x").exists()
