"""``EndpointIPAMConfig.LinkLocalIPs`` (issue 14, session 7): each address is on the container's interface
(host prefix, as libnetwork adds it), kept across a restart, shown in inspect; an invalid one is a 400."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import Daemon
from tests.httpcall import call

pytestmark = pytest.mark.root


@pytest.fixture
def network(daemon: Daemon) -> Iterator[str]:
    name = f"ll-{uuid.uuid4().hex[:8]}"
    status, answer = call(daemon, "POST", "/v1.51/networks/create", {"Name": name})
    assert status == 201, answer
    yield name
    call(daemon, "DELETE", f"/v1.51/networks/{name}")


def _create(d: Daemon, network: str, addresses: list[str]) -> tuple[int, dict]:
    return call(d, "POST", f"/v1.51/containers/create?name=ll-{uuid.uuid4().hex[:8]}",
                {"Image": "busybox", "Cmd": ["sh", "-c", "ip -4 addr show eth0; sleep 60"],
                 "HostConfig": {"NetworkMode": network},
                 "NetworkingConfig": {"EndpointsConfig": {network: {"IPAMConfig": {"LinkLocalIPs": addresses}}}}})


def test_link_local_ips_on_the_interface(daemon: Daemon, network: str) -> None:
    status, made = _create(daemon, network, ["169.254.7.7", "169.254.8.9"])
    assert status == 201, made
    try:
        for _ in range(2):  # and again after a restart: a new sandbox
            assert call(daemon, "POST", f"/v1.51/containers/{made['Id']}/restart?t=0")[0] == 204
            out = daemon.cli("exec", made["Id"], "ip", "-4", "addr", "show", "eth0").stdout.decode()
            assert "inet 169.254.7.7/32" in out and "inet 169.254.8.9/32" in out, out
        ipam = call(daemon, "GET", f"/v1.51/containers/{made['Id']}/json")[1]["NetworkSettings"]["Networks"][network]
        assert ipam["IPAMConfig"]["LinkLocalIPs"] == ["169.254.7.7", "169.254.8.9"]
    finally:
        call(daemon, "DELETE", f"/v1.51/containers/{made['Id']}?force=1")


def test_invalid_link_local_ip_refused(daemon: Daemon, network: str) -> None:
    status, answer = _create(daemon, network, ["169.254.7.7", "bogus"])
    assert status == 400 and "invalid link-local IP address: bogus" in answer["message"], answer
