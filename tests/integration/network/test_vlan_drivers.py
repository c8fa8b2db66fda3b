"""The macvlan and ipvlan network drivers (issue 14) against a real daemon: the parent is a veth pair the
test makes in the daemon's (the host's) namespace (this kernel has no dummy links) and removes; containers
get a link of the mode asked for, static IPv4 and IPv6 addresses and the gateway; a network without a parent
gets one of its own; links go at network remove and at daemon restart."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Daemon, free_subnet, inspect, started_daemon

pytestmark = pytest.mark.root


def ok(r: Any) -> str:
    assert r.returncode == 0, r.stderr.decode()
    return str(r.stdout.decode())


def links() -> str:
    return subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=False).stdout


def link_exists(name: str) -> bool:
    return subprocess.run(["ip", "link", "show", name], capture_output=True).returncode == 0


def in_container(d: Daemon, name: str, *cmd: str) -> str:
    """A host tool run in the container's network namespace (busybox's ip shows no link details)."""
    pid = str(inspect(d, name)["State"]["Pid"])
    return subprocess.run(["nsenter", "-t", pid, "-n", *cmd], capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def vdaemon(busybox_tar: Path) -> Iterator[Daemon]:
    with started_daemon(busybox_tar) as d:
        yield d


@pytest.fixture
def parent() -> Iterator[str]:
    name = "dyc2" + uuid.uuid4().hex[:8]
    subprocess.run(["ip", "link", "add", name, "type", "veth", "peer", "name", name + "p"], check=True)
    subprocess.run(["ip", "link", "set", name, "up"], check=True)
    subprocess.run(["ip", "link", "set", name + "p", "up"], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "link", "del", name], check=False, capture_output=True)


def _cleanup(d: Daemon, *networks: str) -> None:
    ids = d.cli("ps", "-aq").stdout.decode().split()
    if ids:
        d.cli("rm", "-f", *ids)
    for n in networks:
        d.cli("network", "rm", n)


def test_macvlan_on_a_parent_bridge_mode_static_addresses_ipv6(vdaemon: Daemon, parent: str) -> None:
    d = vdaemon
    subnet = free_subnet("10.219")
    net = subnet.rsplit(".", 1)[0]
    try:
        ok(d.cli("network", "create", "-d", "macvlan", "-o", f"parent={parent}", "--subnet", subnet,
                 "--gateway", f"{net}.254", "--ipv6", "--subnet", "fd00:c2:19::/64", "mv1"))
        n = json.loads(ok(d.cli("network", "inspect", "mv1")))[0]
        assert n["Driver"] == "macvlan" and n["Scope"] == "local" and n["Options"] == {"parent": parent}
        ok(d.cli("run", "-d", "--name", "mva", "--network", "mv1", "--ip", f"{net}.10", "--ip6", "fd00:c2:19::10",
                 "busybox", "sleep", "300"))
        ok(d.cli("run", "-d", "--name", "mvb", "--network", "mv1", "busybox", "sleep", "300"))
        details = in_container(d, "mva", "ip", "-d", "link", "show", "eth0")
        assert "macvlan mode bridge" in details, details
        addrs = in_container(d, "mva", "ip", "-o", "addr", "show", "eth0")
        assert f"inet {net}.10/24" in addrs and "inet6 fd00:c2:19::10/64" in addrs, addrs
        assert f"default via {net}.254" in in_container(d, "mva", "ip", "route")
        assert "default via fd00:c2:19::1" in in_container(d, "mva", "ip", "-6", "route")
        ep = inspect(d, "mva")["NetworkSettings"]["Networks"]["mv1"]
        assert ep["IPAddress"] == f"{net}.10" and ep["Gateway"] == f"{net}.254"
        assert ep["MacAddress"] in in_container(d, "mva", "ip", "link", "show", "eth0")
        # bridge mode: two macvlan ports of one parent reach each other
        b = inspect(d, "mvb")["NetworkSettings"]["Networks"]["mv1"]["IPAddress"]
        ok(d.cli("exec", "mva", "ping", "-c", "1", "-W", "2", b))
        # moby's TestEndpointWithCustomIfname: the interface named as the endpoint option says
        body = {"Image": "busybox", "Cmd": ["sleep", "300"], "HostConfig": {"NetworkMode": "mv1"},
                "NetworkingConfig": {"EndpointsConfig": {"mv1": {
                    "DriverOpts": {"com.docker.network.endpoint.ifname": "foobar"}}}}}
        ok(subprocess.run(["curl", "-sf", "--unix-socket", str(d.socket), "-H", "Content-Type: application/json",
                           "-d", json.dumps(body), "http://d/containers/create?name=mvc"], capture_output=True))
        ok(d.cli("start", "mvc"))
        assert f"inet {net}." in ok(d.cli("exec", "mvc", "ip", "-o", "addr", "show", "foobar"))
        assert "dymv" not in links()  # every endpoint link is in its sandbox
    finally:
        _cleanup(d, "mv1")
    assert "dymv" not in links() and link_exists(parent)


def test_macvlan_private_mode_isolates_ports(vdaemon: Daemon, parent: str) -> None:
    d = vdaemon
    subnet = free_subnet("10.219")
    try:
        ok(d.cli("network", "create", "-d", "macvlan", "-o", f"parent={parent}", "-o", "macvlan_mode=private",
                 "--subnet", subnet, "mvp"))
        ok(d.cli("run", "-d", "--name", "mpa", "--network", "mvp", "busybox", "sleep", "300"))
        ok(d.cli("run", "-d", "--name", "mpb", "--network", "mvp", "busybox", "sleep", "300"))
        assert "macvlan mode private" in in_container(d, "mpa", "ip", "-d", "link", "show", "eth0")
        b = inspect(d, "mpb")["NetworkSettings"]["Networks"]["mvp"]["IPAddress"]
        assert d.cli("exec", "mpa", "ping", "-c", "1", "-W", "1", b).returncode != 0
    finally:
        _cleanup(d, "mvp")


def test_macvlan_without_parent_makes_its_own_and_removes_it(vdaemon: Daemon) -> None:
    d = vdaemon
    subnet = free_subnet("10.219")
    nid = ""
    try:
        nid = ok(d.cli("network", "create", "-d", "macvlan", "--subnet", subnet, "mvown")).strip()
        assert link_exists("dm-" + nid[:12])
        nid2 = ok(d.cli("network", "create", "-d", "macvlan", "--internal", "--subnet", free_subnet("10.219"),
                        "mvint")).strip()
        assert link_exists("dm-" + nid2[:12])
        n = json.loads(ok(d.cli("network", "inspect", "mvown")))[0]
        assert n["IPAM"]["Config"] == [{"Subnet": subnet}]  # no gateway allocated (dockerd 28's GwAllocCheck)
        for name in ("mvown", "mvint"):  # no gateway, no docker_gwbridge: nothing leads out
            out = ok(d.cli("run", "--rm", "--network", name, "busybox", "sh", "-c", "ip -o addr show; ip route"))
            assert "inet 10.219." in out and "default" not in out and "eth1" not in out, out
        # moby's TestPointToPoint: a /31 without a gateway has both addresses for containers
        ok(d.cli("network", "create", "-d", "macvlan", "--subnet", "192.168.135.0/31", "mvp2p"))
        ok(d.cli("run", "-d", "--name", "p2pa", "--network", "mvp2p", "busybox", "sleep", "300"))
        out = ok(d.cli("run", "--rm", "--network", "mvp2p", "busybox", "ping", "-c1", "-W3", "p2pa"))
        assert "1 packets transmitted, 1 packets received" in out
    finally:
        _cleanup(d, "mvown", "mvint", "mvp2p")
    assert nid and not link_exists("dm-" + nid[:12])
    assert "dm-" + nid2[:12] not in links()


def test_vlan_refusals(vdaemon: Daemon, parent: str) -> None:
    d = vdaemon
    try:
        r = d.cli("network", "create", "-d", "macvlan", "-o", "macvlan_mode=bogus", "-o", f"parent={parent}", "x1")
        assert r.returncode != 0 and b"requested macvlan mode 'bogus' is not valid" in r.stderr
        r = d.cli("network", "create", "-d", "ipvlan", "-o", "ipvlan_mode=l4", "-o", f"parent={parent}", "x2")
        assert r.returncode != 0 and b"requested ipvlan mode 'l4' is not valid" in r.stderr
        r = d.cli("network", "create", "-d", "ipvlan", "-o", "ipvlan_flag=odd", "-o", f"parent={parent}", "x3")
        assert r.returncode != 0 and b"requested ipvlan flag 'odd' is not valid" in r.stderr
        r = d.cli("network", "create", "-d", "macvlan", "-o", "parent=dyc2nosuch0", "x4")
        assert r.returncode != 0 and b"-o parent interface was not found on the host: dyc2nosuch0" in r.stderr
        first = ok(d.cli("network", "create", "-d", "macvlan", "-o", f"parent={parent}", "--subnet",
                         free_subnet("10.219"), "x5")).strip()
        r = d.cli("network", "create", "-d", "macvlan", "-o", f"parent={parent}", "--subnet", free_subnet("10.219"),
                  "x6")
        assert r.returncode != 0
        assert f"network dm-{first[:12]} is already using parent interface {parent}".encode() in r.stderr
        listed = ok(d.cli("network", "ls"))
        assert " x1 " not in listed and " x6 " not in listed
    finally:
        _cleanup(d, "x5")


def _ipvlan_supported() -> bool:
    probe = "dyc2iv" + uuid.uuid4().hex[:6]
    r = subprocess.run(["ip", "link", "add", probe, "link", "lo", "type", "ipvlan"], capture_output=True)
    subprocess.run(["ip", "link", "del", probe], capture_output=True)
    return r.returncode == 0 or b"Unknown device type" not in r.stderr


def test_ipvlan_l2_and_l3(vdaemon: Daemon, parent: str) -> None:
    d = vdaemon
    subnet = free_subnet("10.219")
    try:
        ok(d.cli("network", "create", "-d", "ipvlan", "-o", f"parent={parent}", "-o", "ipvlan_mode=l3",
                 "--subnet", subnet, "iv3"))
        n = json.loads(ok(d.cli("network", "inspect", "iv3")))[0]
        assert n["Driver"] == "ipvlan" and n["Options"] == {"parent": parent, "ipvlan_mode": "l3"}
        r = d.cli("run", "--rm", "--network", "iv3", "busybox", "sh", "-c", "ip -o addr show eth0; ip route")
        if not _ipvlan_supported():  # this kernel (CONFIG_IPVLAN unset): refused, nothing left behind
            assert r.returncode != 0 and b"failed to create the ipvlan port" in r.stderr, r.stderr
            assert "dyiv" not in links()
            return
        out = ok(r)
        assert "inet " + subnet.rsplit(".", 1)[0] in out and "default dev eth0" in out, out
    finally:
        _cleanup(d, "iv3")
    assert "dyiv" not in links()


def test_restart_restores_own_parent_and_deletes_stale_links(busybox_tar: Path, parent: str) -> None:
    with started_daemon(busybox_tar) as d:
        subnet = free_subnet("10.219")
        nid = ok(d.cli("network", "create", "-d", "macvlan", "--subnet", subnet, "mvr")).strip()
        pnet = ok(d.cli("network", "create", "-d", "macvlan", "-o", f"parent={parent}", "--subnet",
                        free_subnet("10.219"), "mvq")).strip()
        ok(d.cli("run", "-d", "--name", "mvrun", "--network", "mvq", "busybox", "sleep", "300"))
        eid = inspect(d, "mvrun")["NetworkSettings"]["Networks"]["mvq"]["EndpointID"]
        stale = "dymv" + eid[:9]
        assert d.stop() == 0
        try:
            subprocess.run(["ip", "link", "del", "dm-" + nid[:12]], check=True)
            # what a crash between making an endpoint's link and moving it leaves in the host namespace
            subprocess.run(["ip", "link", "add", stale, "link", parent, "type", "macvlan"], check=True)
            d.start()
            assert link_exists("dm-" + nid[:12])
            assert not link_exists(stale)
        finally:
            subprocess.run(["ip", "link", "del", stale], capture_output=True)
        _cleanup(d, "mvr", "mvq")
        assert not link_exists("dm-" + nid[:12]) and pnet
