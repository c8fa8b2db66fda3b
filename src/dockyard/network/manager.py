"""NetworkManager: Docker's networks and endpoints over the bridge driver, nftables and the DNS server.

The engine calls it at five points of a container's life: ``prepare`` (create:
the netns path and the /etc files go into the OCI spec), ``attach`` (before the
task starts: sandbox, veths, addresses, published ports, DNS), ``detach``
(after the task exited), ``release`` (remove) and ``readopt`` (daemon restart).
Containers are passed in as the engine's typed ``Container`` (``engine/container.py``): their
``network_settings`` are written here; the network records, bridges and rules are its base, ``networks.Networks``.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import socket
from pathlib import Path
from typing import Any

from dockyard import errors
from dockyard.engine.container import Container
from dockyard.network import configonly, dns, gwbridge, hostfiles, ipam, linklocal, ports, proxy, sandbox
from dockyard.network.networks import BRIDGED, PREDEFINED, Networks, network_record
from dockyard.network.remote import allow_localnet, builtin

log = logging.getLogger("dockyard.network")

__all__ = ["PREDEFINED", "NetworkManager"]


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


class NetworkManager(Networks):
    """The networks (``Networks``) and the containers' endpoints on them."""

    # -- containers: create ------------------------------------------------------------

    def _mode(self, c: Container) -> str:
        mode = c.host_config.network_mode or "default"
        if mode == "default":
            return "bridge" if self.default_enabled else "none"
        return mode

    def sandbox_path(self, id: str) -> Path:
        return self.exec_root / "netns" / id

    def prepare(self, c: Container, spec: dict[str, Any], networking: dict[str, Any] | None,
                container_dir: Path, image_config: dict[str, Any] | None = None) -> None:
        """At create: pick the networks, point the spec at the sandbox, write and mount the /etc files."""
        id = c.id
        exposed = {**((image_config or {}).get("ExposedPorts") or {}), **(c.config.exposed_ports or {})}
        for key in c.host_config.port_bindings or {}:
            exposed.setdefault(key if "/" in key else f"{key}/tcp", {})
        if exposed:
            c.config.exposed_ports = exposed
        mode = self._mode(c)
        settings = c.network_settings
        raw_mode = c.host_config.network_mode or "default"
        endpoints_cfg = {(mode if k in ("default", raw_mode) else k): v or {}
                         for k, v in ((networking or {}).get("EndpointsConfig") or {}).items()}
        namespaces = spec["linux"]["namespaces"]
        if mode.startswith("container:"):
            other = self.get_container(mode.split(":", 1)[1])
            if other.id == id:
                raise errors.InvalidArgument("cannot join own network namespace")
            # The donor's own netns file, there whenever it runs: whether it does is checked at start
            # (dockerd's getNetworkedContainer; Compose v2 creates `network_mode: service:x` before x runs).
            # A donor without one of its own (host, or itself joined) is joined by its PID, so must run now.
            path = self.sandbox_path(other.id)
            if other.network_settings.sandbox_key:
                ns_path = str(path)
            elif other.state.running:
                ns_path = str(path) if sandbox.is_netns(path) else f"/proc/{other.state.pid}/ns/net"
            else:
                raise self._donor_not_running(other)
            for ns in namespaces:
                if ns["type"] == "network":
                    ns["path"] = ns_path
            c.host_config.network_mode = f"container:{other.id}"
            self._take_donor_names(c, spec, other)
            for fname, src in (("hosts", other.hosts_path), ("resolv.conf", other.resolv_conf_path),
                               ("hostname", other.hostname_path)):
                if Path(src or "").is_file():
                    self._bind(spec, Path(src), f"/etc/{fname}")
            return
        if c.config.network_disabled and mode not in ("host", "none"):
            pass  # dockerd: no endpoint at all, a network namespace of the container's own with only lo
        elif mode not in ("host", "none"):
            nets = [mode, *[k for k in endpoints_cfg if k != mode]]
            for ref in nets:
                try:
                    n = self.get(ref)
                except errors.NotFound:
                    if ref == mode:
                        raise
                    n = {"Id": "", "Name": ref}  # another endpoint's network: dockerd resolves it at start
                cfg = endpoints_cfg.get(ref) or {}
                if ref == mode and c.config.mac_address and not cfg.get("MacAddress"):
                    cfg = {**cfg, "MacAddress": c.config.mac_address}  # API < 1.44 put it in Config
                if ref == mode and self._user_defined(n) and c.host_config.links and not cfg.get("Links"):
                    cfg = {**cfg, "Links": c.host_config.links}  # --link on a user network: the endpoint's
                settings.networks[n["Name"]] = self._endpoint_skeleton(n, cfg)
            for ns in namespaces:
                if ns["type"] == "network":
                    ns["path"] = str(self.sandbox_path(id))
            settings.sandbox_key = str(self.sandbox_path(id))
        elif mode == "none":
            settings.networks["none"] = self._endpoint_skeleton(self.get("none"), {})
        else:
            settings.networks["host"] = self._endpoint_skeleton(self.get("host"), {})
        exposed = c.config.exposed_ports or {}
        settings.ports = {k: None for k in exposed}
        hostname = spec.get("hostname") or id[:12]
        if mode == "host":
            hostname = socket.gethostname()
        files = {"hostname": hostname + "\n", "hosts": self._hosts_text(c, hostname, []),
                 "resolv.conf": self._resolv_text(c)}
        for fname, text in files.items():
            path = container_dir / fname
            path.write_text(text)
            self._bind(spec, path, f"/etc/{fname}")
        c.hostname_path = str(container_dir / "hostname")
        c.hosts_path = str(container_dir / "hosts")
        c.resolv_conf_path = str(container_dir / "resolv.conf")

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
        linklocal.check(cfg.get("IPAMConfig"))
        return {"IPAMConfig": cfg.get("IPAMConfig"), "Links": _links(cfg.get("Links")), "Aliases": cfg.get("Aliases"),
                "MacAddress": mac, "DriverOpts": cfg.get("DriverOpts") or None,
                "GwPriority": int(cfg.get("GwPriority") or 0),
                "NetworkID": n["Id"], "EndpointID": "",
                "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "",
                "GlobalIPv6PrefixLen": 0, "DNSNames": None}

    def _hosts_text(self, c: Container, hostname: str, addresses: list[str]) -> str:
        extra = []
        gw = ""
        for ep in c.network_settings.networks.values():
            gw = gw or ep.get("Gateway") or ""
        for item in c.host_config.extra_hosts or []:
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
        domain = c.config.domainname or ""
        if domain:  # as libnetwork: "IP  host.domain host"
            return hostfiles.hosts(f"{hostname}.{domain}", addresses, extra, [hostname])
        return hostfiles.hosts(hostname, addresses, extra)

    def _resolv_text(self, c: Container) -> str:
        try:
            host_text = Path("/etc/resolv.conf").read_text()
        except OSError:
            host_text = ""
        hc = c.host_config
        embedded = any(self._user_defined(self.get(name)) for name in c.network_settings.networks
                       if name in {n["Name"] for n in self.networks.values()})
        return hostfiles.resolv_conf(host_text, hc.dns or [], hc.dns_search or [], hc.dns_options or [], embedded)

    # -- containers: start and exit ------------------------------------------------------

    @staticmethod
    def _take_donor_names(c: Container, spec: dict[str, Any], other: Container) -> None:
        """dockerd's initializeNetworking: a joiner of ``container:<id>`` has the donor's hostname and
        domain name (its UTS name, ``HOSTNAME`` and inspect's Config), not its own ID."""
        hostname = other.config.hostname or other.id[:12]
        c.config.hostname, c.config.domainname = hostname, other.config.domainname or ""
        spec["hostname"] = hostname
        if c.config.domainname:
            spec["domainname"] = c.config.domainname
        env = spec["process"].get("env") or []
        spec["process"]["env"] = [f"HOSTNAME={hostname}" if e.startswith("HOSTNAME=") else e for e in env]

    @staticmethod
    def _donor_not_running(other: Container) -> errors.DockyardError:
        return errors.Conflict(f"cannot join network namespace of a non running container: container "
                               f"{other.short_name} is {other.state.status or 'exited'}")

    async def attach(self, c: Container) -> None:
        """Before the task starts: the sandbox, an endpoint per network, published ports, DNS; a
        ``container:<id>`` mode's donor must be running (as dockerd checks it at start, not at create)."""
        mode = c.host_config.network_mode or ""
        if mode.startswith("container:"):
            other = self.get_container(mode.split(":", 1)[1])
            if not other.state.running or other.state.restarting:
                raise self._donor_not_running(other)
        if not c.network_settings.sandbox_key:
            return
        async with self._lock:
            try:
                await asyncio.to_thread(sandbox.create, self.sandbox_path(c.id))
                for name in list(c.network_settings.networks):
                    await self._join(c, self.get(name))
                await self._sync_gwbridge(c)
                await self._publish(c)
                await self._program_external(c)
                await asyncio.to_thread(self._apply_rules)
            except errors.DockyardError as err:  # dockerd's errSetupNetworking prefix
                await self._detach(c)
                raise type(err)(f"failed to set up container networking: {err}") from err
            except BaseException:
                await self._detach(c)
                raise
        self._refresh_hosts(c)
        await self._start_resolver(c)

    async def _join(self, c: Container, n: dict[str, Any]) -> None:
        id = c.id
        if n.get("ConfigOnly"):
            raise errors.PermissionDenied(configonly.NO_ENDPOINT)
        if n.get("Scope") == "swarm" and not n.get("Attachable"):  # swarmkit's refusal, as dockerd relays it
            raise errors.PermissionDenied(f"Could not attach to network {n['Name']}: rpc error: code = "
                                          f"PermissionDenied desc = network {n['Name']} not manually attachable")
        ep = c.network_settings.networks[n["Name"]]
        pool = self._pool(n)
        others = self.endpoints.get(n["Id"], {}).values()
        requested = ep.get("IPAMConfig") or {}
        mac, pool6 = ep.get("MacAddress") or "", self._pool6(n)
        if pool6 is None and requested.get("IPv6Address"):
            raise errors.InvalidArgument(f"invalid endpoint settings: an IPv6 address was given but network "
                                         f"{n['Name']} does not have IPv6 enabled")
        if n["IPAM"]["Driver"] != "default":  # an IPAM plugin's addresses (remote.py)
            ip, ip6, mac = await asyncio.to_thread(self.remote.request_addresses, n, requested, mac)
        else:
            ip = pool.allocate([e["IPAddress"] for e in others], requested.get("IPv4Address") or "",
                               self._last_ip.get(n["Id"], ""))
            self._last_ip[n["Id"]] = ip
            ip6 = "" if pool6 is None else pool6.allocate(
                [e["GlobalIPv6Address"] for e in others if e.get("GlobalIPv6Address")], requested.get("IPv6Address") or "")
        generated = mac != (ep.get("MacAddress") or "")  # for an IPAM plugin that RequiresMACAddress
        index = len([e for e in self._container_endpoints(id)])
        ep.update(EndpointID=secrets.token_hex(32), Gateway=str(pool.gateway), IPAddress=ip,
                  IPPrefixLen=pool.subnet.prefixlen, MacAddress=mac or ipam.mac_for(ip),
                  GlobalIPv6Address=ip6, GlobalIPv6PrefixLen=pool6.subnet.prefixlen if pool6 else 0,
                  IPv6Gateway=str(pool6.gateway) if pool6 else "",
                  DNSNames=list(dict.fromkeys([c.short_name, *(ep.get("Aliases") or []), id[:12],
                                               *([c.config.hostname] if c.config.hostname else [])]))
                  if self._user_defined(n) else None)
        ifname = (ep.get("DriverOpts") or {}).get("com.docker.network.endpoint.ifname") or f"eth{index}"
        record = {**ep, "Name": c.short_name, "Interface": ifname,
                  "MacGenerated": generated,
                  "HostInterface": "veth" + ep["EndpointID"][:7] if n["Driver"] in BRIDGED else ""}
        self.endpoints.setdefault(n["Id"], {})[id] = record
        self.store.put_endpoint(n["Id"], id, record)
        if n["Driver"] not in BRIDGED:  # a plugin's: its interface, MAC, gateway (remote.py)
            got = await asyncio.to_thread(self.remote.join, n, record, mac, str(self.sandbox_path(id)),
                                          index == 0 and not n["Internal"])
            ep.update(got)
            record.update(got)
            self.store.put_endpoint(n["Id"], id, record)
            return
        await asyncio.to_thread(
            self.driver.join, str(self.sandbox_path(id)), self._bridge(n), record["HostInterface"], record["Interface"],
            f"{ip}/{pool.subnet.prefixlen}", str(pool.gateway), record["MacAddress"],
            self._gateway_of(id) == n["Id"], f"{ip6}/{pool6.subnet.prefixlen}" if pool6 else "",
            str(pool6.gateway) if pool6 else "")
        await asyncio.to_thread(linklocal.apply, str(self.sandbox_path(id)), record["Interface"],
                                list(requested.get("LinkLocalIPs") or []))
        if n["Options"].get(gwbridge.ICC) == "false":
            await asyncio.to_thread(gwbridge.isolate, record["HostInterface"])
        if index == 0 and n["Name"] == "bridge":
            ns = c.network_settings  # the legacy top-level fields mirror the default bridge's endpoint
            ns.gateway, ns.ip_address, ns.ip_prefix_len, ns.mac_address, ns.endpoint_id = \
                ep["Gateway"], ip, ep["IPPrefixLen"], ep["MacAddress"], ep["EndpointID"]

    async def _publish(self, c: Container) -> None:
        exposed = {**(c.config.exposed_ports or {})}
        bindings = ports.bindings(c.host_config.port_bindings, c.host_config.publish_all_ports, exposed)
        result: dict[str, list[dict[str, str]] | None] = {k: None for k in exposed}
        socks: list[socket.socket] = []
        self.reservations[c.id] = socks
        for b in bindings:
            try:
                got = ports.reserve_all(b)
            except errors.Conflict as err:
                raise errors.Conflict(f"driver failed programming external connectivity on endpoint "
                                      f"{c.short_name} ({c.id[:12]}): {err}") from err
            key = f"{b.container_port}/{b.proto}"
            result.setdefault(key, None)
            for s, host_ip, port in got:
                socks.append(s)
                result[key] = [*(result[key] or []), {"HostIp": host_ip, "HostPort": str(port)}]
                await self._proxy(c.id, s, b.container_port)
        c.network_settings.ports = result

    async def _proxy(self, cid: str, s: socket.socket, cport: int) -> None:
        """A port on an IPv6 host address gets the userland proxy (proxy.py): for ``[::1]`` and for a container
        without an IPv6 address, where no DNAT can take the traffic."""
        if s.family != socket.AF_INET6:
            return

        def target() -> tuple[str, int] | None:
            eps = self._publish_endpoints(cid)
            ip = (eps[0][1].get("GlobalIPv6Address") or eps[0][1].get("IPAddress")) if eps else ""
            return (str(ip), cport) if ip else None
        self.proxies.setdefault(cid, []).append(await proxy.Proxy.start(s, target))

    def _stop_proxies(self, cid: str) -> None:
        for p in self.proxies.pop(cid, []):
            p.close()

    async def _program_external(self, c: Container) -> None:
        """A plugin network giving the default routes is told the published ports (remote.py); a port on
        127.0.0.1 reaches its container through the plugin's host interface (route_localnet, as on bridges)."""
        nid = self._gateway_of(c.id)
        if not nid or self.networks[nid]["Driver"] in (*BRIDGED, "host", "null"):
            return
        record = self.endpoints[nid][c.id]
        published = c.network_settings.ports or {}
        await asyncio.to_thread(self.remote.program_external, self.networks[nid], record, published)
        self.store.put_endpoint(nid, c.id, record)
        if any(published.values()):
            await asyncio.to_thread(allow_localnet, self._publish_ip(c))

    def _refresh_hosts(self, c: Container) -> None:
        path = Path(c.hosts_path or "")
        if not path.is_file():
            return
        eps = [ep for _, ep in sorted(self._container_endpoints(c.id), key=lambda e: e[1]["Interface"])]
        addrs = [ep["IPAddress"] for ep in eps] + [ep["GlobalIPv6Address"] for ep in eps if ep.get("GlobalIPv6Address")]
        hostname = (Path(c.hostname_path).read_text().strip() if c.hostname_path else "") or c.id[:12]
        hostfiles.write_in_place(path, self._hosts_text(c, hostname, addrs))

    async def _start_resolver(self, c: Container) -> None:
        id = c.id
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

    def _upstream(self, c: Container) -> list[str]:
        if c.host_config.dns:
            return list(c.host_config.dns)
        try:
            return hostfiles.host_resolvers(Path("/etc/resolv.conf").read_text())[0]
        except OSError:
            return []

    async def detach(self, c: Container) -> None:
        """After the task exited: free addresses and ports, remove links, sandbox and DNS."""
        async with self._lock:
            await self._detach(c)
            await asyncio.to_thread(self._apply_rules)

    async def _detach(self, c: Container) -> None:
        id = c.id
        server = self.resolvers.pop(id, None)
        if server:
            server.close()
        self._stop_proxies(id)
        for s in self.reservations.pop(id, []):
            s.close()
        # Unpinning the namespace lets the kernel delete its veths in the background (a veth deleted here
        # costs ~30 ms of RCU grace periods). Only when another container still runs in this namespace
        # (--network container:<id>) must the links go now, or they would outlive their addresses.
        shared = self._sharers(c)
        generated = {self.networks[nid]["Name"] for nid, ep in self._container_endpoints(id)
                     if nid in self.networks and ep.get("MacGenerated")}
        for nid, ep in self._container_endpoints(id):
            if nid in self.networks and not builtin(self.networks[nid]):
                await asyncio.to_thread(self.remote.leave, self.networks[nid], ep, str(self.sandbox_path(id)))
            if shared and ep["HostInterface"]:
                await asyncio.to_thread(self.driver.leave, ep["HostInterface"])
            self.endpoints[nid].pop(id, None)
            self.store.delete_endpoint(nid, id)
        ns = c.network_settings
        for name, ep in ns.networks.items():
            # a MAC other than the one derived from the address was configured: it stays for the next start
            mac, ip = ep.get("MacAddress") or "", ep.get("IPAddress") or ""
            configured = bool(mac) and (not ip or mac != ipam.mac_for(ip)) and name not in generated
            ep.update(EndpointID="", Gateway="", IPAddress="", IPPrefixLen=0, DNSNames=None,
                      GlobalIPv6Address="", GlobalIPv6PrefixLen=0, IPv6Gateway="",
                      MacAddress=mac if configured else "")
        ns.gateway, ns.ip_address, ns.ip_prefix_len, ns.mac_address, ns.endpoint_id = "", "", 0, "", ""
        ns.ports = {k: None for k in c.config.exposed_ports or {}}
        await asyncio.to_thread(sandbox.destroy, self.sandbox_path(id))

    def _sharers(self, c: Container) -> list[str]:
        """Running containers that joined ``c``'s network namespace."""
        refs = {f"container:{c.id}", f"container:{c.id[:12]}", f"container:{c.short_name}"}
        out = []
        for other in self.containers():
            mode = other.host_config.network_mode or ""
            if other.id != c.id and other.state.running and (
                    mode in refs or (len(mode) > 10 and mode.startswith("container:") and c.id.startswith(mode[10:]))):
                out.append(other.id)
        return out

    async def readopt(self, c: Container, alive: bool) -> None:
        """After a daemon restart: keep a running container's network (ports, DNS), clean a dead one's."""
        if not alive:
            await self.detach(c)
            return
        if not self._container_endpoints(c.id):
            return
        socks = []
        for key, items in (c.network_settings.ports or {}).items():
            cport, proto = ports.parse_key(key)
            for item in items or []:
                host_ip = "" if item["HostIp"] == "0.0.0.0" else item["HostIp"]
                try:
                    s, _ = ports.reserve(ports.Binding(cport, proto, host_ip, int(item["HostPort"])))
                    socks.append(s)
                except errors.Conflict as err:
                    log.warning("container %s: %s", c.id[:12], err)
                    continue
                await self._proxy(c.id, s, cport)
        self.reservations[c.id] = socks
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

    def release(self, c: Container) -> None:
        """At remove: nothing is left once detach ran; a never-started container has no sandbox."""
        self.reservations.pop(c.id, None)

    # -- connect and disconnect ----------------------------------------------------------

    async def connect(self, c: Container, ref: str, cfg: dict[str, Any]) -> None:
        n = self.get(ref)
        mode = self._mode(c)
        if mode in ("host", "none") or mode.startswith("container:"):
            raise errors.InvalidArgument("container cannot be disconnected from host network or connected to "
                                         "host network" if mode == "host" else
                                         "container sharing network namespace with another container or host "
                                         "cannot be connected to any other network")
        if n["Driver"] in ("host", "null"):
            raise errors.InvalidArgument(f"container cannot be connected to the {n['Name']} network")
        nets = c.network_settings.networks
        if n["Name"] in nets:
            raise errors.Conflict(f"endpoint with name {c.short_name} already exists in network {n['Name']}")
        nets[n["Name"]] = self._endpoint_skeleton(n, cfg)
        if not c.state.running:
            return
        async with self._lock:
            gateway = self._gateway_of(c.id)
            try:
                await self._join(c, n)
                await self._sync_gwbridge(c)
                await asyncio.to_thread(self._apply_rules)
            except BaseException:
                nets.pop(n["Name"], None)
                raise
            if self._gateway_of(c.id) != gateway:  # a plugin network took the default routes over
                await self._program_external(c)
        self._refresh_hosts(c)
        await self._start_resolver(c)

    async def disconnect(self, c: Container, ref: str) -> None:
        n = self.get(ref)
        if n["Name"] not in c.network_settings.networks:
            raise errors.FailedPrecondition(f"container {c.id} is not connected to network {n['Name']}")
        c.network_settings.networks.pop(n["Name"])
        was_gateway = self._gateway_of(c.id) == n["Id"]
        ep = self.endpoints.get(n["Id"], {}).pop(c.id, None)
        if ep is not None:
            async with self._lock:
                if not builtin(n):
                    await asyncio.to_thread(self.remote.leave, n, ep, str(self.sandbox_path(c.id)))
                if ep["HostInterface"]:
                    await asyncio.to_thread(self.driver.leave, ep["HostInterface"])
                self.store.delete_endpoint(n["Id"], c.id)
                await self._sync_gwbridge(c)
                await asyncio.to_thread(self._apply_rules)
                if was_gateway:
                    await self._move_gateway(c.id)
            self._refresh_hosts(c)

    def _gateway_of(self, id: str) -> str:
        """The network whose endpoint gives the container its default routes, as libnetwork's
        Endpoint.Less orders them: the highest ``GwPriority``, then the network's name; "" for none."""
        eps = [(nid, ep) for nid, ep in self._container_endpoints(id) if not self.networks[nid]["Internal"]
               and (ep.get("Gateway") or ep.get("IPv6Gateway"))]  # a plugin's Join may give none (gwbridge.py)
        eps.sort(key=lambda e: (-int(e[1].get("GwPriority") or 0), self.networks[e[0]]["Name"]))
        return eps[0][0] if eps else ""

    # -- docker_gwbridge (gwbridge.py) ---------------------------------------------------

    async def _sync_gwbridge(self, c: Container) -> None:
        """Join docker_gwbridge when the container's endpoints give it no gateway, leave it once one does."""
        id = c.id
        mine = [(self.networks[nid], ep) for nid, ep in self._container_endpoints(id) if nid in self.networks]
        current = next((n for n, ep in mine if gwbridge.is_gateway_endpoint(n, ep)), None)
        need = gwbridge.needed(mine)
        if need and current is None:
            n = await self._gwbridge_network()
            nets = c.network_settings.networks
            nets[gwbridge.NAME] = self._endpoint_skeleton(n, {})
            try:
                await self._join(c, n)  # an endpoint of the container, not one of its configured networks
            finally:
                nets.pop(gwbridge.NAME, None)
            record = self.endpoints[n["Id"]][id]
            record.update(Name=gwbridge.endpoint_name(id), DNSNames=None)
            self.store.put_endpoint(n["Id"], id, record)
        elif current is not None and not need:
            ep = self.endpoints[current["Id"]].pop(id)
            if ep["HostInterface"]:
                await asyncio.to_thread(self.driver.leave, ep["HostInterface"])
            self.store.delete_endpoint(current["Id"], id)
            await self._move_gateway(id)

    async def _gwbridge_network(self) -> dict[str, Any]:
        """docker_gwbridge, made on first need as libnetwork's createGWNetwork (the caller holds the lock)."""
        for n in self.networks.values():
            if n["Name"] == gwbridge.NAME:
                return n
        id = secrets.token_hex(32)
        self._refuse_bridge_conflict(id, gwbridge.NAME)
        config = await self._ipam_config(id, [], False)
        n = network_record(id, gwbridge.NAME, "bridge", config, False, gwbridge.NAME, {}, dict(gwbridge.OPTIONS))
        await asyncio.to_thread(self._create_bridge, n, False)
        self._put(n)
        return n

    async def _move_gateway(self, id: str) -> None:
        """After the gateway endpoint left: the next one in order gets the default routes (a plugin network's
        too: its Join's ``Gateway``, as libnetwork's updateGateway)."""
        nid = self._gateway_of(id)
        if not nid:
            return
        ep = self.endpoints[nid][id]
        await asyncio.to_thread(self.driver.default_routes, str(self.sandbox_path(id)), ep["Gateway"],
                                ep.get("IPv6Gateway") or "")

    # -- listing -------------------------------------------------------------------

    def ps_ports(self, c: Container) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for key, items in (c.network_settings.ports or {}).items():
            cport, proto = ports.parse_key(key)
            if not items:
                out.append({"PrivatePort": cport, "Type": proto})
            for item in items or []:
                out.append({"IP": item["HostIp"], "PrivatePort": cport, "PublicPort": int(item["HostPort"]),
                            "Type": proto})
        return out
