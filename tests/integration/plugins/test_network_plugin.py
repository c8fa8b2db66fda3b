"""A remote network driver and a remote IPAM driver written in the test from libnetwork's protocol
documentation (docs/remote.md, docs/ipam.md) against a real daemon: `network create -d` and
`--ipam-driver`, a container gets the interface the driver made, the address the IPAM gave, the MAC
the driver chose, its gateway and static routes; leave, endpoint deletion and releases happen in
order; malformed answers are refused with the plugin's name and nothing stays allocated."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Daemon
from tests.plugin_fakes import NetworkPluginLinks, bridge_network_driver, plugin_daemon, pool_ipam_driver

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def netplug_env(busybox_tar: Path) -> Iterator[tuple[Daemon, Path]]:
    with plugin_daemon(busybox_tar, "dyn-") as env:
        yield env


@pytest.fixture
def links() -> Iterator[NetworkPluginLinks]:
    made = NetworkPluginLinks()
    try:
        yield made
    finally:
        made.cleanup()


def ok(r: Any) -> str:
    assert r.returncode == 0, r.stderr.decode()
    return str(r.stdout.decode())


def host_link_exists(name: str) -> bool:
    return subprocess.run(["ip", "link", "show", name], capture_output=True).returncode == 0


def test_remote_driver_and_ipam_plumb_the_container(netplug_env: tuple[Daemon, Path],
                                                    links: NetworkPluginLinks) -> None:
    d, plugins = netplug_env
    route = {"Destination": "198.51.100.0/24", "RouteType": 0}
    with bridge_network_driver(plugins / "fakenet.sock", links, [route]) as drv, \
            pool_ipam_driver(plugins / "fakeipam.sock", "10.213.9.0/24") as ipam:
        ok(d.cli("network", "create", "-d", "fakenet", "--ipam-driver", "fakeipam", "--subnet", "10.213.7.0/24",
                 "-o", "color=blue", "--ipam-opt", "tier=gold", "pnet"))
        assert ("IpamDriver.RequestPool", {"AddressSpace": "fake-local", "Pool": "10.213.7.0/24", "SubPool": "",
                                           "Options": {"tier": "gold"}, "V6": False}) in ipam.calls
        assert ("IpamDriver.RequestAddress", {"PoolID": "pool/10.213.7.0/24", "Address": "", "Options": {
            "RequestAddressType": "com.docker.network.gateway"}}) in ipam.calls
        created = [a for m, a in drv.calls if m == "NetworkDriver.CreateNetwork"]
        assert len(created) == 1
        assert created[0]["IPv4Data"] == [{"AddressSpace": "fake-local", "Pool": "10.213.7.0/24",
                                           "Gateway": "10.213.7.1/24", "AuxAddresses": {}}]
        assert created[0]["Options"]["com.docker.network.generic"] == {"color": "blue"}
        n = json.loads(ok(d.cli("network", "inspect", "pnet")))[0]
        assert n["Driver"] == "fakenet" and n["IPAM"]["Driver"] == "fakeipam" and n["Scope"] == "local"
        assert n["IPAM"]["Config"] == [{"Subnet": "10.213.7.0/24", "Gateway": "10.213.7.1"}]
        assert n["Id"] == created[0]["NetworkID"]

        out = ok(d.cli("run", "--name", "pc1", "--network", "pnet", "busybox", "sh", "-c",
                       "ip -o addr show eth0; ip -o link show eth0; ip route; ping -c1 -W3 10.213.7.1"))
        eid = next(a["EndpointID"] for m, a in drv.calls if m == "NetworkDriver.CreateEndpoint")
        mac = "0e:" + ":".join(eid[i:i + 2] for i in range(0, 10, 2))
        assert "inet 10.213.7.100/24" in out  # the IPAM plugin's address, not the default IPAM's .2
        assert f"link/ether {mac}" in out  # the driver's MAC
        assert "default via 10.213.7.1" in out and "198.51.100.0/24 via 10.213.7.1" in out
        assert "1 packets received" in out  # through the driver's veth and bridge
        ep = json.loads(ok(d.cli("inspect", "pc1")))[0]["NetworkSettings"]["Networks"]["pnet"]
        assert ep["EndpointID"] == "" and ep["IPAddress"] == ""  # released at exit, as Docker's
        assert ("NetworkDriver.CreateEndpoint", {"NetworkID": n["Id"], "EndpointID": eid, "Options": {}, "Interface": {
            "Address": "10.213.7.100/24", "AddressIPv6": "", "MacAddress": ""}}) in drv.calls
        order = [m for m, a in drv.calls + ipam.calls if a.get("EndpointID") == eid or a.get("Address") == "10.213.7.100"]
        assert order[-3:] == ["NetworkDriver.Leave", "NetworkDriver.DeleteEndpoint", "IpamDriver.ReleaseAddress"], order
        join = next(a for m, a in drv.calls if m == "NetworkDriver.Join")
        assert join["SandboxKey"].endswith("/netns/" + json.loads(ok(d.cli("inspect", "pc1")))[0]["Id"])
        assert not host_link_exists("tph" + eid[:8])  # moved back to the host, then deleted by the plugin
        ok(d.cli("rm", "pc1"))

        ok(d.cli("network", "rm", "pnet"))
        assert ("NetworkDriver.DeleteNetwork", {"NetworkID": n["Id"]}) in drv.calls
        tail = ipam.methods_called()[-2:]
        assert tail == ["IpamDriver.ReleaseAddress", "IpamDriver.ReleasePool"], tail
        assert ipam.calls[-2][1] == {"PoolID": "pool/10.213.7.0/24", "Address": "10.213.7.1"}
        assert not host_link_exists("tpbr" + n["Id"][:8])


def test_remote_driver_with_the_default_ipam(netplug_env: tuple[Daemon, Path], links: NetworkPluginLinks) -> None:
    d, plugins = netplug_env
    with bridge_network_driver(plugins / "fakenet2.sock", links) as drv:
        ok(d.cli("network", "create", "-d", "fakenet2", "--subnet", "10.213.8.0/24", "pnet2"))
        data = next(a for m, a in drv.calls if m == "NetworkDriver.CreateNetwork")["IPv4Data"]
        assert data == [{"AddressSpace": "LocalDefault", "Pool": "10.213.8.0/24", "Gateway": "10.213.8.1/24",
                         "AuxAddresses": {}}]
        out = ok(d.cli("run", "--rm", "--network", "pnet2", "--mac-address", "02:42:0a:d5:08:99", "busybox",
                       "sh", "-c", "ip -o addr show eth0; ip -o link show eth0"))
        assert "inet 10.213.8.2/24" in out and "link/ether 02:42:0a:d5:08:99" in out
        sent = next(a for m, a in drv.calls if m == "NetworkDriver.CreateEndpoint")["Interface"]
        assert sent["MacAddress"] == "02:42:0a:d5:08:99"
        ok(d.cli("network", "rm", "pnet2"))


def test_unknown_and_wrong_kind_of_plugin(netplug_env: tuple[Daemon, Path], links: NetworkPluginLinks) -> None:
    d, plugins = netplug_env
    r = d.cli("network", "create", "-d", "nosuchnet", "px")
    assert r.returncode != 0 and 'plugin "nosuchnet" not found' in r.stderr.decode()
    with pool_ipam_driver(plugins / "onlyipam.sock", "10.213.10.0/24"):
        r = d.cli("network", "create", "-d", "onlyipam", "px")
        assert r.returncode != 0 and "plugin onlyipam does not implement NetworkDriver" in r.stderr.decode()
    assert "px" not in ok(d.cli("network", "ls", "--format", "{{.Name}}")).split()


def test_malformed_join_rolls_back(netplug_env: tuple[Daemon, Path], links: NetworkPluginLinks) -> None:
    """A Join answer without InterfaceName: the start fails naming the plugin and the method; the endpoint is
    left and deleted and its address released; the network is usable again afterwards."""
    d, plugins = netplug_env
    bad = {"NetworkDriver.Join": lambda a: {"Gateway": "10.213.11.1"}}
    with bridge_network_driver(plugins / "badjoin.sock", links, overrides=bad) as drv, \
            pool_ipam_driver(plugins / "ipam3.sock", "10.213.11.0/24") as ipam:
        ok(d.cli("network", "create", "-d", "badjoin", "--ipam-driver", "ipam3", "pnet3"))
        r = d.cli("run", "--rm", "--network", "pnet3", "busybox", "true")
        err = r.stderr.decode()
        assert r.returncode != 0 and "plugin badjoin: NetworkDriver.Join: malformed answer (no InterfaceName" in err, err
        assert drv.methods_called()[-2:] == ["NetworkDriver.Leave", "NetworkDriver.DeleteEndpoint"]
        assert ("IpamDriver.ReleaseAddress", {"PoolID": "pool/10.213.11.0/24", "Address": "10.213.11.100"}) \
            in ipam.calls
        drv.methods.pop("NetworkDriver.Join")
        drv.methods["NetworkDriver.Join"] = lambda a: {"InterfaceName": {"SrcName": "tpc" + a["EndpointID"][:8],
                                                                         "DstPrefix": "eth"}}
        out = ok(d.cli("run", "--rm", "--network", "pnet3", "busybox", "ip", "-o", "addr", "show", "eth0"))
        assert "inet 10.213.11.100/24" in out  # the released address was handed out again
        ok(d.cli("network", "rm", "pnet3"))


@pytest.mark.parametrize("override, message", [
    ({"IpamDriver.RequestAddress": lambda a: {"Address": "192.0.2.1/24"}},
     "plugin ipam4: IpamDriver.RequestAddress: malformed answer (Address 192.0.2.1/24 is not in pool 10.213.12.0/24)"),
    ({"IpamDriver.RequestPool": lambda a: {"PoolID": "p", "Pool": "not-a-cidr"}},
     "plugin ipam4: IpamDriver.RequestPool: malformed answer (Pool 'not-a-cidr' is not a CIDR)"),
    ({"IpamDriver.RequestPool": lambda a: b"<html>oops</html>"},
     "plugin ipam4: IpamDriver.RequestPool: malformed answer (not a JSON object)"),
])
def test_malformed_ipam_answers_refused(netplug_env: tuple[Daemon, Path], links: NetworkPluginLinks,
                                        override: dict[str, Any], message: str) -> None:
    d, plugins = netplug_env
    with bridge_network_driver(plugins / "net4.sock", links) as drv, \
            pool_ipam_driver(plugins / "ipam4.sock", "10.213.12.0/24", overrides=override) as ipam:
        r = d.cli("network", "create", "-d", "net4", "--ipam-driver", "ipam4", "pnet4")
        assert r.returncode != 0 and message in r.stderr.decode(), r.stderr.decode()
        assert "NetworkDriver.CreateNetwork" not in drv.methods_called()
        if "IpamDriver.RequestAddress" in override:  # the pool it got is given back
            assert ipam.methods_called()[-1] == "IpamDriver.ReleasePool"
        assert "pnet4" not in ok(d.cli("network", "ls", "--format", "{{.Name}}")).split()


def test_driver_with_a_bad_scope_is_refused(netplug_env: tuple[Daemon, Path], links: NetworkPluginLinks) -> None:
    d, plugins = netplug_env
    bad = {"NetworkDriver.GetCapabilities": lambda a: {"Scope": "galaxy"}}
    with bridge_network_driver(plugins / "net5.sock", links, overrides=bad):
        r = d.cli("network", "create", "-d", "net5", "pnet5")
        assert r.returncode != 0
        assert "plugin net5: NetworkDriver.GetCapabilities: malformed answer (Scope 'galaxy' is neither local nor " \
               "global)" in r.stderr.decode()


def test_silent_and_dead_network_plugins_are_reported(netplug_env: tuple[Daemon, Path]) -> None:
    """A socket that accepts and never answers: given up after the plugin timeout (3 s here), the network
    is not made. A plugin that died (its socket left, nobody listening): retried with Docker's back-off
    within the window, then reported."""
    import socket
    import time

    d, plugins = netplug_env
    mute = socket.socket(socket.AF_UNIX)
    mute.bind(str(plugins / "mutenet.sock"))
    mute.listen(8)
    try:
        start = time.monotonic()
        r = d.cli("network", "create", "-d", "mutenet", "pm")
        took = time.monotonic() - start
        assert r.returncode != 0 and "plugin mutenet: Plugin.Activate: no answer within 3s" in r.stderr.decode()
        assert 2.5 < took < 15, took
    finally:
        mute.close()
    r = d.cli("network", "create", "-d", "mutenet", "pm")  # the socket file stays, refused now
    assert r.returncode != 0 and "plugin mutenet is not reachable" in r.stderr.decode(), r.stderr.decode()
    assert "pm" not in ok(d.cli("network", "ls", "--format", "{{.Name}}")).split()


def test_bridge_network_with_an_ipam_plugin(netplug_env: tuple[Daemon, Path]) -> None:
    """The built-in bridge driver on a plugin's pools: the bridge gets the gateway the IPAM gave, a
    container the IPAM's address; the address and the pool go back to the plugin."""
    d, plugins = netplug_env
    with pool_ipam_driver(plugins / "ipam6.sock", "10.213.14.0/24", first_host=50) as ipam:
        nid = ok(d.cli("network", "create", "--ipam-driver", "ipam6", "pbr")).strip()
        n = json.loads(ok(d.cli("network", "inspect", "pbr")))[0]
        assert n["Driver"] == "bridge" and n["IPAM"]["Driver"] == "ipam6"
        assert n["IPAM"]["Config"] == [{"Subnet": "10.213.14.0/24", "Gateway": "10.213.14.1"}]
        assert "inet 10.213.14.1/24" in subprocess.run(["ip", "-o", "addr", "show", "br-" + nid[:12]],
                                                        capture_output=True, text=True).stdout
        out = ok(d.cli("run", "--rm", "--network", "pbr", "busybox", "sh", "-c",
                       "ip -o addr show eth0; ping -c1 -W3 10.213.14.1"))
        assert "inet 10.213.14.50/24" in out and "1 packets received" in out
        assert ("IpamDriver.ReleaseAddress", {"PoolID": "pool/10.213.14.0/24", "Address": "10.213.14.50"}) \
            in ipam.calls
        ok(d.cli("network", "rm", "pbr"))
        assert ipam.methods_called()[-1] == "IpamDriver.ReleasePool"
        assert not host_link_exists("br-" + nid[:12])


