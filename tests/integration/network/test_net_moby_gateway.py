"""Endpoint settings moby's integration suite checks (issue 14, session 6): ``GwPriority`` picks the
endpoint that gives the default route (highest first, then the network's name; it moves on connect and
disconnect), ``DriverOpts`` ``com.docker.network.endpoint.ifname`` names the interface, the predefined
network names are refused at create (403), and a start that cannot publish its port says "failed to
set up container networking" and leaves the container created."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Daemon, free_subnet, started_daemon
from tests.httpcall import call

pytestmark = pytest.mark.root

V = "/v1.51"


@pytest.fixture(scope="module")
def gw_daemon(busybox_tar: Path) -> Iterator[Daemon]:
    with started_daemon(busybox_tar, bridge_prefix="dyg", subnet_base="10.223") as d:
        yield d


@pytest.fixture
def made(gw_daemon: Daemon) -> Iterator[dict[str, list[str]]]:
    out: dict[str, list[str]] = {"containers": [], "networks": []}
    yield out
    for cid in out["containers"]:
        call(gw_daemon, "DELETE", f"{V}/containers/{cid}?force=1")
    for nid in out["networks"]:
        status, answer = call(gw_daemon, "DELETE", f"{V}/networks/{nid}")
        assert status == 204, answer


def _network(d: Daemon, made: dict[str, list[str]], name: str) -> str:
    subnet = free_subnet("10.224")
    gateway = subnet.rsplit(".", 1)[0] + ".1"
    status, answer = call(d, "POST", f"{V}/networks/create",
                          {"Name": name, "IPAM": {"Config": [{"Subnet": subnet, "Gateway": gateway}]}})
    assert status == 201, answer
    made["networks"].append(answer["Id"])
    return gateway


def _run(d: Daemon, made: dict[str, list[str]], body: dict[str, Any]) -> str:
    status, answer = call(d, "POST", f"{V}/containers/create", {"Image": "busybox", "Cmd": ["sleep", "300"], **body})
    assert status == 201, answer
    made["containers"].append(answer["Id"])
    status, answer2 = call(d, "POST", f"{V}/containers/{answer['Id']}/start")
    assert status == 204, answer2
    return str(answer["Id"])


def _default_route(d: Daemon, cid: str) -> str:
    r = d.cli("exec", cid, "ip", "-4", "route", "show", "default")
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout.decode().strip()


def test_gw_priority_chooses_and_moves_the_default_route(gw_daemon: Daemon, made: dict[str, list[str]]) -> None:
    tag = uuid.uuid4().hex[:6]
    gw1, gw2 = _network(gw_daemon, made, f"gwa{tag}"), _network(gw_daemon, made, f"gwb{tag}")
    gw3 = _network(gw_daemon, made, f"gwc{tag}")
    cid = _run(gw_daemon, made, {"HostConfig": {"NetworkMode": f"gwa{tag}"}, "NetworkingConfig": {"EndpointsConfig": {
        f"gwa{tag}": {"GwPriority": 10}, f"gwb{tag}": {"GwPriority": 100}}}})
    assert _default_route(gw_daemon, cid).startswith(f"default via {gw2} "), "the higher priority must win"
    inspect = call(gw_daemon, "GET", f"{V}/containers/{cid}/json")[1]
    assert inspect["NetworkSettings"]["Networks"][f"gwb{tag}"]["GwPriority"] == 100
    status, answer = call(gw_daemon, "POST", f"{V}/networks/gwc{tag}/connect",
                          {"Container": cid, "EndpointConfig": {"GwPriority": 1000}})
    assert status == 200, answer
    assert _default_route(gw_daemon, cid).startswith(f"default via {gw3} ")
    status, answer = call(gw_daemon, "POST", f"{V}/networks/gwc{tag}/disconnect", {"Container": cid, "Force": True})
    assert status == 200, answer
    assert _default_route(gw_daemon, cid).startswith(f"default via {gw2} ")
    status, answer = call(gw_daemon, "POST", f"{V}/networks/gwb{tag}/disconnect", {"Container": cid, "Force": True})
    assert status == 200, answer
    assert _default_route(gw_daemon, cid).startswith(f"default via {gw1} ")


def test_endpoint_ifname_driver_opt(gw_daemon: Daemon, made: dict[str, list[str]]) -> None:
    cid = _run(gw_daemon, made, {"NetworkingConfig": {"EndpointsConfig": {"bridge": {
        "DriverOpts": {"com.docker.network.endpoint.ifname": "foobar"}}}}})
    r = gw_daemon.cli("exec", cid, "ip", "-o", "link", "show", "foobar")
    assert r.returncode == 0 and b": foobar@if" in r.stdout, (r.stdout, r.stderr)


@pytest.mark.parametrize("name", ["bridge", "host", "none", "default"])
def test_predefined_names_are_refused_at_create(gw_daemon: Daemon, name: str) -> None:
    status, answer = call(gw_daemon, "POST", f"{V}/networks/create", {"Name": name})
    assert status == 403, answer
    assert f"operation is not permitted on predefined {name} network" in answer["message"]


def test_a_port_in_use_fails_the_start_with_dockerds_prefix(gw_daemon: Daemon, made: dict[str, list[str]]) -> None:
    ports = {"ExposedPorts": {"80/tcp": {}}, "HostConfig": {"PortBindings": {"80/tcp": [{"HostPort": "18431"}]}}}
    _run(gw_daemon, made, ports)
    status, answer = call(gw_daemon, "POST", f"{V}/containers/create",
                          {"Image": "busybox", "Cmd": ["top"], **ports,
                           "HostConfig": {**ports["HostConfig"], "RestartPolicy": {"Name": "always"}}})
    assert status == 201, answer
    made["containers"].append(answer["Id"])
    status, started = call(gw_daemon, "POST", f"{V}/containers/{answer['Id']}/start")
    assert status >= 400 and "failed to set up container networking" in started["message"], started
    assert call(gw_daemon, "GET", f"{V}/containers/{answer['Id']}/json")[1]["State"]["Status"] == "created"
