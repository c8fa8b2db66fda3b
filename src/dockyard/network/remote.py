"""Networks served by plugins: Docker's remote network driver (``NetworkDriver.*``) and remote IPAM
driver (``IpamDriver.*``) protocols, spoken as libnetwork's ``drivers/remote`` and ``ipams/remote``
proxies speak them (moby's ``libnetwork/docs/remote.md`` and ``ipam.md``).

A network whose driver is a plugin (``network create -d NAME``) is created, joined and left through
it: the IPAM (the default one, or a plugin's with ``--ipam-driver``) gives the endpoint its addresses,
``CreateEndpoint`` may add a MAC address, ``Join`` names the interface the plugin made on the host
(``SrcName``), which is moved into the container's namespace as ``DstPrefix`` + index and given the
addresses, the MAC, the ``Gateway`` (default route of the first endpoint) and the ``StaticRoutes``.
At leave the interface is moved back under its own name (the plugin deletes it), then ``Leave``,
``DeleteEndpoint`` and ``ReleaseAddress``; a plugin failing then is logged, the container still goes.

What the daemon keeps of a plugin IPAM's pools (pool IDs, the gateway and auxiliary addresses it
handed out): ``<data-root>/network-plugins.json``. Every answer is checked before it is used; a
malformed one is an error naming the plugin and the method.
"""

from __future__ import annotations

import fcntl
import ipaddress
import json
import logging
import os
import re
import socket
import struct
import threading
from pathlib import Path
from typing import Any

from dockyard import errors
from dockyard.network import netlink
from dockyard.network.driver import sysctl
from dockyard.network.sandbox import run_in
from dockyard.plugins.discovery import Plugin, PluginRegistry

log = logging.getLogger("dockyard.network.remote")
DRIVER, IPAM = "NetworkDriver", "IpamDriver"
GATEWAY_OPTS = {"RequestAddressType": "com.docker.network.gateway"}
MAC_OPT = "com.docker.network.endpoint.macaddress"
PORTMAP_OPT, EXPOSED_OPT = "com.docker.network.portmap", "com.docker.network.endpoint.exposedports"
PROTOCOLS = {"tcp": 6, "udp": 17, "sctp": 132}  # libnetwork's types.Protocol numbers
_MAC = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")
RTA_OIF, RT_SCOPE_LINK, RT_TABLE_MAIN, RTPROT_BOOT, RTN_UNICAST = 4, 253, 254, 3, 1
SIOCGIFHWADDR = 0x8927


def builtin(n: dict[str, Any]) -> bool:
    """Is ``n`` wholly the daemon's (bridge, host, null with the default IPAM)?"""
    return n["Driver"] in ("bridge", "overlay", "host", "null") and (
        (n.get("IPAM") or {}).get("Driver", "default") == "default")


def _malformed(p: Plugin, method: str, what: str) -> errors.Internal:
    return errors.Internal(f"plugin {p.name}: {method}: malformed answer ({what})")


def _string(p: Plugin, method: str, answer: dict[str, Any], key: str, required: bool = True) -> str:
    value = answer.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise _malformed(p, method, f"{key} must be a non-empty string, not {value!r}")
    return value


def _address(p: Plugin, method: str, value: Any, pool: ipaddress.IPv4Network | ipaddress.IPv6Network) -> str:
    """An address the IPAM answered as ``A.B.C.D/NN``: it must be one of ``pool``'s."""
    try:
        iface = ipaddress.ip_interface(value)
    except (TypeError, ValueError):
        raise _malformed(p, method, f"Address {value!r} is not an address in CIDR form") from None
    if iface.ip not in pool:
        raise _malformed(p, method, f"Address {value} is not in pool {pool}")
    return str(iface.ip)


def _ip(p: Plugin, method: str, value: Any, key: str) -> str:
    if not value:
        return ""
    try:
        return str(ipaddress.ip_address(value))
    except (TypeError, ValueError):
        raise _malformed(p, method, f"{key} {value!r} is not an IP address") from None