def _http_get(port: int) -> str:
    import socket
    import time

    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
                s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                return s.makefile("rb").read().decode(errors="replace")
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_published_port_on_a_plugin_network(netplug_env: tuple[Daemon, Path], links: NetworkPluginLinks) -> None:
    """`-p 127.0.0.1::80` on a plugin network: the driver is told the port map by
    ProgramExternalConnectivity (libnetwork's sandbox options), the port answers from the container's
    address on the plugin's network, and RevokeExternalConnectivity comes before Leave at stop."""
    d, plugins = netplug_env
    with bridge_network_driver(plugins / "fakenet7.sock", links) as drv:
        ok(d.cli("network", "create", "-d", "fakenet7", "--subnet", "10.213.15.0/24", "pnet7"))
        try:
            ok(d.cli("run", "-d", "--name", "pweb", "--network", "pnet7", "-p", "127.0.0.1::80", "busybox", "sh",
                     "-c", "mkdir -p /www && echo plugin-net-page > /www/index.html && exec httpd -f -p 80 -h /www"))
            c = json.loads(ok(d.cli("inspect", "pweb")))[0]
            host_port = int(c["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"])
            ip = c["NetworkSettings"]["Networks"]["pnet7"]["IPAddress"]
            assert ip == "10.213.15.2"
            assert "plugin-net-page" in _http_get(host_port)
            eid = c["NetworkSettings"]["Networks"]["pnet7"]["EndpointID"]
            prog = next(a for m, a in drv.calls if m == "NetworkDriver.ProgramExternalConnectivity")
            assert prog == {"NetworkID": c["NetworkSettings"]["Networks"]["pnet7"]["NetworkID"], "EndpointID": eid,
                            "Options": {"com.docker.network.portmap": [
                                {"Proto": 6, "IP": ip, "Port": 80, "HostIP": "127.0.0.1", "HostPort": host_port,
                                 "HostPortEnd": host_port}],
                                "com.docker.network.endpoint.exposedports": [{"Proto": 6, "Port": 80}]}}
            ok(d.cli("stop", "-t", "1", "pweb"))
            mine = [m for m, a in drv.calls if a.get("EndpointID") == eid]
            assert mine[-4:] == ["NetworkDriver.ProgramExternalConnectivity", "NetworkDriver.RevokeExternalConnectivity",
                                 "NetworkDriver.Leave", "NetworkDriver.DeleteEndpoint"], mine
        finally:
            d.cli("rm", "-f", "pweb")
            d.cli("network", "rm", "pnet7")


