"""Ports published on both families, as dockerd: ``-p 80`` binds ``0.0.0.0`` and ``[::]`` on one port, an
IPv4-only container is reached on ``[::]``/``[::1]`` through the daemon's userland proxy (network/proxy.py),
``-p [::1]:P:80`` answers on IPv6 loopback; ``docker port`` and inspect's ``Ports`` as dockerd's.

One daemon for the module with its own bridge and a random /24 under 10.213.0.0/16; traffic stays on
loopback. At the end the bridge and our nft tables are gone.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dockyard.network import ports
from tests.conftest import Daemon, started_daemon
from tests.integration.network.test_net_integration import DOCKER, HTTPD, _our_table_gone

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(not ports.v6_listenable(), reason="no IPv6 on this host: dockerd binds IPv4 only too")]


@pytest.fixture(scope="module")
def d(busybox_tar: Path) -> Iterator[Daemon]:
    with started_daemon(busybox_tar, "dyds", "10.213") as daemon:
        yield daemon
    assert _our_table_gone(daemon)


def run(d: Daemon, *args: str) -> str:
    r = d.cli(*args)
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout.decode()


@pytest.fixture(scope="module")
def docker(d: Daemon, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., str]:
    """Docker's own CLI on the module's daemon (one config directory for the module): its output."""
    assert DOCKER
    env = {**os.environ, "DOCKER_HOST": d.host, "DOCKER_CONFIG": str(tmp_path_factory.mktemp("dockercfg"))}

    def run_docker(*args: str) -> str:
        r = subprocess.run([str(DOCKER), *args], capture_output=True, text=True, env=env, timeout=60)
        assert r.returncode == 0, r.stderr
        return r.stdout
    return run_docker


def get(host: str, port: int, tries: int = 40) -> bytes:
    """An HTTP GET to host:port (IPv4 or IPv6), retried while httpd starts."""
    body = b""
    for _ in range(tries):
        try:
            with socket.create_connection((host, port), timeout=2) as s:
                s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                body = b"".join(iter(lambda: s.recv(4096), b""))
            if b"200 OK" in body:
                return body
        except OSError:
            pass
        time.sleep(0.25)
    return body


def ports_of(d: Daemon, name: str) -> dict[str, list[dict[str, str]]]:
    return dict(json.loads(run(d, "inspect", "-f", "{{json .NetworkSettings.Ports}}", name)))


def test_publish_without_host_address_binds_both_families(d: Daemon, docker: Callable[..., str]) -> None:
    web = "ds-" + uuid.uuid4().hex[:6]
    try:
        run(d, "run", "-d", "--name", web, "-p", "80", "-e", "TOKEN=dual", "busybox", "sh", "-c", HTTPD)
        bindings = ports_of(d, web)["80/tcp"]
        port = bindings[0]["HostPort"]
        assert bindings == [{"HostIp": "0.0.0.0", "HostPort": port}, {"HostIp": "::", "HostPort": port}]
        assert docker("port", web).splitlines() == [f"80/tcp -> 0.0.0.0:{port}", f"80/tcp -> [::]:{port}"]
        # ours prints as docker 20.10's does (tests/e2e/test_dockyard_cli_parity.py compares the bytes)
        assert run(d, "port", web).splitlines() == [f"80/tcp -> 0.0.0.0:{port}", f"80/tcp -> :::{port}"]
        assert run(d, "port", web, "80").splitlines() == [f"0.0.0.0:{port}", f":::{port}"]
        summary = json.loads(docker("ps", "--filter", f"name={web}", "--format", "{{json .Ports}}"))
        assert summary == f"0.0.0.0:{port}->80/tcp, [::]:{port}->80/tcp"  # docker 28's ps
        # IPv4 through the DNAT, IPv6 (the container has no IPv6 address) through the userland proxy
        assert b"dual" in get("127.0.0.1", int(port))
        assert b"dual" in get("::1", int(port))
    finally:
        d.cli("rm", "-f", web)
    # the container gone, both ports are free again (nothing listens; the proxy's closed connections linger)
    for family, host in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        with socket.socket(family) as s:
            if family == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, int(port)))
            s.listen(1)


def test_ipv6_loopback_host_address_answers_through_the_proxy(d: Daemon, docker: Callable[..., str]) -> None:
    web = "ds-" + uuid.uuid4().hex[:6]
    with socket.socket(socket.AF_INET6) as probe:
        probe.bind(("::1", 0))
        port = probe.getsockname()[1]
    try:
        run(d, "run", "-d", "--name", web, "-p", f"[::1]:{port}:80", "-e", "TOKEN=loop6", "busybox", "sh", "-c",
            HTTPD)
        assert ports_of(d, web) == {"80/tcp": [{"HostIp": "::1", "HostPort": str(port)}]}
        assert docker("port", web).splitlines() == [f"80/tcp -> [::1]:{port}"]
        assert b"loop6" in get("::1", port)
        with socket.socket(socket.AF_INET) as s:  # published on [::1] only: nothing on IPv4
            s.settimeout(1)
            assert s.connect_ex(("127.0.0.1", port)) != 0
    finally:
        d.cli("rm", "-f", web)


def test_ipv6_port_already_taken_is_refused_as_dockerd(d: Daemon) -> None:
    holder = socket.socket(socket.AF_INET6)
    holder.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    holder.bind(("::", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    name = "ds-" + uuid.uuid4().hex[:6]
    try:
        r = d.cli("run", "-d", "--name", name, "-p", f"{port}:80", "busybox", "sleep", "30")
        assert r.returncode != 0
        assert f"Bind for [::]:{port} failed: port is already allocated" in r.stderr.decode()
        with socket.socket(socket.AF_INET) as s:  # the IPv4 half was given back
            s.bind(("0.0.0.0", port))
    finally:
        holder.close()
        d.cli("rm", "-f", name)


def test_container_with_ipv6_gets_both_families(d: Daemon) -> None:
    net, web = "ds6-" + uuid.uuid4().hex[:6], "ds-" + uuid.uuid4().hex[:6]
    prefix = f"fd00:dd:{uuid.uuid4().int % 0xfffe + 1:x}:"
    run(d, "network", "create", "--ipv6", "--subnet", f"{prefix}:/64", net)
    try:
        run(d, "run", "-d", "--name", web, "--network", net, "-p", "80", "-e", "TOKEN=six", "busybox", "sh", "-c",
            HTTPD)
        port = int(ports_of(d, web)["80/tcp"][1]["HostPort"])
        assert b"six" in get("127.0.0.1", port)
        assert b"six" in get("::1", port)  # the proxy, to the container's IPv6 address
    finally:
        d.cli("rm", "-f", web)
        d.cli("network", "rm", net)


def test_udp_on_ipv6_reaches_an_ipv4_only_container(d: Daemon) -> None:
    """busybox has no UDP server: a UDP echo of Python runs in the container's network namespace
    (``nsenter --net=<SandboxKey>``), stopped by its PID."""
    import sys

    box = "ds-" + uuid.uuid4().hex[:6]
    echo = None
    try:
        run(d, "run", "-d", "--name", box, "-p", "9/udp", "busybox", "sleep", "120")
        netns = run(d, "inspect", "-f", "{{.NetworkSettings.SandboxKey}}", box).strip()
        echo = subprocess.Popen(["nsenter", f"--net={netns}", sys.executable, "-c",
                                 "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                                 "s.bind(('0.0.0.0', 9))\nwhile True:\n    data, a = s.recvfrom(100)\n"
                                 "    s.sendto(b'echo:' + data, a)\n"])
        port = int(ports_of(d, box)["9/udp"][1]["HostPort"])
        answers = []
        for host, family in (("::1", socket.AF_INET6), ("127.0.0.1", socket.AF_INET)):
            answer = b""
            with socket.socket(family, socket.SOCK_DGRAM) as s:
                s.settimeout(0.5)
                for _ in range(20):  # until the echo listens
                    s.sendto(b"ping", (host, port))
                    try:
                        answer = s.recv(100)
                        break
                    except TimeoutError:
                        continue
            answers.append(answer)
        assert answers == [b"echo:ping", b"echo:ping"]  # [::1] through the proxy, 127.0.0.1 through the DNAT
    finally:
        if echo is not None:
            echo.kill()
            echo.wait()
        d.cli("rm", "-f", box)


def test_proxy_serves_again_after_a_daemon_restart(d: Daemon) -> None:
    web = "ds-" + uuid.uuid4().hex[:6]
    try:
        run(d, "run", "-d", "--name", web, "-p", "80", "-e", "TOKEN=kept", "busybox", "sh", "-c", HTTPD)
        port = int(ports_of(d, web)["80/tcp"][1]["HostPort"])
        assert b"kept" in get("::1", port)
        d.stop()
        d.start()  # the container keeps running; readopt reserves its ports and starts the proxy again
        assert b"kept" in get("::1", port)
    finally:
        d.cli("rm", "-f", web)