def _routes(p: Plugin, method: str, raw: Any) -> list[tuple[str, int, str]]:
    """``StaticRoutes``: (destination CIDR, type, next hop); type 0 needs a next hop, 1 is connected."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise _malformed(p, method, "StaticRoutes must be a list")
    out = []
    for r in raw:
        if not isinstance(r, dict):
            raise _malformed(p, method, f"static route {r!r} is not an object")
        try:
            dest = str(ipaddress.ip_network(str(r.get("Destination") or ""), strict=False))
        except (TypeError, ValueError):
            raise _malformed(p, method, f"static route Destination {r.get('Destination')!r}") from None
        kind = r.get("RouteType", 0)
        hop = _ip(p, method, r.get("NextHop"), "NextHop")
        if kind not in (0, 1) or (kind == 0) != bool(hop):
            raise _malformed(p, method, f"static route to {dest}: RouteType 0 needs a NextHop, 1 has none")
        out.append((dest, int(kind), hop))
    return out


def _route_message(dest: str, kind: int, hop: str, index: int) -> bytes:
    net = ipaddress.ip_network(dest)
    family = socket.AF_INET6 if net.version == 6 else socket.AF_INET
    scope = RT_SCOPE_LINK if kind == 1 else 0
    body = netlink._RTMSG.pack(family, net.prefixlen, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, scope, RTN_UNICAST, 0)
    body += netlink.attr(netlink.RTA_DST, net.network_address.packed) + netlink.attr(RTA_OIF, struct.pack("=I", index))
    if hop:
        body += netlink.attr(netlink.RTA_GATEWAY, ipaddress.ip_address(hop).packed)
    return body


def _hwaddr(name: str) -> str:
    """The MAC address of link ``name`` in the calling thread's namespace."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        raw = fcntl.ioctl(s.fileno(), SIOCGIFHWADDR, struct.pack("256s", name.encode()[:15]))
    return ":".join(f"{b:02x}" for b in raw[18:24])


