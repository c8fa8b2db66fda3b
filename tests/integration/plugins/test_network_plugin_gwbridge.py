"""docker_gwbridge for remote network drivers (libnetwork's default_gateway.go), with the driver of
tests/plugin_fakes.py (libnetwork's docs/remote.md): a container whose plugin network's ``Join`` names no
gateway gets a second endpoint ``gateway_<id>`` on the bridge network docker_gwbridge (made on first
need, ICC off, masquerade on): its default route and its published ports go there, it is not one of the
container's networks, and it goes as soon as an endpoint with a gateway joins. ``DisableGatewayService``,
a ``Gateway`` or a static route to 0.0.0.0/0 in the Join answer, or an internal network, mean no
docker_gwbridge. Also here: a port published on IPv6 on a plugin network, and ICC off on bridge networks."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Daemon
from tests.integration.plugins.test_managed_plugin import api
from tests.integration.plugins.test_network_plugin import _http_get, ok
from tests.plugin_fakes import NetworkPluginLinks, bridge_network_driver, plugin_daemon

pytestmark = pytest.mark.root
GW = "docker_gwbridge"


@pytest.fixture(scope="module")
def gw_env(busybox_tar: Path) -> Iterator[tuple[Daemon, Path]]:
    with plugin_daemon(busybox_tar, "dyg-") as (d, plugins):
        try:
            yield d, plugins
        finally:
            d.cli("rm", "-f", *d.cli("ps", "-aq").stdout.decode().split())
            d.cli("network", "rm", GW)  # docker_gwbridge stays after its containers, as dockerd's: removed here


@pytest.fixture
def links() -> Iterator[NetworkPluginLinks]:
    made = NetworkPluginLinks()
    try:
        yield made
    finally:
        made.cleanup()


def join_without_gateway(extra: dict[str, Any]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda a: {"InterfaceName": {"SrcName": "tpc" + a["EndpointID"][:8], "DstPrefix": "eth"}, **extra}


def gw_containers(d: Daemon) -> dict[str, Any]:
    r = d.cli("network", "inspect", GW)
    return json.loads(r.stdout)[0]["Containers"] if r.returncode == 0 else {}


def test_no_gateway_means_docker_gwbridge(gw_env: tuple[Daemon, Path], links: NetworkPluginLinks) -> None:
    d, plugins = gw_env
    with bridge_network_driver(plugins / "nogw.sock", links,
                               overrides={"NetworkDriver.Join": join_without_gateway({})}) as drv:
        ok(d.cli("network", "create", "-d", "nogw", "--subnet", "10.213.31.0/24", "pnogw"))
        ok(d.cli("network", "create", "--subnet", "10.213.32.0/24", "ubr"))
        try:
            cid = ok(d.cli("run", "-d", "--name", "gw1", "--network", "pnogw", "-p", "127.0.0.1::80", "busybox", "sh",
                           "-c", "mkdir -p /www && echo via-gwbridge > /www/index.html && exec httpd -f -p 80 -h /www"
                           )).strip()
            n = json.loads(ok(d.cli("network", "inspect", GW)))[0]
            assert n["Driver"] == "bridge" and n["Options"] == {
                "com.docker.network.bridge.enable_icc": "false", "com.docker.network.bridge.enable_ip_masquerade": "true",
                "com.docker.network.bridge.name": GW}
            gw_ep = gw_containers(d)[cid]
            assert gw_ep["Name"] == f"gateway_{cid[:12]}"
            gw_ip, gw_gateway = gw_ep["IPv4Address"].split("/")[0], n["IPAM"]["Config"][0]["Gateway"]
            c = json.loads(ok(d.cli("inspect", "gw1")))[0]
            assert list(c["NetworkSettings"]["Networks"]) == ["pnogw"]  # not one of the container's networks
            assert c["NetworkSettings"]["Networks"]["pnogw"]["Gateway"] == ""
            out = ok(d.cli("exec", "gw1", "sh", "-c", "ip -o -4 addr show; ip route"))
            assert "eth0    inet 10.213.31.2/24" in out and f"eth1    inet {gw_ip}/" in out, out
            assert f"default via {gw_gateway} dev eth1" in out, out
            host_port = int(c["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"])
            assert "via-gwbridge" in _http_get(host_port)  # DNAT to the docker_gwbridge address
            assert "NetworkDriver.ProgramExternalConnectivity" not in drv.methods_called()

            ok(d.cli("network", "connect", "ubr", "gw1"))  # an endpoint with a gateway: docker_gwbridge goes
            assert gw_containers(d) == {}
            out = ok(d.cli("exec", "gw1", "sh", "-c", "ip -o -4 addr show; ip route"))
            assert "default via 10.213.32.1" in out and gw_ip not in out, out
            ok(d.cli("network", "disconnect", "ubr", "gw1"))  # none again: it comes back
            assert gw_containers(d)[cid]["Name"] == f"gateway_{cid[:12]}"
            assert f"default via {gw_gateway}" in ok(d.cli("exec", "gw1", "ip", "route"))

            ok(d.cli("stop", "-t", "1", "gw1"))
            assert gw_containers(d) == {}  # left at the stop; the network stays (dockerd's)
        finally:
            d.cli("rm", "-f", "gw1")
            d.cli("network", "rm", "pnogw")
            d.cli("network", "rm", "ubr")


@pytest.mark.parametrize("answer", [
    {"DisableGatewayService": True},
    {"StaticRoutes": [{"Destination": "0.0.0.0/0", "RouteType": 1}]},
    "ipv6",
    "internal",
], ids=["disable-gateway-service", "default-static-route", "ipv6-gateway", "internal"])
def test_no_docker_gwbridge_when_not_needed(gw_env: tuple[Daemon, Path], links: NetworkPluginLinks,
                                            answer: Any) -> None:
    d, plugins = gw_env
    named = {"internal": ({}, {"Internal": True}), "ipv6": ({"GatewayIPv6": "fd00:213::1"}, {
        "EnableIPv6": True, "IPAM": {"Config": [{"Subnet": "10.213.33.0/24"}, {"Subnet": "fd00:213::/64"}]}})}
    extra, body = named[answer] if isinstance(answer, str) else (answer, {})
    with bridge_network_driver(plugins / "needless.sock", links,
                               overrides={"NetworkDriver.Join": join_without_gateway(extra)}):
        status, _ = api(d, "POST", "/networks/create", {"Name": "pneedless", "Driver": "needless", "IPAM": {
            "Config": [{"Subnet": "10.213.33.0/24"}]}, **body})
        assert status == 201
        try:
            out = ok(d.cli("run", "--rm", "--network", "pneedless", "busybox", "sh", "-c",
                           "ip -o link show | grep -c eth; ip route"))
            assert out.split()[0] == "1", out  # eth0 only
            assert gw_containers(d) == {}
        finally:
            d.cli("network", "rm", "pneedless")


def test_malformed_disable_gateway_service(gw_env: tuple[Daemon, Path], links: NetworkPluginLinks) -> None:
    d, plugins = gw_env
    with bridge_network_driver(plugins / "badgws.sock", links,
                               overrides={"NetworkDriver.Join": join_without_gateway({"DisableGatewayService": "yes"})}):
        ok(d.cli("network", "create", "-d", "badgws", "--subnet", "10.213.34.0/24", "pbadgws"))
        try:
            r = d.cli("run", "--rm", "--network", "pbadgws", "busybox", "true")
            assert r.returncode != 0 and "plugin badgws: NetworkDriver.Join: malformed answer (DisableGatewayService " \
                "must be true or false, not 'yes')" in r.stderr.decode(), r.stderr
        finally:
            d.cli("network", "rm", "pbadgws")


def _http_get6(address: str, port: int) -> str:
    import socket
    import time

    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection((address, port), timeout=3) as s:
                s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                return s.makefile("rb").read().decode(errors="replace")
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def host_ipv6() -> str:
    import subprocess

    out = subprocess.run(["ip", "-6", "-o", "addr", "show", "scope", "global"], capture_output=True, text=True,
                         check=True).stdout.split()
    return out[out.index("inet6") + 1].split("/")[0] if "inet6" in out else ""


def test_ipv6_published_port_on_a_plugin_network(gw_env: tuple[Daemon, Path], links: NetworkPluginLinks) -> None:
    """`-p [::]::80` on a plugin network with IPv6: the host port is reserved on IPv6, the driver's port map
    names the container's IPv6 address, and the port answers on the host's IPv6 address (ip6 DNAT)."""
    import subprocess

    d, plugins = gw_env
    host6 = host_ipv6()
    assert host6, "no global IPv6 address on this machine"
    drv = bridge_network_driver(plugins / "v6net.sock", links)
    create = drv.methods["NetworkDriver.CreateNetwork"]

    def create_with_v6(a: dict[str, Any]) -> dict[str, Any]:  # the driver's bridge holds the IPv6 gateway too
        answer = create(a)
        subprocess.run(["ip", "-6", "addr", "add", a["IPv6Data"][0]["Gateway"], "dev", "tpbr" + a["NetworkID"][:8],
                        "nodad"], check=True)
        return answer
    drv.methods["NetworkDriver.CreateNetwork"] = create_with_v6
    with drv:
        status, _ = api(d, "POST", "/networks/create", {"Name": "pv6", "Driver": "v6net", "EnableIPv6": True, "IPAM": {
            "Config": [{"Subnet": "10.213.35.0/24"}, {"Subnet": "fd00:213:35::/64"}]}})
        assert status == 201
        try:
            ok(d.cli("run", "-d", "--name", "web6", "--network", "pv6", "-p", "[::]::80", "busybox", "sh", "-c",
                     "mkdir -p /www && echo over-ipv6 > /www/index.html && exec httpd -f -p 80 -h /www"))
            c = json.loads(ok(d.cli("inspect", "web6")))[0]
            [binding] = c["NetworkSettings"]["Ports"]["80/tcp"]
            assert binding["HostIp"] == "::"
            port, ip6 = int(binding["HostPort"]), c["NetworkSettings"]["Networks"]["pv6"]["GlobalIPv6Address"]
            assert ip6 == "fd00:213:35::2"
            prog = next(a for m, a in drv.calls if m == "NetworkDriver.ProgramExternalConnectivity")
            assert prog["Options"]["com.docker.network.portmap"] == [
                {"Proto": 6, "IP": ip6, "Port": 80, "HostIP": "::", "HostPort": port, "HostPortEnd": port}]
            assert "over-ipv6" in _http_get6(host6, port)
        finally:
            d.cli("rm", "-f", "web6")
            d.cli("network", "rm", "pv6")


def test_icc_off_isolates_containers(gw_env: tuple[Daemon, Path], links: NetworkPluginLinks) -> None:
    """ICC off (docker_gwbridge's, or `-o com.docker.network.bridge.enable_icc=false`): a container reaches
    the gateway but not another container on the bridge; with ICC on (the default) it does."""
    d, plugins = gw_env
    with bridge_network_driver(plugins / "iccnet.sock", links,
                               overrides={"NetworkDriver.Join": join_without_gateway({})}):
        ok(d.cli("network", "create", "-d", "iccnet", "--subnet", "10.213.36.0/24", "picc"))
        ok(d.cli("network", "create", "--subnet", "10.213.37.0/24", "-o",
                 "com.docker.network.bridge.enable_icc=false", "iccoff"))
        ok(d.cli("network", "create", "--subnet", "10.213.38.0/24", "iccon"))
        try:
            for name, net in (("a1", "picc"), ("a2", "picc"), ("b1", "iccoff"), ("b2", "iccoff"), ("c1", "iccon"),
                              ("c2", "iccon")):
                ok(d.cli("run", "-d", "--name", name, "--network", net, "busybox", "sleep", "300"))
            a2 = gw_containers(d)[json.loads(ok(d.cli("inspect", "a2")))[0]["Id"]]["IPv4Address"].split("/")[0]
            gw = json.loads(ok(d.cli("network", "inspect", GW)))[0]["IPAM"]["Config"][0]["Gateway"]

            def ping(src: str, ip: str) -> bool:
                return d.cli("exec", src, "ping", "-c1", "-W2", ip).returncode == 0
            assert ping("a1", gw) and not ping("a1", a2)  # docker_gwbridge: gateway yes, neighbour no
            assert ping("b1", "10.213.37.1") and not ping("b1", "10.213.37.3")
            assert ping("c1", "10.213.38.3")  # ICC on: neighbours reach each other
        finally:
            d.cli("rm", "-f", "a1", "a2", "b1", "b2", "c1", "c2")
            for net in ("picc", "iccoff", "iccon"):
                d.cli("network", "rm", net)
