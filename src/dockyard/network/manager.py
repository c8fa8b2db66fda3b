"""NetworkManager: Docker's networks and endpoints over the bridge driver, nftables and the DNS server.

The engine calls it at five points of a container's life: ``prepare`` (create:
the netns path and the /etc files go into the OCI spec), ``attach`` (before the
task starts: sandbox, veths, addresses, published ports, DNS), ``detach``
(after the task exited), ``release`` (remove) and ``readopt`` (daemon restart).
Containers are passed in as the engine's records (dicts); this package never
imports the engine.
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
from dockyard.network import dns, hostfiles, ipam, nft, ports, sandbox
from dockyard.network.driver import BridgeDriver, NetworkDriver
from dockyard.network.store import NetworkStore
from dockyard.timefmt import rfc3339_micro

log = logging.getLogger("dockyard.network")

PREDEFINED = ("bridge", "host", "none")
DEFAULT_BRIDGE_SUBNETS = [f"172.{n}.0.0/16" for n in range(17, 32)]
_NOT_IN_IFNAME = re.compile(r"[/:\s]")  # with at most 15 bytes: the kernel's dev_valid_name


def _host_routes() -> list[str]:
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


def _network_record(id: str, name: str, driver: str, config: list[dict[str, Any]] | None = None,
                    internal: bool = False, bridge: str = "", labels: dict[str, str] | None = None,
                    options: dict[str, str] | None = None, ipv6: bool = False) -> dict[str, Any]:
    opts = dict(options or {})
    if bridge:
        opts["com.docker.network.bridge.name"] = bridge
    return {"Name": name, "Id": id, "Created": rfc3339_micro(), "Scope": "local", "Driver": driver, "EnableIPv4": True,
            "EnableIPv6": ipv6, "IPAM": {"Driver": "default", "Options": None, "Config": config or []},
            "Internal": internal, "Attachable": False, "Ingress": False, "ConfigFrom": {"Network": ""},
            "ConfigOnly": False, "Containers": {}, "Options": opts, "Labels": labels or {}}


def _links(links: list[str] | None) -> list[str] | None:
    """An endpoint's links as ``container:alias`` (the alias defaults to the container's name)."""
    out = []
    for link in links or []:
        target, _, alias = str(link).lstrip("/").partition(":")
        alias = alias.rstrip("/").split("/")[-1]  # "/linker/bar", as legacy links may be written
        if not target:
            raise errors.InvalidArgument(f"invalid link: {link!r}")
        out.append(f"{target}:{alias or target}")
    return out or None


class NetworkManager:
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
        self.resolvers: dict[str, dns.Server] = {}
        self.get_container: Callable[[str], dict[str, Any]] = lambda ref: (_ for _ in ()).throw(
            errors.NotFound(f"No such container: {ref}"))
        self.started = False
        # the table as last written by nft.apply; "" = known absent, None = unknown (a previous daemon's may remain)
        self._applied: str | None = None
        self._last_ip: dict[str, str] = {}  # network id -> address allocated last (allocation is sequential)
        # every container record (set by the engine): who shares whose network namespace
        self.containers: Callable[[], list[dict[str, Any]]] = lambda: []
        self._lock = asyncio.Lock()

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
                self._put(_network_record(secrets.token_hex(32), name, driver))
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
                self._put(_network_record(secrets.token_hex(32), "bridge", "bridge", [_ipam_item(pool)],
                                          bridge=want_bridge, options={
                                              "com.docker.network.bridge.default_bridge": "true",
                                              "com.docker.network.bridge.enable_ip_masquerade": "true"}))
        elif "bridge" in by_name:
            self._forget(by_name["bridge"]["Id"])
        for net_id, cid, ep in self.store.endpoints():
            if net_id in self.networks:
                self.endpoints.setdefault(net_id, {})[cid] = ep
        try:
            for n in list(self.networks.values()):
                if n["Driver"] == "bridge":
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
            if n["Driver"] == "bridge":
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
        n = self.networks.pop(id, None)
        self.store.delete_network(id)
        self.endpoints.pop(id, None)
        if n and n["Driver"] == "bridge":
            self._delete_bridge(n)

    def _subnets(self) -> list[str]:
        return [c["Subnet"] for n in self.networks.values() for c in n["IPAM"]["Config"]]

    @staticmethod
    def _bridge(n: dict[str, Any]) -> str:
        return n["Options"].get("com.docker.network.bridge.name") or "br-" + n["Id"][:12]

    @staticmethod
    def _pools(n: dict[str, Any]) -> list[ipam.Pool]:
        return [ipam.Pool.parse(c["Subnet"], c.get("Gateway", ""), c.get("IPRange", ""), c.get("AuxiliaryAddresses"))
                for c in n["IPAM"]["Config"]]

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
            if other["Driver"] == "bridge" and self._bridge(other) == name:
                raise errors.PermissionDenied(f"cannot create network {id} ({name}): conflicts with network "
                                              f"{other['Id']} ({name}): networks have same bridge name")

    def _ruleset(self) -> nft.RuleSet:
        rs = nft.RuleSet(self.table)
        for n in self.networks.values():
            if n["Driver"] == "bridge":
                rs.bridges.append(nft.Bridge(self._bridge(n), str(self._pool(n).subnet), bool(n["Internal"])))
        for cid in self.reservations:
            try:
                c = self.get_container(cid)
            except errors.NotFound:
                continue
            ip = self._publish_ip(c)
            for key, items in (c["NetworkSettings"].get("Ports") or {}).items():
                cport, proto = ports.parse_key(key)
                for item in items or []:
                    rs.ports.append(nft.PortRule(proto, item["HostIp"], int(item["HostPort"]), ip, cport))
        return rs

    def _apply_rules(self) -> None:
        """Replace our table when its rendering changed: a container without published ports costs no ``nft``."""
        rs = self._ruleset()
        if rs.bridges:
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
        if driver != "bridge":
            raise errors.NotFound(f'plugin "{driver}" not found')
        options = dict(body.get("Options") or {})
        id = secrets.token_hex(32)
        bridge = options.pop("com.docker.network.bridge.name", "")
        async with self._lock:
            if any(n["Name"] == name for n in self.networks.values()):
                raise errors.Conflict(f"network with name {name} already exists")
            self._refuse_bridge_conflict(id, bridge or "br-" + id[:12])
            ipv6 = bool(body.get("EnableIPv6"))
            config = await self._ipam_config(id, (body.get("IPAM") or {}).get("Config") or [], ipv6)
            n = _network_record(id, name, "bridge", config, bool(body.get("Internal")),
                                bridge, body.get("Labels") or {}, options, ipv6)
            n["Attachable"] = bool(body.get("Attachable"))
            try:
                await asyncio.to_thread(self._create_bridge, n, False)
            except errors.AlreadyExists as err:  # a host's interface, or another daemon's bridge
                raise errors.PermissionDenied(f"cannot create network {id} ({self._bridge(n)}): conflicts with "
                                              f"a host interface: {err}; dockyard uses only bridges it creates") from err
            self._put(n)
            try:
                await asyncio.to_thread(self._apply_rules)
            except errors.DockyardError:
                self._drop(id)
                raise
        return n

    async def _ipam_config(self, id: str, items: list[dict[str, Any]], ipv6: bool) -> list[dict[str, Any]]:
        """The IPAM pools of a new network: at most one per IP version, IPv4 first. An IPv4 pool is picked
        from the defaults when none is given; with IPv6 enabled and no IPv6 pool, a ULA /64."""
        pools: dict[int, dict[str, Any]] = {}
        for item in items:
            item = item or {}
            subnet = item.get("Subnet") or ""
            if not subnet:
                continue
            pool = ipam.Pool.parse(subnet, item.get("Gateway") or "", item.get("IPRange") or "",
                                   item.get("AuxiliaryAddresses"))
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
        if 4 not in pools:
            subnet = ipam.pick_subnet([*await asyncio.to_thread(_host_routes), *self._subnets()])
            pools[4] = _ipam_item(ipam.Pool.parse(subnet))
        if ipv6 and 6 not in pools:
            pools[6] = _ipam_item(ipam.Pool.parse(ipam.ula_subnet(id)))
        return [pools[v] for v in sorted(pools)]

    async def remove_network(self, ref: str) -> None:
        n = self.get(ref)
        if n["Name"] in PREDEFINED and n["Driver"] != "bridge" or (
                n["Name"] == "bridge" and n["Options"].get("com.docker.network.bridge.default_bridge")):
            raise errors.PermissionDenied(f"{n['Name']} is a pre-defined network and cannot be removed")
        if self.endpoints.get(n["Id"]):
            raise errors.PermissionDenied(f"error while removing network: network {n['Name']} id {n['Id']} has "
                                          "active endpoints")
        async with self._lock:
            await asyncio.to_thread(self._drop, n["Id"])
            await asyncio.to_thread(self._apply_rules)

    async def prune(self, match: Callable[[dict[str, Any]], bool] = lambda n: True) -> list[str]:
        gone = []
        for n in list(self.networks.values()):
            if n["Driver"] == "bridge" and not n["Options"].get("com.docker.network.bridge.default_bridge") \
                    and not self.endpoints.get(n["Id"]) and match(n):
                await self.remove_network(n["Id"])
                gone.append(n["Name"])
        return gone

    # -- containers: create ------------------------------------------------------------

    def _mode(self, c: dict[str, Any]) -> str:
        mode = c["HostConfig"].get("NetworkMode") or "default"
        if mode == "default":
            return "bridge" if self.default_enabled else "none"
        return mode

    def sandbox_path(self, id: str) -> Path:
        return self.exec_root / "netns" / id

    def prepare(self, c: dict[str, Any], spec: dict[str, Any], networking: dict[str, Any] | None,
                container_dir: Path, image_config: dict[str, Any] | None = None) -> None:
        """At create: pick the networks, point the spec at the sandbox, write and mount the /etc files."""
        id = c["Id"]
        exposed = {**((image_config or {}).get("ExposedPorts") or {}), **(c["Config"].get("ExposedPorts") or {})}
        for key in c["HostConfig"].get("PortBindings") or {}:
            exposed.setdefault(key if "/" in key else f"{key}/tcp", {})
        if exposed:
            c["Config"]["ExposedPorts"] = exposed
        mode = self._mode(c)
        settings = c["NetworkSettings"]
        raw_mode = c["HostConfig"].get("NetworkMode") or "default"
        endpoints_cfg = {(mode if k in ("default", raw_mode) else k): v or {}
                         for k, v in ((networking or {}).get("EndpointsConfig") or {}).items()}
        namespaces = spec["linux"]["namespaces"]
        if mode.startswith("container:"):
            other = self.get_container(mode.split(":", 1)[1])
            if not other["State"]["Running"]:
                raise errors.Conflict(f"cannot join network namespace of a non running container: {other['Id']}")
            path = self.sandbox_path(other["Id"])
            ns_path = str(path) if sandbox.is_netns(path) else f"/proc/{other['State']['Pid']}/ns/net"
            for ns in namespaces:
                if ns["type"] == "network":
                    ns["path"] = ns_path
            c["HostConfig"]["NetworkMode"] = f"container:{other['Id']}"
            for fname in ("hosts", "resolv.conf", "hostname"):
                src = Path(other.get({"hosts": "HostsPath", "resolv.conf": "ResolvConfPath",
                                      "hostname": "HostnamePath"}[fname]) or "")
                if src.is_file():
                    self._bind(spec, src, f"/etc/{fname}")
            return
        if mode not in ("host", "none"):
            nets = [mode, *[k for k in endpoints_cfg if k != mode]]
            for ref in nets:
                n = self.get(ref)
                cfg = endpoints_cfg.get(ref) or {}
                if ref == mode and c["Config"].get("MacAddress") and not cfg.get("MacAddress"):
                    cfg = {**cfg, "MacAddress": c["Config"]["MacAddress"]}  # API < 1.44 put it in Config
                if ref == mode and self._user_defined(n) and c["HostConfig"].get("Links") and not cfg.get("Links"):
                    cfg = {**cfg, "Links": c["HostConfig"]["Links"]}  # --link on a user network: the endpoint's
                settings["Networks"][n["Name"]] = self._endpoint_skeleton(n, cfg)
            for ns in namespaces:
                if ns["type"] == "network":
                    ns["path"] = str(self.sandbox_path(id))
            settings["SandboxKey"] = str(self.sandbox_path(id))
        elif mode == "none":
            settings["Networks"]["none"] = self._endpoint_skeleton(self.get("none"), {})
        else:
            settings["Networks"]["host"] = self._endpoint_skeleton(self.get("host"), {})
        exposed = c["Config"].get("ExposedPorts") or {}
        settings["Ports"] = {k: None for k in exposed}
        hostname = spec.get("hostname") or id[:12]
        if mode == "host":
            hostname = socket.gethostname()
        files = {"hostname": hostname + "\n", "hosts": self._hosts_text(c, hostname, []),
                 "resolv.conf": self._resolv_text(c)}
        for fname, text in files.items():
            path = container_dir / fname
            path.write_text(text)
            self._bind(spec, path, f"/etc/{fname}")
        c["HostnamePath"] = str(container_dir / "hostname")
        c["HostsPath"] = str(container_dir / "hosts")
        c["ResolvConfPath"] = str(container_dir / "resolv.conf")

    @staticmethod
    def _bind(spec: dict[str, Any], src: Path, dest: str) -> None:
        spec["mounts"].append({"destination": dest, "type": "bind", "source": str(src),
                               "options": ["rbind", "rprivate"]})

    @staticmethod
    def _endpoint_skeleton(n: dict[str, Any], cfg: dict[str, Any]) -> dict[str, Any]:
        """A configured ``MacAddress`` stays in the endpoint (used at join, kept across stops); ``DriverOpts``
        are recorded as given; ``Links`` (``container[:alias]``) are names only this container's DNS
        queries resolve."""
        mac = (cfg.get("MacAddress") or "").lower()
        if mac and not re.fullmatch(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}", mac):
            raise errors.InvalidArgument(f"invalid MAC address: {cfg['MacAddress']}")
        return {"IPAMConfig": cfg.get("IPAMConfig"), "Links": _links(cfg.get("Links")), "Aliases": cfg.get("Aliases"),
                "MacAddress": mac, "DriverOpts": cfg.get("DriverOpts") or None, "GwPriority": 0,
                "NetworkID": n["Id"], "EndpointID": "",
                "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "",
                "GlobalIPv6PrefixLen": 0, "DNSNames": None}

    def _user_defined(self, n: dict[str, Any]) -> bool:
        return n["Driver"] == "bridge" and not n["Options"].get("com.docker.network.bridge.default_bridge")

    def _hosts_text(self, c: dict[str, Any], hostname: str, addresses: list[str]) -> str:
        extra = []
        gw = ""
        for name in c["NetworkSettings"]["Networks"]:
            ep = c["NetworkSettings"]["Networks"][name]
            gw = gw or ep.get("Gateway") or ""
        for item in c["HostConfig"].get("ExtraHosts") or []:
            host, _, ip = item.partition(":")
            if ip == "host-gateway":
                ip = gw or "127.0.0.1"
            extra.append((host, ip))
        mode = self._mode(c)
        if mode == "host":
            try:
                return Path("/etc/hosts").read_text() + "".join(f"{ip}\t{h}\n" for h, ip in extra)
            except OSError:
                pass
        domain = c["Config"].get("Domainname") or ""
        if domain:  # as libnetwork: "IP  host.domain host"
            return hostfiles.hosts(f"{hostname}.{domain}", addresses, extra, [hostname])
        return hostfiles.hosts(hostname, addresses, extra)

    def _resolv_text(self, c: dict[str, Any]) -> str:
        try:
            host_text = Path("/etc/resolv.conf").read_text()
        except OSError:
            host_text = ""
        hc = c["HostConfig"]
        embedded = any(self._user_defined(self.get(name)) for name in c["NetworkSettings"]["Networks"]
                       if name in {n["Name"] for n in self.networks.values()})
        return hostfiles.resolv_conf(host_text, hc.get("Dns") or [], hc.get("DnsSearch") or [],
                                     hc.get("DnsOptions") or [], embedded)

    # -- containers: start and exit ------------------------------------------------------

    async def attach(self, c: dict[str, Any]) -> None:
        """Before the task starts: the sandbox, an endpoint per network, published ports, DNS."""
        if not c["NetworkSettings"].get("SandboxKey"):
            return
        async with self._lock:
            try:
                await asyncio.to_thread(sandbox.create, self.sandbox_path(c["Id"]))
                for name in list(c["NetworkSettings"]["Networks"]):
                    await self._join(c, self.get(name))
                await self._publish(c)
                await asyncio.to_thread(self._apply_rules)
            except BaseException:
                await self._detach(c)
                raise
        self._refresh_hosts(c)
        await self._start_resolver(c)

    async def _join(self, c: dict[str, Any], n: dict[str, Any]) -> None:
        id = c["Id"]
        ep = c["NetworkSettings"]["Networks"][n["Name"]]
        pool = self._pool(n)
        others = self.endpoints.get(n["Id"], {}).values()
        requested = ep.get("IPAMConfig") or {}
        ip = pool.allocate([e["IPAddress"] for e in others], requested.get("IPv4Address") or "",
                           self._last_ip.get(n["Id"], ""))
        self._last_ip[n["Id"]] = ip
        ip6, pool6 = "", self._pool6(n)
        if pool6 is not None:
            ip6 = pool6.allocate([e["GlobalIPv6Address"] for e in others if e.get("GlobalIPv6Address")],
                                 requested.get("IPv6Address") or "")
        elif requested.get("IPv6Address"):
            raise errors.InvalidArgument(f"invalid endpoint settings: an IPv6 address was given but network "
                                         f"{n['Name']} does not have IPv6 enabled")
        index = len([e for e in self._container_endpoints(id)])
        ep.update(EndpointID=secrets.token_hex(32), Gateway=str(pool.gateway), IPAddress=ip,
                  IPPrefixLen=pool.subnet.prefixlen, MacAddress=ep.get("MacAddress") or ipam.mac_for(ip),
                  GlobalIPv6Address=ip6, GlobalIPv6PrefixLen=pool6.subnet.prefixlen if pool6 else 0,
                  IPv6Gateway=str(pool6.gateway) if pool6 else "",
                  DNSNames=list(dict.fromkeys([c["Name"].lstrip("/"), *(ep.get("Aliases") or []), id[:12],
                                               *([c["Config"]["Hostname"]] if c["Config"].get("Hostname") else [])]))
                  if self._user_defined(n) else None)
        record = {**ep, "Name": c["Name"].lstrip("/"), "Interface": f"eth{index}",
                  "HostInterface": "veth" + ep["EndpointID"][:7]}
        self.endpoints.setdefault(n["Id"], {})[id] = record
        self.store.put_endpoint(n["Id"], id, record)
        await asyncio.to_thread(
            self.driver.join, str(self.sandbox_path(id)), self._bridge(n), record["HostInterface"], record["Interface"],
            f"{ip}/{pool.subnet.prefixlen}", str(pool.gateway), record["MacAddress"],
            index == 0 and not n["Internal"], f"{ip6}/{pool6.subnet.prefixlen}" if pool6 else "",
            str(pool6.gateway) if pool6 else "")
        if index == 0 and n["Name"] == "bridge":
            c["NetworkSettings"].update(Gateway=ep["Gateway"], IPAddress=ip, IPPrefixLen=ep["IPPrefixLen"],
                                        MacAddress=ep["MacAddress"], EndpointID=ep["EndpointID"])

    def _container_endpoints(self, id: str) -> list[tuple[str, dict[str, Any]]]:
        return [(nid, eps[id]) for nid, eps in self.endpoints.items() if id in eps]

    def _publish_ip(self, c: dict[str, Any]) -> str:
        eps = sorted(self._container_endpoints(c["Id"]), key=lambda e: e[1]["Interface"])
        return eps[0][1]["IPAddress"] if eps else ""

    async def _publish(self, c: dict[str, Any]) -> None:
        exposed = {**(c["Config"].get("ExposedPorts") or {})}
        bindings = ports.bindings(c["HostConfig"], exposed)
        result: dict[str, Any] = {k: None for k in exposed}
        socks: list[socket.socket] = []
        self.reservations[c["Id"]] = socks
        for b in bindings:
            try:
                s, port = ports.reserve(b)
            except errors.Conflict as err:
                raise errors.Conflict(f"driver failed programming external connectivity on endpoint "
                                      f"{c['Name'].lstrip('/')} ({c['Id'][:12]}): {err}") from err
            socks.append(s)
            result.setdefault(f"{b.container_port}/{b.proto}", None)
            key = f"{b.container_port}/{b.proto}"
            result[key] = [*(result[key] or []), {"HostIp": b.host_ip or "0.0.0.0", "HostPort": str(port)}]
        c["NetworkSettings"]["Ports"] = result

    def _refresh_hosts(self, c: dict[str, Any]) -> None:
        path = Path(c.get("HostsPath") or "")
        if not path.is_file():
            return
        eps = [ep for _, ep in sorted(self._container_endpoints(c["Id"]), key=lambda e: e[1]["Interface"])]
        addrs = [ep["IPAddress"] for ep in eps] + [ep["GlobalIPv6Address"] for ep in eps if ep.get("GlobalIPv6Address")]
        hostname = (Path(c["HostnamePath"]).read_text().strip() if c.get("HostnamePath") else "") or c["Id"][:12]
        hostfiles.write_in_place(path, self._hosts_text(c, hostname, addrs))

    async def _start_resolver(self, c: dict[str, Any]) -> None:
        id = c["Id"]
        if id in self.resolvers:
            return
        if not any(self._user_defined(self.networks[nid]) for nid, _ in self._container_endpoints(id)):
            return
        sock = await asyncio.to_thread(sandbox.run_in, self.sandbox_path(id), dns.bind_socket)
        loop = asyncio.get_running_loop()
        _, server = await loop.create_datagram_endpoint(
            lambda: dns.Server(lambda name: self.lookup(id, name), lambda: self._upstream(c)), sock=sock)
        self.resolvers[id] = server

    def lookup(self, asker: str, name: str) -> list[str]:
        """Addresses (IPv4, then IPv6) of containers named ``name`` on the user-defined networks ``asker``
        is on."""
        found: list[str] = []
        for nid, ep in self._container_endpoints(asker):
            n = self.networks.get(nid)
            if n is None or not self._user_defined(n):
                continue
            suffix = "." + n["Name"]
            short = name[: -len(suffix)] if name.endswith(suffix) else name
            linked = {alias.lower(): target for target, alias in
                      (link.split(":", 1) for link in ep.get("Links") or [])}
            for cid, other in self.endpoints.get(nid, {}).items():
                # DNSNames as moby builds them: name, aliases, short ID and the hostname
                names = {str(x).lower() for x in other.get("DNSNames") or
                         [other.get("Name", ""), *(other.get("Aliases") or []), cid[:12]]}
                by_link = short in linked and linked[short] in (other.get("Name", ""), cid, cid[:12])
                if short in names or by_link:
                    for ip in (other["IPAddress"], other.get("GlobalIPv6Address") or ""):
                        if ip and ip not in found:
                            found.append(ip)
        return found

    def _upstream(self, c: dict[str, Any]) -> list[str]:
        if c["HostConfig"].get("Dns"):
            return list(c["HostConfig"]["Dns"])
        try:
            return hostfiles.host_resolvers(Path("/etc/resolv.conf").read_text())[0]
        except OSError:
            return []

    async def detach(self, c: dict[str, Any]) -> None:
        """After the task exited: free addresses and ports, remove links, sandbox and DNS."""
        async with self._lock:
            await self._detach(c)
            await asyncio.to_thread(self._apply_rules)

    async def _detach(self, c: dict[str, Any]) -> None:
        id = c["Id"]
        server = self.resolvers.pop(id, None)
        if server:
            server.close()
        for s in self.reservations.pop(id, []):
            s.close()
        # Unpinning the namespace lets the kernel delete its veths in the background (a veth deleted here
        # costs ~30 ms of RCU grace periods). Only when another container still runs in this namespace
        # (--network container:<id>) must the links go now, or they would outlive their addresses.
        shared = self._sharers(c)
        for nid, ep in self._container_endpoints(id):
            if shared:
                await asyncio.to_thread(self.driver.leave, ep["HostInterface"])
            self.endpoints[nid].pop(id, None)
            self.store.delete_endpoint(nid, id)
        for ep in c["NetworkSettings"].get("Networks", {}).values():
            # a MAC other than the one derived from the address was configured: it stays for the next start
            mac, ip = ep.get("MacAddress") or "", ep.get("IPAddress") or ""
            configured = bool(mac) and (not ip or mac != ipam.mac_for(ip))
            ep.update(EndpointID="", Gateway="", IPAddress="", IPPrefixLen=0, DNSNames=None,
                      GlobalIPv6Address="", GlobalIPv6PrefixLen=0, IPv6Gateway="",
                      MacAddress=mac if configured else "")
        c["NetworkSettings"].update(Gateway="", IPAddress="", IPPrefixLen=0, MacAddress="", EndpointID="")
        exposed = c["Config"].get("ExposedPorts") or {}
        c["NetworkSettings"]["Ports"] = {k: None for k in exposed}
        await asyncio.to_thread(sandbox.destroy, self.sandbox_path(id))

    def _sharers(self, c: dict[str, Any]) -> list[str]:
        """Running containers that joined ``c``'s network namespace."""
        refs = {f"container:{c['Id']}", f"container:{c['Id'][:12]}", f"container:{c['Name'].lstrip('/')}"}
        out = []
        for other in self.containers():
            mode = other["HostConfig"].get("NetworkMode") or ""
            if other["Id"] != c["Id"] and other["State"].get("Running") and (
                    mode in refs or (len(mode) > 10 and mode.startswith("container:") and c["Id"].startswith(mode[10:]))):
                out.append(other["Id"])
        return out

    async def readopt(self, c: dict[str, Any], alive: bool) -> None:
        """After a daemon restart: keep a running container's network (ports, DNS), clean a dead one's."""
        if not alive:
            await self.detach(c)
            return
        if not self._container_endpoints(c["Id"]):
            return
        socks = []
        for key, items in (c["NetworkSettings"].get("Ports") or {}).items():
            cport, proto = ports.parse_key(key)
            for item in items or []:
                host_ip = "" if item["HostIp"] == "0.0.0.0" else item["HostIp"]
                try:
                    s, _ = ports.reserve(ports.Binding(cport, proto, host_ip, int(item["HostPort"])))
                    socks.append(s)
                except errors.Conflict as err:
                    log.warning("container %s: %s", c["Id"][:12], err)
        self.reservations[c["Id"]] = socks
        await asyncio.to_thread(self._apply_rules)
        await self._start_resolver(c)

    async def forget_unknown(self, known: set[str]) -> None:
        """After a restart: drop endpoints of containers that no longer exist (a build's RUN, or a
        container whose removal a crash cut short), so their addresses and sandboxes are freed."""
        for nid, eps in self.endpoints.items():
            for cid in [cid for cid in eps if cid not in known]:
                eps.pop(cid)
                self.store.delete_endpoint(nid, cid)
                await asyncio.to_thread(sandbox.destroy, self.sandbox_path(cid))

    def release(self, c: dict[str, Any]) -> None:
        """At remove: nothing is left once detach ran; a never-started container has no sandbox."""
        self.reservations.pop(c["Id"], None)

    # -- connect and disconnect ----------------------------------------------------------

    async def connect(self, c: dict[str, Any], ref: str, cfg: dict[str, Any]) -> None:
        n = self.get(ref)
        mode = self._mode(c)
        if mode in ("host", "none") or mode.startswith("container:"):
            raise errors.InvalidArgument("container cannot be disconnected from host network or connected to "
                                         "host network" if mode == "host" else
                                         "container sharing network namespace with another container or host "
                                         "cannot be connected to any other network")
        if n["Driver"] != "bridge":
            raise errors.InvalidArgument(f"container cannot be connected to the {n['Name']} network")
        if n["Name"] in c["NetworkSettings"]["Networks"]:
            raise errors.Conflict(f"endpoint with name {c['Name'].lstrip('/')} already exists in network {n['Name']}")
        c["NetworkSettings"]["Networks"][n["Name"]] = self._endpoint_skeleton(n, cfg)
        if not c["State"]["Running"]:
            return
        async with self._lock:
            try:
                await self._join(c, n)
                await asyncio.to_thread(self._apply_rules)
            except BaseException:
                c["NetworkSettings"]["Networks"].pop(n["Name"], None)
                raise
        self._refresh_hosts(c)
        await self._start_resolver(c)

    async def disconnect(self, c: dict[str, Any], ref: str) -> None:
        n = self.get(ref)
        if n["Name"] not in c["NetworkSettings"]["Networks"]:
            raise errors.FailedPrecondition(f"container {c['Id']} is not connected to network {n['Name']}")
        c["NetworkSettings"]["Networks"].pop(n["Name"])
        ep = self.endpoints.get(n["Id"], {}).pop(c["Id"], None)
        if ep is not None:
            async with self._lock:
                await asyncio.to_thread(self.driver.leave, ep["HostInterface"])
                self.store.delete_endpoint(n["Id"], c["Id"])
                await asyncio.to_thread(self._apply_rules)
            self._refresh_hosts(c)

    # -- listing -------------------------------------------------------------------

    def ps_ports(self, c: dict[str, Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for key, items in (c["NetworkSettings"].get("Ports") or {}).items():
            cport, proto = ports.parse_key(key)
            if not items:
                out.append({"PrivatePort": cport, "Type": proto})
            for item in items or []:
                out.append({"IP": item["HostIp"], "PrivatePort": cport, "PublicPort": int(item["HostPort"]),
                            "Type": proto})
        return out