class RemoteNetworks:
    def __init__(self, registry: PluginRegistry, state: Path) -> None:
        self.registry = registry
        self.file = state
        self._lock = threading.Lock()
        self.local: dict[str, Any] = {}  # the daemon's own drivers that answer as plugins do (vlans.py)

    def _plugin(self, name: str, implements: str) -> Plugin:
        if implements == DRIVER and name in self.local:
            return self.local[name]  # type: ignore[no-any-return]
        try:
            return self.registry.get(name, implements)
        except errors.NotFound:
            raise errors.NotFound(f'plugin "{name}" not found') from None

    # -- the record of plugin IPAM pools ------------------------------------------------

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            return json.loads(self.file.read_text())  # type: ignore[no-any-return]
        except FileNotFoundError:
            return {}

    def _update(self, net_id: str, value: dict[str, Any] | None) -> None:
        with self._lock:
            records = self._load()
            if value is None:
                records.pop(net_id, None)
            else:
                records[net_id] = value
            tmp = self.file.with_suffix(".tmp")
            tmp.write_text(json.dumps(records))
            os.chmod(tmp, 0o600)
            tmp.rename(self.file)

    def _pools(self, net_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._load().get(net_id, {}).get("Pools", []))

    # -- IPAM ------------------------------------------------------------------------

    def request_pools(self, net_id: str, driver: str, items: list[dict[str, Any]], ipv6: bool,
                      options: dict[str, str], skips: tuple[bool, bool] = (False, False)) -> list[dict[str, Any]]:
        """A network's pools from IPAM plugin ``driver``: ``RequestPool`` per configured pool (an IPv4 one of
        the plugin's choice when none is given, an IPv6 one too with ``ipv6``), then the gateway and the
        auxiliary addresses by ``RequestAddress``. Returns the IPAM ``Config`` of the network; on failure
        what was obtained is released."""
        p = self._plugin(driver, IPAM)
        space = _string(p, "IpamDriver.GetDefaultAddressSpaces", p.call("IpamDriver.GetDefaultAddressSpaces"),
                        "LocalDefaultAddressSpace")
        wanted = [(_version(item) == 6, item) for item in items if item]
        if not any(not v6 for v6, _ in wanted):
            wanted.insert(0, (False, {}))
        if ipv6 and not any(v6 for v6, _ in wanted):
            wanted.append((True, {}))
        elif not ipv6 and any(v6 for v6, _ in wanted):
            raise errors.InvalidArgument("invalid network config: an IPv6 subnet was given but IPv6 is not "
                                         "enabled (EnableIPv6)")
        pools: list[dict[str, Any]] = []
        try:
            for v6, item in wanted:
                pools.append(self._request_pool(p, space, item, v6, options, skips[v6]))
        except BaseException:
            self._release_pools(p, pools)
            raise
        caps = p.client.call("IpamDriver.GetCapabilities", optional=True)
        self._update(net_id, {"Ipam": driver, "AddressSpace": space, "Pools": pools,
                              "RequiresMACAddress": caps.get("RequiresMACAddress") is True})
        config = []
        for pool in pools:
            entry: dict[str, Any] = {"Subnet": pool["Pool"]}
            if pool["Gateway"]:
                entry["Gateway"] = pool["Gateway"]
            if pool.get("SubPool"):
                entry["IPRange"] = pool["SubPool"]
            if pool["Aux"]:
                entry["AuxiliaryAddresses"] = dict(pool["Aux"])
            config.append(entry)
        return config

    def _request_pool(self, p: Plugin, space: str, item: dict[str, Any], v6: bool,
                      options: dict[str, str], skip_gateway: bool) -> dict[str, Any]:
        method = "IpamDriver.RequestPool"
        if item.get("IPRange") and not item.get("Subnet"):
            raise errors.InvalidArgument("invalid pool request: an IPRange needs a Subnet")
        ans = p.call(method, {"AddressSpace": space, "Pool": item.get("Subnet") or "",
                              "SubPool": item.get("IPRange") or "", "Options": options, "V6": v6})
        pool: dict[str, Any] = {"PoolID": _string(p, method, ans, "PoolID"), "Pool": "",
                                "SubPool": item.get("IPRange") or "", "V6": v6, "Gateway": "", "Aux": {}}
        pool_id = pool["PoolID"]
        try:
            try:
                net = ipaddress.ip_network(ans.get("Pool"), strict=False)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                raise _malformed(p, method, f"Pool {ans.get('Pool')!r} is not a CIDR") from None
            if (net.version == 6) != v6:
                raise _malformed(p, method, f"Pool {net} is not an IPv{6 if v6 else 4} pool")
            pool["Pool"] = str(net)
            method = "IpamDriver.RequestAddress"
            if item.get("Gateway") or not skip_gateway:
                gw = p.call(method, {"PoolID": pool_id, "Address": item.get("Gateway") or "", "Options": GATEWAY_OPTS})
                pool["Gateway"] = _address(p, method, gw.get("Address"), net)
            for name, addr in (item.get("AuxiliaryAddresses") or {}).items():
                got = p.call(method, {"PoolID": pool_id, "Address": addr, "Options": {}})
                pool["Aux"][name] = _address(p, method, got.get("Address"), net)
        except BaseException:
            self._release_pools(p, [pool])
            raise
        return pool

    def _release_pools(self, p: Plugin, pools: list[dict[str, Any]]) -> None:
        """Gateway and auxiliary addresses, then the pool, as libnetwork at network removal; failures are
        logged (the network goes all the same)."""
        for pool in pools:
            for addr in [pool["Gateway"], *pool["Aux"].values()]:
                if addr:
                    self._quietly(p, "IpamDriver.ReleaseAddress", {"PoolID": pool["PoolID"], "Address": addr})
            self._quietly(p, "IpamDriver.ReleasePool", {"PoolID": pool["PoolID"]})

    def _quietly(self, p: Plugin, method: str, args: dict[str, Any]) -> None:
        try:
            p.call(method, args)
        except errors.DockyardError as err:
            log.warning("%s", err)

    def replay(self, networks: dict[str, dict[str, Any]], endpoints: dict[str, dict[str, dict[str, Any]]]) -> None:
        """At daemon start, for an IPAM plugin whose capabilities say ``RequiresRequestReplay`` (ipam.md, as
        libnetwork's reservePools): each network's ``RequestPool`` again, then its gateway's and auxiliary
        addresses' and its endpoints' ``RequestAddress``, so that a plugin that keeps nothing across a restart
        knows them again. A plugin that is gone or refuses costs a log line, not the start."""
        for net_id, rec in self._load().items():
            n = networks.get(net_id)
            if n is None:
                continue
            try:
                p = self._plugin(rec["Ipam"], IPAM)
                if p.client.call("IpamDriver.GetCapabilities", optional=True).get("RequiresRequestReplay") is not True:
                    continue
                for pool in rec["Pools"]:
                    self._replay_pool(p, n, rec, pool, list(endpoints.get(net_id, {}).values()))
                self._update(net_id, rec)
            except errors.DockyardError as err:
                log.warning("network %s: IPAM requests not replayed: %s", n["Name"], err)

    def _replay_pool(self, p: Plugin, n: dict[str, Any], rec: dict[str, Any], pool: dict[str, Any],
                     eps: list[dict[str, Any]]) -> None:
        method = "IpamDriver.RequestPool"
        ans = p.call(method, {"AddressSpace": rec["AddressSpace"], "Pool": pool["Pool"], "SubPool": pool["SubPool"],
                              "Options": (n.get("IPAM") or {}).get("Options") or {}, "V6": pool["V6"]})
        pool["PoolID"] = _string(p, method, ans, "PoolID")
        net = ipaddress.ip_network(pool["Pool"])
        wanted = [(pool["Gateway"], GATEWAY_OPTS), *((a, {}) for a in pool["Aux"].values())]
        for ep in eps:
            mac = ep.get("MacAddress") or ""
            wanted.append((ep.get("GlobalIPv6Address" if pool["V6"] else "IPAddress") or "",
                           {MAC_OPT: mac} if mac and rec.get("RequiresMACAddress") else {}))
        for addr, options in wanted:
            if addr and ipaddress.ip_address(addr) in net:
                got = p.call("IpamDriver.RequestAddress", {"PoolID": pool["PoolID"], "Address": addr, "Options": options})
                _address(p, "IpamDriver.RequestAddress", got.get("Address"), net)

    def request_addresses(self, n: dict[str, Any], requested: dict[str, Any],
                          mac: str) -> tuple[str, str, str]:
        """An endpoint's IPv4 (and, with IPv6 pools, IPv6) address from the network's IPAM plugin, and its MAC:
        ``mac``, or a random one when the plugin's capabilities said ``RequiresMACAddress`` (ipam.md)."""
        p = self._plugin(n["IPAM"]["Driver"], IPAM)
        got = {4: "", 6: ""}
        with self._lock:
            if not mac and self._load().get(n["Id"], {}).get("RequiresMACAddress"):
                mac = random_mac()
        try:
            for pool in self._pools(n["Id"]):
                version = 6 if pool["V6"] else 4
                if got[version]:
                    continue
                ans = p.call("IpamDriver.RequestAddress", {
                    "PoolID": pool["PoolID"], "Address": requested.get(f"IPv{version}Address") or "",
                    "Options": {MAC_OPT: mac} if mac else {}})
                got[version] = _address(p, "IpamDriver.RequestAddress", ans.get("Address"),
                                        ipaddress.ip_network(pool["Pool"]))
        except BaseException:
            self.release_addresses(n, {"IPAddress": got[4], "GlobalIPv6Address": got[6]})
            raise
        if not got[4]:
            raise errors.Internal(f"plugin {p.name}: network {n['Name']} has no IPv4 pool")
        return got[4], got[6], mac

    def release_addresses(self, n: dict[str, Any], record: dict[str, Any]) -> None:
        p = self._plugin(n["IPAM"]["Driver"], IPAM)
        for pool in self._pools(n["Id"]):
            addr = record.get("GlobalIPv6Address" if pool["V6"] else "IPAddress")
            if addr and ipaddress.ip_address(addr) in ipaddress.ip_network(pool["Pool"]):
                self._quietly(p, "IpamDriver.ReleaseAddress", {"PoolID": pool["PoolID"], "Address": addr})

    # -- network drivers ---------------------------------------------------------------

    def gateway_skips(self, driver: str, options: dict[str, Any]) -> tuple[bool, bool]:
        """A driver whose capabilities say ``GwAllocChecker`` is asked ``GwAllocCheck`` with the options
        CreateNetwork will carry: (SkipIPv4, SkipIPv6), no gateway address allocated where it says so."""
        p = self._plugin(driver, DRIVER)
        if p.call("NetworkDriver.GetCapabilities").get("GwAllocChecker") is not True:
            return False, False
        method = "NetworkDriver.GwAllocCheck"
        ans = p.call(method, {"Options": options})
        for key in ("SkipIPv4", "SkipIPv6"):
            if not isinstance(ans.get(key, False), bool):
                raise _malformed(p, method, f"{key} must be true or false, not {ans[key]!r}")
        return bool(ans.get("SkipIPv4")), bool(ans.get("SkipIPv6"))

    def create(self, n: dict[str, Any]) -> None:
        """``CreateNetwork`` with the network's pools; the network's scope is the driver's."""
        p = self._plugin(n["Driver"], DRIVER)
        caps = p.call("NetworkDriver.GetCapabilities")
        if caps.get("Scope") not in ("local", "global"):
            raise _malformed(p, "NetworkDriver.GetCapabilities", f"Scope {caps.get('Scope')!r} is neither local "
                             "nor global")
        n["Scope"] = caps["Scope"]
        options = driver_options(bool(n.get("EnableIPv6")), bool(n.get("Internal")), n.get("Options") or {})
        with self._lock:
            space = self._load().get(n["Id"], {}).get("AddressSpace") or "LocalDefault"
        data: dict[int, list[dict[str, Any]]] = {4: [], 6: []}
        for item in n["IPAM"]["Config"]:
            net = ipaddress.ip_network(item["Subnet"])
            entry: dict[str, Any] = {"AddressSpace": space, "Pool": str(net),
                                     "Gateway": f"{item['Gateway']}/{net.prefixlen}" if item.get("Gateway") else "",
                                     "AuxAddresses": {k: f"{v}/{net.prefixlen}"
                                                      for k, v in (item.get("AuxiliaryAddresses") or {}).items()}}
            data[net.version].append(entry)
        p.call("NetworkDriver.CreateNetwork", {"NetworkID": n["Id"], "Options": options, "IPv4Data": data[4],
                                               "IPv6Data": data[6]})

    def forget(self, n: dict[str, Any]) -> None:
        """At network removal: ``DeleteNetwork`` (an error keeps the network), then the IPAM plugin's pools."""
        if n["Driver"] not in ("bridge", "host", "null"):
            self._plugin(n["Driver"], DRIVER).call("NetworkDriver.DeleteNetwork", {"NetworkID": n["Id"]})
        self.release_pools(n)

    def release_pools(self, n: dict[str, Any]) -> None:
        if n["IPAM"]["Driver"] == "default":
            return
        pools = self._pools(n["Id"])
        try:
            self._release_pools(self._plugin(n["IPAM"]["Driver"], IPAM), pools)
        except errors.DockyardError as err:
            log.warning("network %s: pools not released: %s", n["Name"], err)
        self._update(n["Id"], None)

    def join(self, n: dict[str, Any], record: dict[str, Any], mac: str, sandbox: str,
             default_route: bool) -> dict[str, Any]:
        """``CreateEndpoint`` and ``Join``; the interface the plugin names is moved into ``sandbox`` and
        configured. What the calls did is noted in ``record["Plugin"]`` (what ``leave`` undoes, also after
        a failure half-way). Returns the endpoint's MacAddress, Gateway and IPv6Gateway."""
        p = self._plugin(n["Driver"], DRIVER)
        done: dict[str, Any] = {}
        record["Plugin"] = done
        ip, plen = record["IPAddress"], record["IPPrefixLen"]
        ip6, plen6 = record.get("GlobalIPv6Address") or "", record.get("GlobalIPv6PrefixLen") or 0
        sent = {"Address": f"{ip}/{plen}", "AddressIPv6": f"{ip6}/{plen6}" if ip6 else "", "MacAddress": mac}
        method = "NetworkDriver.CreateEndpoint"
        ans = p.call(method, {"NetworkID": n["Id"], "EndpointID": record["EndpointID"],
                              "Options": dict(record.get("DriverOpts") or {}), "Interface": sent})
        done["Endpoint"] = True
        iface = ans.get("Interface") or {}
        if not isinstance(iface, dict):
            raise _malformed(p, method, "Interface is not an object")
        for key in ("Address", "AddressIPv6", "MacAddress"):
            if iface.get(key) and sent[key] and iface[key] != sent[key]:
                raise errors.Internal(f"plugin {p.name}: {method}: driver modified interface {key} "
                                      f"({sent[key]} → {iface[key]})")
        if iface.get("MacAddress"):
            if not isinstance(iface["MacAddress"], str) or not _MAC.match(iface["MacAddress"]):
                raise _malformed(p, method, f"MacAddress {iface['MacAddress']!r}")
            mac = mac or iface["MacAddress"].lower()
        method = "NetworkDriver.Join"
        j = p.call(method, {"NetworkID": n["Id"], "EndpointID": record["EndpointID"], "SandboxKey": sandbox,
                            "Options": {}})
        done["Joined"] = True
        names = j.get("InterfaceName")
        if not isinstance(names, dict):
            raise _malformed(p, method, "no InterfaceName {SrcName, DstPrefix}")
        src, prefix = _string(p, method, names, "SrcName"), _string(p, method, names, "DstPrefix")
        gw, gw6 = _ip(p, method, j.get("Gateway"), "Gateway"), _ip(p, method, j.get("GatewayIPv6"), "GatewayIPv6")
        routes = _routes(p, method, j.get("StaticRoutes"))
        if not isinstance(j.get("DisableGatewayService", False), bool):
            raise _malformed(p, method, f"DisableGatewayService must be true or false, not {j['DisableGatewayService']!r}")
        # what decides whether the container needs docker_gwbridge (gwbridge.py)
        done.update(DisableGatewayService=j.get("DisableGatewayService") is True,
                    DefaultRoute=any(dest == "0.0.0.0/0" for dest, _, _ in routes))
        custom = (record.get("DriverOpts") or {}).get("com.docker.network.endpoint.ifname")  # as asked, no prefix
        dst = custom or f"{prefix}{record['Interface'].removeprefix('eth')}"
        cidrs = [f"{ip}/{plen}", *([f"{ip6}/{plen6}"] if ip6 else [])]
        mac = self._move_in(p, done, src, dst, sandbox, mac, cidrs, routes, (gw, gw6) if default_route else ("", ""))
        record["OperInfo"] = self._oper_info(p, n["Id"], record["EndpointID"])
        return {"MacAddress": mac, "Gateway": gw, "IPv6Gateway": gw6}

    @staticmethod
    def _oper_info(p: Plugin, net_id: str, endpoint_id: str) -> dict[str, Any]:
        """``EndpointOperInfo``'s ``Value``, asked once joined as dockerd does when it fills the container's
        network settings; like dockerd, a failure or a malformed answer costs nothing but a log line."""
        method = "NetworkDriver.EndpointOperInfo"
        try:
            value = p.client.call(method, {"NetworkID": net_id, "EndpointID": endpoint_id}, optional=True).get("Value")
        except errors.DockyardError as err:
            log.warning("%s", err)
            return {}
        if value is not None and not isinstance(value, dict):
            log.warning("%s", _malformed(p, method, "Value is not an object"))
            return {}
        return value or {}

    def _move_in(self, p: Plugin, done: dict[str, Any], src: str, dst: str, sandbox: str, mac: str,
                 cidrs: list[str], routes: list[tuple[str, int, str]], gateways: tuple[str, str]) -> str:
        index = netlink.index(src)
        if not index:
            raise errors.Internal(f"plugin {p.name}: NetworkDriver.Join: the interface it named (SrcName {src!r}) "
                                  "does not exist")
        fd = os.open(sandbox, os.O_RDONLY | os.O_CLOEXEC)
        try:
            with netlink.Netlink() as nl:
                nl.request(netlink.RTM_NEWLINK, 0, netlink.ifinfo(index)
                           + netlink.attr(netlink.IFLA_NET_NS_FD, struct.pack("=I", fd)))
        finally:
            os.close(fd)
        done.update(Moved=src, As=dst)

        def configure() -> str:
            with netlink.Netlink() as ns:
                i = netlink.index(src)
                body = netlink.ifinfo(i) + netlink.attr(netlink.IFLA_IFNAME, dst.encode() + b"\0")
                if mac:
                    body += netlink.attr(netlink.IFLA_ADDRESS, bytes(int(x, 16) for x in mac.split(":")))
                ns.request(netlink.RTM_NEWLINK, 0, body)
                for cidr in cidrs:
                    ns.add_address(i, cidr)
                ns.set_up(i)
                for dest, kind, hop in routes:
                    ns.request(netlink.RTM_NEWROUTE, netlink.NLM_F_CREATE | netlink.NLM_F_EXCL,
                               _route_message(dest, kind, hop, i))
                for gw in gateways:
                    if gw:
                        ns.add_default_route(gw)
                return _hwaddr(dst)

        try:
            return run_in(Path(sandbox), configure)
        except OSError as err:
            raise errors.Internal(f"plugin {p.name}: configure {src} as {dst} in {sandbox}: {err}") from err

    def program_external(self, n: dict[str, Any], record: dict[str, Any], ports: dict[str, Any]) -> None:
        """``ProgramExternalConnectivity`` for the container's gateway endpoint, with its published ports
        (``com.docker.network.portmap``) and exposed ports as libnetwork's sandbox options carry them; the
        daemon's own rules publish them as on a bridge (``RevokeExternalConnectivity`` at leave)."""
        p = self._plugin(n["Driver"], DRIVER)
        port_map, exposed = [], []
        for key, items in ports.items():
            port, _, proto = key.partition("/")
            number = PROTOCOLS.get(proto or "tcp", 6)
            exposed.append({"Proto": number, "Port": int(port)})
            for item in items or []:
                host_port = int(item["HostPort"])
                ip = record.get("GlobalIPv6Address") if ":" in item["HostIp"] else record["IPAddress"]
                port_map.append({"Proto": number, "IP": ip, "Port": int(port),
                                 "HostIP": item["HostIp"], "HostPort": host_port, "HostPortEnd": host_port})
        p.client.call("NetworkDriver.ProgramExternalConnectivity", {
            "NetworkID": n["Id"], "EndpointID": record["EndpointID"],
            "Options": {PORTMAP_OPT: port_map, EXPOSED_OPT: exposed}}, optional=True)  # not mandatory (libnetwork)
        record.setdefault("Plugin", {})["External"] = True

    def leave(self, n: dict[str, Any], record: dict[str, Any], sandbox: str) -> None:
        """Undo ``join`` (whatever part of it was done) and release the IPAM plugin's addresses. Failures are
        logged: a container leaves its network even when the plugin is gone."""
        done = record.pop("Plugin", None) or {}
        if n["Driver"] not in ("bridge", "host", "null") and done:
            try:
                p = self._plugin(n["Driver"], DRIVER)
            except errors.DockyardError as err:
                log.warning("network %s: endpoint %s not left: %s", n["Name"], record.get("EndpointID"), err)
                p = None
            if done.get("Moved"):
                self._move_out(done["As"], done["Moved"], sandbox)
            ids = {"NetworkID": n["Id"], "EndpointID": record.get("EndpointID", "")}
            if p is not None and done.get("External"):
                self._quietly(p, "NetworkDriver.RevokeExternalConnectivity", ids)
            if p is not None and done.get("Joined"):
                self._quietly(p, "NetworkDriver.Leave", ids)
            if p is not None and done.get("Endpoint"):
                self._quietly(p, "NetworkDriver.DeleteEndpoint", ids)
        if n["IPAM"]["Driver"] != "default":
            try:
                self.release_addresses(n, record)
            except errors.DockyardError as err:
                log.warning("network %s: addresses not released: %s", n["Name"], err)

    @staticmethod
    def _move_out(name: str, src: str, sandbox: str) -> None:
        """The plugin's interface back to the host under its own name, for the plugin to delete (best effort:
        a namespace that is gone took a veth with it)."""
        try:
            host = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        except OSError as err:
            log.warning("interface %s not moved back: %s", name, err)
            return

        def back() -> None:
            with netlink.Netlink() as ns:
                i = netlink.index(name)
                if not i:
                    return
                ns.request(netlink.RTM_NEWLINK, 0, netlink.ifinfo(i, 0, netlink.IFF_UP))
                ns.request(netlink.RTM_NEWLINK, 0, netlink.ifinfo(i) + netlink.attr(netlink.IFLA_IFNAME,
                                                                                    src.encode() + b"\0"))
                ns.request(netlink.RTM_NEWLINK, 0, netlink.ifinfo(i)
                           + netlink.attr(netlink.IFLA_NET_NS_FD, struct.pack("=I", host)))

        try:
            if Path(sandbox).exists():
                run_in(Path(sandbox), back)
        except OSError as err:
            log.warning("interface %s not moved back to the host as %s: %s", name, src, err)
        finally:
            os.close(host)