def test_info_lists_plugin_network_drivers(netplug_env: tuple[Daemon, Path], links: NetworkPluginLinks) -> None:
    """`docker info`'s Plugins.Network as dockerd's: built-in drivers and every network's driver, sorted; an
    IPAM plugin is not listed; no authorization plugin configured is null."""
    d, plugins = netplug_env
    with bridge_network_driver(plugins / "fakenet8.sock", links), \
            pool_ipam_driver(plugins / "ipam8.sock", "10.213.16.0/24"):
        ok(d.cli("network", "create", "-d", "fakenet8", "--ipam-driver", "ipam8", "pnet8"))
        try:
            listed = json.loads(ok(d.cli("info", "--format", "{{json .Plugins}}")))
            assert listed["Network"] == ["bridge", "fakenet8", "host", "null"]
            assert listed["Volume"] == ["local"] and listed["Authorization"] is None
        finally:
            ok(d.cli("network", "rm", "pnet8"))
        listed = json.loads(ok(d.cli("info", "--format", "{{json .Plugins}}")))
        assert listed["Network"] == ["bridge", "host", "null"]


def test_ipam_requiring_a_mac_and_endpoint_oper_info(netplug_env: tuple[Daemon, Path],
                                                     links: NetworkPluginLinks) -> None:
    """An IPAM plugin whose capabilities say RequiresMACAddress gets a random, locally administered MAC in
    RequestAddress's options (ipam.md), and the endpoint is made with it; EndpointOperInfo is asked once
    joined, and a malformed answer to it fails nothing (dockerd ignores it)."""
    d, plugins = netplug_env
    with bridge_network_driver(plugins / "fakenet9.sock", links,
                               overrides={"NetworkDriver.EndpointOperInfo": lambda a: {"Value": "oops"}}) as drv, \
            pool_ipam_driver(plugins / "ipam9.sock", "10.213.17.0/24",
                             overrides={"IpamDriver.GetCapabilities": lambda a: {"RequiresMACAddress": True}}) as ipam:
        ok(d.cli("network", "create", "-d", "fakenet9", "--ipam-driver", "ipam9", "pnet9"))
        try:
            out = ok(d.cli("run", "--name", "pmac", "--network", "pnet9", "busybox", "ip", "-o", "link", "show",
                           "eth0"))
            asked = [a for m, a in ipam.calls if m == "IpamDriver.RequestAddress" and not a["Address"]
                     and "RequestAddressType" not in a["Options"]]
            mac = asked[0]["Options"]["com.docker.network.endpoint.macaddress"]
            assert int(mac[:2], 16) & 0x03 == 0x02, mac  # locally administered, unicast
            assert f"link/ether {mac}" in out
            sent = next(a for m, a in drv.calls if m == "NetworkDriver.CreateEndpoint")
            assert sent["Interface"]["MacAddress"] == mac
            after_join = drv.methods_called()[drv.methods_called().index("NetworkDriver.Join") + 1]
            assert after_join == "NetworkDriver.EndpointOperInfo"
            assert ("NetworkDriver.EndpointOperInfo", {"NetworkID": sent["NetworkID"],
                                                       "EndpointID": sent["EndpointID"]}) in drv.calls
            ep = json.loads(ok(d.cli("inspect", "pmac")))[0]["NetworkSettings"]["Networks"]["pnet9"]
            assert ep["MacAddress"] == ""  # generated for the IPAM, not kept as configured
        finally:
            d.cli("rm", "-f", "pmac")
            d.cli("network", "rm", "pnet9")


