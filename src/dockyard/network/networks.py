"""Networks: Docker's network records, their bridges, IPAM pools and the nftables table.

The network side of ``NetworkManager`` (``manager``): create, inspect, remove and prune
networks, make and delete the bridges this daemon owns, and render the rules of every
bridge and published port. The container side (endpoints, /etc files, DNS) is in
``manager``; a network driver (``driver.NetworkDriver``) makes the links.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import re
import secrets
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dockyard import errors
from dockyard.engine.container import Container
from dockyard.network import configonly, dns, gwbridge, ipam, nft, ports, proxy, sandbox, vlans
from dockyard.network.driver import BridgeDriver, NetworkDriver
from dockyard.network.remote import RemoteNetworks, builtin, driver_options
from dockyard.network.store import NetworkStore
from dockyard.plugins.discovery import PluginRegistry
from dockyard.timefmt import rfc3339_micro

log = logging.getLogger("dockyard.network")

PREDEFINED = ("bridge", "host", "none")
# swarm-scoped (overlay) networks of the single-node swarm (engine/swarm.py) are realised as local bridges
BRIDGED = ("bridge", "overlay")
NOT_A_MANAGER = ('This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect '
                 'this node to swarm and try again.')
DEFAULT_BRIDGE_SUBNETS = [f"172.{n}.0.0/16" for n in range(17, 32)]
_NOT_IN_IFNAME = re.compile(r"[/:\s]")  # with at most 15 bytes: the kernel's dev_valid_name


def _host_routes() -> list[str]:
    # lazy: 150 ms of CPU (pyroute2's import, measured) on a dockyardd start that makes no bridge (--bridge none)
    from pyroute2 import IPRoute

    with IPRoute() as ip:
        out = []
        for r in ip.get_routes(family=2):
            dst = r.get("RTA_DST")
            if dst and r["dst_len"] > 0:
                out.append(f"{dst}/{r['dst_len']}")
        return out


def _ipam_item(pool: ipam.Pool, ip_range: bool = False, aux: dict[str, str] | None = None) -> dict[str, Any]:
    """A pool as inspect shows it (``IPRange`` and ``AuxiliaryAddresses`` only when configured)."""
    item: dict[str, Any] = {"Subnet": str(pool.subnet), "Gateway": str(pool.gateway)}
    if ip_range:
        item["IPRange"] = str(pool.ip_range)
    if aux:
        item["AuxiliaryAddresses"] = dict(aux)
    return item


def network_record(id: str, name: str, driver: str, config: list[dict[str, Any]] | None = None,
                    internal: bool = False, bridge: str = "", labels: dict[str, str] | None = None,
                    options: dict[str, str] | None = None, ipv6: bool = False) -> dict[str, Any]:
    """A new network as it is stored and inspected (the manager's docker_gwbridge is made with it too)."""
    opts = dict(options or {})
    if bridge:
        opts["com.docker.network.bridge.name"] = bridge
    return {"Name": name, "Id": id, "Created": rfc3339_micro(), "Scope": "local", "Driver": driver, "EnableIPv4": True,
            "EnableIPv6": ipv6, "IPAM": {"Driver": "default", "Options": None, "Config": config or []},
            "Internal": internal, "Attachable": False, "Ingress": False, "ConfigFrom": {"Network": ""},
            "ConfigOnly": False, "Containers": {}, "Options": opts, "Labels": labels or {}}


class Networks:
    """The daemon's networks and what they share: the store, the bridges, the rules."""

    def __init__(self, data_root: Path, exec_root: Path, driver: NetworkDriver | None = None) -> None:
        self.data_root = data_root
        self.exec_root = exec_root
        self.driver: NetworkDriver = driver or BridgeDriver()
        self.bridge_name = "dockyard0"
        self.bridge_subnet = ""
        self.table = "dockyard-" + hashlib.sha256(str(data_root).encode()).hexdigest()[:8]
        self._store: NetworkStore | None = None
        self.networks: dict[str, dict[str, Any]] = {}
        # network id -> container id -> endpoint settings (only attached, i.e. running, containers)
        self.endpoints: dict[str, dict[str, dict[str, Any]]] = {}
        self.reservations: dict[str, list[socket.socket]] = {}
        self.proxies: dict[str, list[proxy.Proxy]] = {}  # container id -> its userland proxies (proxy.py)
        self.resolvers: dict[str, dns.Server] = {}
        self.get_container: Callable[[str], Container] = lambda ref: (_ for _ in ()).throw(
            errors.NotFound(f"No such container: {ref}"))
        self.started = False
        # the table as last written by nft.apply; "" = known absent, None = unknown (a previous daemon's may remain)
        self._applied: str | None = None
        self._last_ip: dict[str, str] = {}  # network id -> address allocated last (allocation is sequential)
        # every container record (set by the engine): who shares whose network namespace
        self.containers: Callable[[], list[Container]] = lambda: []
        self._lock = asyncio.Lock()
        self.plugins: Any = None  # the engine's PluginRegistry: drivers and IPAMs of plugin networks
        # in a swarm (engine/swarm.py): its default address pools and subnet size; None: not in a swarm
        self.swarm_pool: tuple[list[str], int] | None = None
        self._remote: RemoteNetworks | None = None

    @property
    def remote(self) -> RemoteNetworks:
        """Networks whose driver or IPAM is a plugin (``remote.py``)."""
        if self._remote is None:
            self._remote = RemoteNetworks(self.plugins or PluginRegistry(), self.data_root / "network-plugins.json")
            self._remote.local = {d: vlans.VlanDriver(d, lambda: self.networks) for d in vlans.DRIVERS}
        return self._remote

    @property
    def store(self) -> NetworkStore:
        if self._store is None:
            self._store = NetworkStore(self.data_root / "network.db")
        return self._store

    def configure(self, bridge_name: str = "dockyard0", bridge_subnet: str = "") -> None:
        self.bridge_name = bridge_name
        self.bridge_subnet = bridge_subnet

    @property
    def default_enabled(self) -> bool:
        return self.bridge_name not in ("", "none")

    # -- daemon start and stop --------------------------------------------------------

    async def start(self) -> None:
        """Load networks, (re)create the predefined ones and every bridge, and the rules."""
        await asyncio.to_thread(self._start)
        self.started = True

    def _start(self) -> None:
        self.networks = {n["Id"]: n for n in self.store.networks()}
        by_name = {n["Name"]: n for n in self.networks.values()}
        for name, driver in (("host", "host"), ("none", "null")):
            if name not in by_name:
                self._put(network_record(secrets.token_hex(32), name, driver))
        if self.default_enabled:
            current = by_name.get("bridge")
            want_bridge = self.bridge_name
            if current is None or current["Options"].get("com.docker.network.bridge.name") != want_bridge or (
                    self.bridge_subnet and current["IPAM"]["Config"][0]["Subnet"] != self.bridge_subnet):
                if current is not None:
                    self._forget(current["Id"])
                subnet = self.bridge_subnet or ipam.pick_subnet(
                    [*_host_routes(), *self._subnets()], DEFAULT_BRIDGE_SUBNETS)
                pool = ipam.Pool.parse(subnet)
                self._put(network_record(secrets.token_hex(32), "bridge", "bridge", [_ipam_item(pool)],
                                          bridge=want_bridge, options={
                                              "com.docker.network.bridge.default_bridge": "true",
                                              "com.docker.network.bridge.enable_ip_masquerade": "true"}))
        elif "bridge" in by_name:
            self._forget(by_name["bridge"]["Id"])
        for net_id, cid, ep in self.store.endpoints():
            if net_id in self.networks:
                self.endpoints.setdefault(net_id, {})[cid] = ep
        vlans.restore(self.networks, self.endpoints)
        try:
            for n in list(self.networks.values()):
                if n["Driver"] in BRIDGED:
                    self._restore_bridge(n)
            self._apply_rules()
        except BaseException:
            self._teardown()  # a daemon that fails to start leaves nothing behind
            raise

    async def shutdown(self, any_running: bool) -> None:
        """Close sockets; with no container running, also remove bridges, rules and sandboxes."""
        for server in self.resolvers.values():
            server.close()
        self.resolvers.clear()
        for proxies in self.proxies.values():
            for p in proxies:
                p.close()
        self.proxies.clear()
        for socks in self.reservations.values():
            for s in socks:
                s.close()
        self.reservations.clear()
        if not any_running and self.started:
            await asyncio.to_thread(self._teardown)
        if self._store is not None:
            self._store.close()
            self._store = None

    def _teardown(self) -> None:
        for n in self.networks.values():
            if n["Driver"] in BRIDGED:
                self._delete_bridge(n)
        nft.remove(self.table)
        self._applied = ""
        for path in (self.exec_root / "netns").glob("*"):
            sandbox.destroy(path)

    def _put(self, n: dict[str, Any]) -> None:
        self.networks[n["Id"]] = n
        self.store.put_network(n)

    def _forget(self, id: str) -> None:
        """Drop the record of a default network whose configuration changed, but not its bridge: with a new
        name configured, the old bridge may now belong to another daemon (it happened: a test daemon
        restarted with `--bridge-name none` deleted the `make demo` daemon's dockyard0)."""
        n = self.networks.pop(id, None)
        self.store.delete_network(id)
        self.endpoints.pop(id, None)
        if n is not None and (self.store.bridge(self._bridge(n)) or (0, ""))[1] == id:
            self.store.delete_bridge(self._bridge(n))  # left in place, and no longer ours to delete

    def _drop(self, id: str) -> None:
        if id in self.networks and not builtin(self.networks[id]) and not self.networks[id].get("ConfigOnly"):
            self.remote.forget(self.networks[id])  # the plugin's error keeps the network
        n = self.networks.pop(id, None)
        self.store.delete_network(id)
        self.endpoints.pop(id, None)
        if n and n["Driver"] in BRIDGED:
            self._delete_bridge(n)

    def _subnets(self) -> list[str]:
        return [c["Subnet"] for n in self.networks.values() if not n.get("ConfigOnly") for c in n["IPAM"]["Config"]]

    @staticmethod
    def _bridge(n: dict[str, Any]) -> str:
        return n["Options"].get("com.docker.network.bridge.name") or "br-" + n["Id"][:12]

    @staticmethod
    def _pools(n: dict[str, Any]) -> list[ipam.Pool]:
        return [ipam.Pool.parse(c["Subnet"], c.get("Gateway", ""), c.get("IPRange", ""), c.get("AuxiliaryAddresses"),
                                gateway_skipped=not c.get("Gateway")) for c in n["IPAM"]["Config"]]

    def _pool(self, n: dict[str, Any]) -> ipam.Pool:
        """The network's IPv4 pool (every bridge network has one)."""
        return next(p for p in self._pools(n) if p.version == 4)

    def _pool6(self, n: dict[str, Any]) -> ipam.Pool | None:
        """The network's IPv6 pool when IPv6 is enabled."""
        if not n.get("EnableIPv6"):
            return None
        return next((p for p in self._pools(n) if p.version == 6), None)

    def _create_bridge(self, n: dict[str, Any], adopt: bool) -> None:
        """Make ``n``'s bridge, recording it as ``n``'s; with ``adopt`` a bridge of that name that exists
        already is used (the daemon's ``--bridge``, a network's bridge kept while its containers ran),
        and stays ours only if we made that very link (same ifindex)."""
        name, pool, pool6 = self._bridge(n), self._pool(n), self._pool6(n)
        ifindex, created = self.driver.create_network(name, f"{pool.gateway}/{pool.subnet.prefixlen}",
                                                      bool(n["Internal"]), adopt,
                                                      f"{pool6.gateway}/{pool6.subnet.prefixlen}" if pool6 else "")
        # br-<id>: named after the network, so made by it (networks recorded before ownership was)
        if created or name == "br-" + n["Id"][:12]:
            self.store.put_bridge(name, ifindex, n["Id"])
        elif self.store.bridge(name) not in (None, (ifindex, n["Id"])):
            self.store.delete_bridge(name)  # the name was ours once; this link is someone else's

    def _restore_bridge(self, n: dict[str, Any]) -> None:
        """At start: the default bridge must come up; a user network whose bridge name is now taken by
        another kind of interface is left without its bridge (its containers fail to start)."""
        try:
            self._create_bridge(n, adopt=True)
        except errors.AlreadyExists as err:
            if not self._user_defined(n):
                raise errors.InvalidArgument(f"default bridge: {err}") from err
            log.error("network %s: %s: not using it", n["Name"], err)

    def _delete_bridge(self, n: dict[str, Any]) -> None:
        """Delete ``n``'s bridge only if ``n`` created it: never a host's interface or another network's."""
        name = self._bridge(n)
        owner = self.store.bridge(name)
        if owner is None or owner[1] != n["Id"]:
            log.info("network %s: leaving bridge %s, which it did not create", n["Name"], name)
            return
        self.driver.delete_network(name, owner[0])
        self.store.delete_bridge(name)

    def _refuse_bridge_conflict(self, id: str, name: str) -> None:
        """A valid interface name that no network of ours uses: Docker's refusal (403) of two networks on
        one bridge. (A host interface of that name is refused when the bridge is made.)"""
        if not name or len(name.encode()) > 15 or name in (".", "..") or _NOT_IN_IFNAME.search(name):
            raise errors.InvalidArgument(f"invalid bridge name {name!r}: at most 15 characters, no '/', ':' "
                                         "or whitespace")
        for other in self.networks.values():
            if other["Driver"] in BRIDGED and self._bridge(other) == name:
                raise errors.PermissionDenied(f"cannot create network {id} ({name}): conflicts with network "
                                              f"{other['Id']} ({name}): networks have same bridge name")

    def _ruleset(self) -> nft.RuleSet:
        rs = nft.RuleSet(self.table)
        for n in self.networks.values():
            if n["Driver"] in BRIDGED:
                rs.bridges.append(nft.Bridge(self._bridge(n), str(self._pool(n).subnet), bool(n["Internal"])))
        for cid in self.reservations:
            try:
                c = self.get_container(cid)
            except errors.NotFound:
                continue
            ip, ip6, driver = self._publish_target(c.id)
            plugin = driver not in (*BRIDGED, "")
            for key, items in (c.network_settings.ports or {}).items():
                cport, proto = ports.parse_key(key)
                for item in items or []:
                    to = ip6 if ":" in item["HostIp"] else ip  # an IPv6 host address: the container's IPv6 one
                    if to and item["HostIp"] != "::1":  # [::1] and no IPv6 address: the userland proxy's (proxy.py)
                        rs.ports.append(nft.PortRule(proto, item["HostIp"], int(item["HostPort"]), to, cport, plugin))
        return rs

    def _apply_rules(self) -> None:
        """Replace our table when its rendering changed: a container without published ports costs no ``nft``."""
        rs = self._ruleset()
        if rs.bridges or rs.ports:  # ports: published from a plugin network's container
            text = nft.render(rs)
            if text != self._applied:
                nft.apply(rs)
                self._applied = text
        elif self._applied != "":
            nft.remove(self.table)  # no bridge network: no table at all (daemons with --bridge none)
            self._applied = ""

    # -- networks ------------------------------------------------------------------

    def get(self, ref: str) -> dict[str, Any]:
        for n in self.networks.values():
            if n["Id"] == ref or n["Name"] == ref:
                return n
        matches = [n for n in self.networks.values() if ref and n["Id"].startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        raise errors.NotFound(f"network {ref} not found")

    def inspect(self, ref: str) -> dict[str, Any]:
        n = dict(self.get(ref))
        containers = {}
        for cid, ep in self.endpoints.get(n["Id"], {}).items():
            v6 = ep.get("GlobalIPv6Address") or ""
            containers[cid] = {"Name": ep.get("Name", ""), "EndpointID": ep["EndpointID"], "MacAddress": ep["MacAddress"],
                               "IPv4Address": f"{ep['IPAddress']}/{ep['IPPrefixLen']}",
                               "IPv6Address": f"{v6}/{ep.get('GlobalIPv6PrefixLen', 0)}" if v6 else ""}
        n["Containers"] = containers
        return n

    async def create_network(self, body: dict[str, Any]) -> dict[str, Any]:
        name = body.get("Name") or ""
        if not name:
            raise errors.InvalidArgument("network name must not be empty")
        driver = body.get("Driver") or "bridge"
        ipam_body = body.get("IPAM") or {}
        ipam_driver = ipam_body.get("Driver") or "default"
        options = dict(body.get("Options") or {})
        id = secrets.token_hex(32)
        bridge = options.pop("com.docker.network.bridge.name", "") if driver == "bridge" else ""
        async with self._lock:
            if any(n["Name"] == name for n in self.networks.values()):
                raise errors.Conflict(f"network with name {name} already exists")
            if body.get("ConfigOnly"):
                return self._put_config_only(id, name, body)
            if configonly.config_from(body):
                body = configonly.derive(body, self.networks.values())
                ipam_body, options = body["IPAM"], dict(body["Options"])
                bridge = options.pop("com.docker.network.bridge.name", "") if driver == "bridge" else ""
            self._refuse_swarm_network(driver, body)
            if driver in BRIDGED:
                self._refuse_bridge_conflict(id, bridge or "br-" + id[:12])
            ipv6 = bool(body.get("EnableIPv6"))
            skips = (False, False)
            if driver not in (*BRIDGED, "host", "null"):  # a plugin's driver may say to skip the gateways
                skips = await asyncio.to_thread(self.remote.gateway_skips, driver, driver_options(
                    ipv6, bool(body.get("Internal")), options))
            if ipam_driver == "default":
                asked = ipam_body.get("Config") or []
                config = await self._ipam_config(id, asked, ipv6, self._candidates(driver), skips)
            else:  # a plugin's (remote.py)
                config = await asyncio.to_thread(self.remote.request_pools, id, ipam_driver,
                                                 ipam_body.get("Config") or [], ipv6, ipam_body.get("Options") or {},
                                                 skips)
            n = network_record(id, name, driver, config, bool(body.get("Internal")),
                                bridge, body.get("Labels") or {}, options, ipv6)
            n["IPAM"].update(Driver=ipam_driver, Options=ipam_body.get("Options") or None)
            n["Attachable"] = bool(body.get("Attachable"))
            n["ConfigFrom"] = {"Network": configonly.config_from(body)}
            if driver == "overlay":
                n.update(Scope="swarm", Ingress=bool(body.get("Ingress")))
            try:
                if driver in BRIDGED:
                    await asyncio.to_thread(self._create_bridge, n, False)
                else:
                    await asyncio.to_thread(self.remote.create, n)
            except BaseException as err:
                await asyncio.to_thread(self.remote.release_pools, n)
                if isinstance(err, errors.AlreadyExists):  # a host's interface, or another daemon's bridge
                    raise errors.PermissionDenied(f"cannot create network {id} ({self._bridge(n)}): conflicts with a "
                                                  f"host interface: {err}; dockyard uses only bridges it creates") from err
                raise
            self._put(n)
            try:
                await asyncio.to_thread(self._apply_rules)
            except errors.DockyardError:
                self._drop(id)
                raise
        return n

    def _put_config_only(self, id: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """A configuration-only network (configonly.py): recorded, nothing made or allocated."""
        configonly.check_config_only(body)
        ipam_body = body.get("IPAM") or {}
        n = network_record(id, name, "null", [dict(c) for c in ipam_body.get("Config") or []], False, "",
                            body.get("Labels") or {}, dict(body.get("Options") or {}), bool(body.get("EnableIPv6")))
        n["IPAM"].update(Driver=ipam_body.get("Driver") or "default", Options=ipam_body.get("Options") or None)
        n.update(ConfigOnly=True, Scope="local")
        self._put(n)
        return n

    def _refuse_swarm_network(self, driver: str, body: dict[str, Any]) -> None:
        """dockerd's checks of a swarm-scoped network: only on a manager, one ingress network, ingress only
        for a swarm (global scope) network."""
        if driver == "overlay" and self.swarm_pool is None:
            raise errors.PermissionDenied(NOT_A_MANAGER)
        if body.get("Ingress"):
            if driver != "overlay":
                raise errors.PermissionDenied("Ingress network can only be global scope network")
            if any(n.get("Ingress") for n in self.networks.values()):
                raise errors.Conflict("ingress network already exists")

    def _candidates(self, driver: str) -> list[str] | None:
        """The subnets an overlay network's pool is picked from: the swarm's default address pools cut into
        ``SubnetSize`` networks (dockerd's 10.0.0.0/8 in /24s); None: the local defaults."""
        if driver != "overlay" or self.swarm_pool is None:
            return None
        pools, size = self.swarm_pool
        out: list[str] = []
        for pool in pools:
            net = ipaddress.ip_network(pool, strict=False)
            if net.version == 4 and size >= net.prefixlen:
                out += [str(s) for _, s in zip(range(4096), net.subnets(new_prefix=size))]
        return out

    async def _ipam_config(self, id: str, items: list[dict[str, Any]], ipv6: bool,
                           candidates: list[str] | None = None,
                           skips: tuple[bool, bool] = (False, False)) -> list[dict[str, Any]]:
        """The IPAM pools of a new network: at most one per IP version, IPv4 first. An IPv4 pool is picked
        from the defaults when none is given; with IPv6 enabled and no IPv6 pool, a ULA /64. ``skips``
        (IPv4, IPv6): the versions a driver's GwAllocCheck skips get no gateway recorded unless one was
        configured (their subnets may then be point-to-point; the default IPAM still keeps a recorded
        pool's first address out of its allocations)."""
        pools: dict[int, dict[str, Any]] = {}
        given: set[int] = set()  # versions whose gateway was configured
        for item in items:
            item = item or {}
            subnet = item.get("Subnet") or ""
            if not subnet:
                continue
            pool = ipam.Pool.parse(subnet, item.get("Gateway") or "", item.get("IPRange") or "",
                                   item.get("AuxiliaryAddresses"), skips[":" in subnet] and not item.get("Gateway"))
            if pool.version in pools:
                raise errors.InvalidArgument(f"invalid IPAM configuration: more than one IPv{pool.version} pool")
            if pool.version == 6 and not ipv6:
                raise errors.InvalidArgument("invalid network config: an IPv6 subnet was given but IPv6 is not "
                                             "enabled (EnableIPv6)")
            for other in self._subnets():
                if pool.subnet.overlaps(ipaddress.ip_network(other)):  # type: ignore[arg-type]
                    raise errors.Conflict(f"invalid pool request: Pool overlaps with other one on this address "
                                          f"space ({pool.subnet} overlaps {other})")
            pools[pool.version] = _ipam_item(pool, bool(item.get("IPRange")), item.get("AuxiliaryAddresses"))
            if item.get("Gateway"):
                given.add(pool.version)
        if 4 not in pools:
            in_use = [*await asyncio.to_thread(_host_routes), *self._subnets()]
            subnet = ipam.pick_subnet(in_use, candidates) if candidates else ipam.pick_subnet(in_use)
            pools[4] = _ipam_item(ipam.Pool.parse(subnet))
        if ipv6 and 6 not in pools:
            pools[6] = _ipam_item(ipam.Pool.parse(ipam.ula_subnet(id)))
        for v, pool_item in pools.items():
            if skips[v == 6] and v not in given:
                pool_item.pop("Gateway", None)
        return [pools[v] for v in sorted(pools)]

    async def remove_network(self, ref: str) -> None:
        n = self.get(ref)
        if n["Name"] in PREDEFINED and n["Driver"] != "bridge" or (
                n["Name"] == "bridge" and n["Options"].get("com.docker.network.bridge.default_bridge")):
            raise errors.PermissionDenied(f"{n['Name']} is a pre-defined network and cannot be removed")
        if self.endpoints.get(n["Id"]):
            raise errors.PermissionDenied(f"error while removing network: network {n['Name']} id {n['Id']} has "
                                          "active endpoints")
        configonly.check_removal(n, self.networks.values())
        async with self._lock:
            await asyncio.to_thread(self._drop, n["Id"])
            await asyncio.to_thread(self._apply_rules)

    async def prune(self, match: Callable[[dict[str, Any]], bool] = lambda n: True) -> list[str]:
        gone = []
        for n in list(self.networks.values()):
            if n["Driver"] not in ("host", "null") and not n["Options"].get("com.docker.network.bridge.default_bridge") \
                    and not self.endpoints.get(n["Id"]) and match(n):
                await self.remove_network(n["Id"])
                gone.append(n["Name"])
        return gone

    # -- endpoints ------------------------------------------------------------------

    def _user_defined(self, n: dict[str, Any]) -> bool:
        return n["Driver"] not in ("host", "null") and not n["Options"].get("com.docker.network.bridge.default_bridge")

    def _container_endpoints(self, id: str) -> list[tuple[str, dict[str, Any]]]:
        return [(nid, eps[id]) for nid, eps in self.endpoints.items() if id in eps]

    def _publish_endpoints(self, id: str) -> list[tuple[str, dict[str, Any]]]:
        """The container's endpoints, the one published ports go to first: its docker_gwbridge endpoint if it
        has one (gwbridge.py), else its first interface's."""
        def key(e: tuple[str, dict[str, Any]]) -> tuple[bool, str]:
            n = self.networks.get(e[0])
            return not (n is not None and gwbridge.is_gateway_endpoint(n, e[1])), str(e[1]["Interface"])
        return sorted(self._container_endpoints(id), key=key)

    def _publish_ip(self, c: Container) -> str:
        return self._publish_target(c.id)[0]

    def _publish_target(self, id: str) -> tuple[str, str, str]:
        """Where the container's published ports go: its IPv4 and IPv6 addresses on its publishing endpoint
        and that network's driver ("" each when it has none)."""
        eps = self._publish_endpoints(id)
        if not eps:
            return "", "", ""
        nid, ep = eps[0]
        driver = str(self.networks[nid]["Driver"]) if nid in self.networks else ""
        return ep["IPAddress"], str(ep.get("GlobalIPv6Address") or ""), driver