def allow_localnet(ip: str) -> None:
    """route_localnet on the host interface that reaches ``ip`` (a plugin's), so that a port published on
    127.0.0.1 can be DNATed out of lo to it."""
    # lazy: 150 ms of CPU (pyroute2's import, measured) on a dockyardd start that makes no bridge (--bridge none)
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        routes = ipr.route("get", dst=ip)
        index = routes[0].get_attr("RTA_OIF") if routes else None
        name = ipr.get_links(index)[0].get_attr("IFLA_IFNAME") if index else ""
    if name and name != "lo":
        sysctl(f"ipv4/conf/{name}/route_localnet", "1")


def driver_options(ipv6: bool, internal: bool, generic: dict[str, str]) -> dict[str, Any]:
    """The ``Options`` of CreateNetwork (and GwAllocCheck), as libnetwork fills them."""
    options: dict[str, Any] = {"com.docker.network.enable_ipv4": True, "com.docker.network.enable_ipv6": ipv6,
                               "com.docker.network.generic": dict(generic)}
    if internal:
        options["com.docker.network.internal"] = True
    return options


def random_mac() -> str:
    """libnetwork's GenerateRandomMAC: random, locally administered, unicast."""
    raw = bytearray(os.urandom(6))
    raw[0] = (raw[0] & 0xFE) | 0x02
    return ":".join(f"{b:02x}" for b in raw)


def _version(item: dict[str, Any]) -> int:
    subnet = item.get("Subnet") or ""
    if not subnet:
        return 4
    try:
        return ipaddress.ip_network(subnet, strict=False).version
    except ValueError:
        raise errors.InvalidArgument(f"invalid subnet {subnet!r}") from None