def test_gateway_allocation_check(netplug_env: tuple[Daemon, Path], links: NetworkPluginLinks) -> None:
    """A driver with GwAllocChecker is asked GwAllocCheck with CreateNetwork's options before the pools; with
    SkipIPv4 no gateway address is requested from the IPAM plugin nor recorded, unless one was configured."""
    d, plugins = netplug_env
    skip = {"NetworkDriver.GetCapabilities": lambda a: {"Scope": "local", "GwAllocChecker": True},
            "NetworkDriver.GwAllocCheck": lambda a: {"SkipIPv4": True, "SkipIPv6": False},
            "NetworkDriver.CreateNetwork": lambda a: {}, "NetworkDriver.DeleteNetwork": lambda a: {}}
    with bridge_network_driver(plugins / "gwnet.sock", links, overrides=skip) as drv, \
            pool_ipam_driver(plugins / "ipam10.sock", "10.213.18.0/24") as ipam:
        ok(d.cli("network", "create", "-d", "gwnet", "--ipam-driver", "ipam10", "-o", "k=v", "pgw"))
        try:
            methods = drv.methods_called()
            assert methods.index("NetworkDriver.GwAllocCheck") < methods.index("NetworkDriver.CreateNetwork")
            check = next(a for m, a in drv.calls if m == "NetworkDriver.GwAllocCheck")
            created = next(a for m, a in drv.calls if m == "NetworkDriver.CreateNetwork")
            assert check == {"Options": created["Options"]} and created["Options"]["com.docker.network.generic"] \
                == {"k": "v"}
            assert not [a for m, a in ipam.calls if m == "IpamDriver.RequestAddress"]
            assert created["IPv4Data"][0]["Gateway"] == ""
            n = json.loads(ok(d.cli("network", "inspect", "pgw")))[0]
            assert n["IPAM"]["Config"] == [{"Subnet": "10.213.18.0/24"}]
            ok(d.cli("network", "create", "-d", "gwnet", "--subnet", "10.213.19.0/24", "--gateway", "10.213.19.9",
                     "pgw2"))
            n = json.loads(ok(d.cli("network", "inspect", "pgw2")))[0]
            assert n["IPAM"]["Config"] == [{"Subnet": "10.213.19.0/24", "Gateway": "10.213.19.9"}]
            ok(d.cli("network", "create", "-d", "gwnet", "--subnet", "10.213.20.0/24", "pgw3"))
            n = json.loads(ok(d.cli("network", "inspect", "pgw3")))[0]
            assert n["IPAM"]["Config"] == [{"Subnet": "10.213.20.0/24"}]  # the default IPAM skipped it too
        finally:
            for name in ("pgw", "pgw2", "pgw3"):
                d.cli("network", "rm", name)
        assert ipam.methods_called()[-1] == "IpamDriver.ReleasePool"
