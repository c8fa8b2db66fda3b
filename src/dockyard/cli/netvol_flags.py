"""The network and storage flags of ``run``/``create``, turned into the JSON the docker CLI sends.

``-p/--publish``, ``-P``, ``--expose``, ``-v/--volume``, ``--mount``, ``--tmpfs``,
``--volumes-from``, ``--network-alias``, ``--ip``, ``--add-host``, ``--dns``,
``--dns-search``, ``--dns-option``. Pure string work with no imports beyond
argparse (the CLI's start-up time matters); the daemon validates the rest and
its errors are the ones users see, as with Docker.
"""

from __future__ import annotations

import argparse

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

from dockyard import errors

_UNITS = {"b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def add_flags(p: argparse.ArgumentParser) -> None:
    add = p.add_argument
    add("-p", "--publish", action="append", default=[], metavar="list",
        help="Publish a container's port(s) to the host")
    add("-P", "--publish-all", action="store_true", help="Publish all exposed ports to random ports")
    add("--expose", action="append", default=[], metavar="list", help="Expose a port or a range of ports")
    add("-v", "--volume", action="append", default=[], metavar="list", help="Bind mount a volume")
    add("--mount", action="append", default=[], metavar="mount", help="Attach a filesystem mount to the container")
    add("--tmpfs", action="append", default=[], metavar="list", help="Mount a tmpfs directory")
    add("--volumes-from", action="append", default=[], metavar="list",
        help="Mount volumes from the specified container(s)")
    add("--network-alias", "--net-alias", action="append", default=[], metavar="list",
        help="Add network-scoped alias for the container")
    add("--ip", default="", help="IPv4 address (e.g., 172.30.100.104)")
    add("--ip6", default="", help="IPv6 address (e.g., 2001:db8::33)")
    add("--dns", action="append", default=[], metavar="list", help="Set custom DNS servers")
    add("--dns-search", action="append", default=[], metavar="list", help="Set custom DNS search domains")
    add("--dns-option", "--dns-opt", action="append", default=[], metavar="list", help="Set DNS options")


def _port_range(text: str, what: str) -> list[int]:
    lo, _, hi = text.partition("-")
    try:
        first, last = int(lo), int(hi or lo)
    except ValueError as err:
        raise errors.InvalidArgument(f"invalid {what}: {text}") from err
    if not (0 < first <= last <= 65535):
        raise errors.InvalidArgument(f"invalid {what}: {text}")
    return list(range(first, last + 1))


def parse_publish(spec: str) -> list[tuple[str, dict[str, str]]]:
    """``[hostIP:][hostPort[-end]:]containerPort[-end][/proto]`` -> [(\"80/tcp\", {HostIp, HostPort})]."""
    rest, _, proto = spec.partition("/")
    proto = (proto or "tcp").lower()
    if proto not in ("tcp", "udp", "sctp"):
        raise errors.InvalidArgument(f"invalid proto: {proto}")
    host_ip = ""
    if rest.startswith("["):  # [::1]:8080:80
        end = rest.find("]")
        host_ip, rest = rest[1:end], rest[end + 2:]
    parts = rest.split(":")
    if len(parts) == 3:
        host_ip, host_port, cport = parts
    elif len(parts) == 2:
        host_port, cport = parts
    elif len(parts) == 1:
        host_port, cport = "", parts[0]
    else:
        raise errors.InvalidArgument(f"invalid publish spec: {spec}")
    cports = _port_range(cport, "containerPort")
    if not host_port:
        return [(f"{c}/{proto}", {"HostIp": host_ip, "HostPort": ""}) for c in cports]
    hports = _port_range(host_port, "hostPort")
    if len(hports) == len(cports):
        return [(f"{c}/{proto}", {"HostIp": host_ip, "HostPort": str(h)}) for c, h in zip(cports, hports)]
    if len(cports) == 1:  # one container port on the first free port of a host range: Docker sends the range
        return [(f"{cports[0]}/{proto}", {"HostIp": host_ip, "HostPort": host_port})]
    raise errors.InvalidArgument(f"invalid ranges specified for container and host Ports: {cport} and {host_port}")


def _size(text: str) -> int:
    """``64m``, ``1g``, ``512k``, ``64MiB``, ``100`` -> bytes."""
    v = text.strip().lower()
    for suffix in ("ib", "b"):
        if len(v) > len(suffix) + 1 and v.endswith(suffix) and v[-len(suffix) - 1] in "kmgt":
            v = v[: -len(suffix)]
            break
    try:
        if v and v[-1] in _UNITS:
            return int(float(v[:-1]) * _UNITS[v[-1]])
        return int(v)
    except ValueError as err:
        raise errors.InvalidArgument(f"invalid size: {text}") from err


def parse_mount(spec: str) -> dict[str, Any]:
    """The ``--mount`` CSV syntax -> a HostConfig.Mounts item."""
    m: dict[str, Any] = {"Type": "volume"}
    volume: dict[str, Any] = {}
    bind: dict[str, Any] = {}
    tmpfs: dict[str, Any] = {}
    for field in spec.split(","):
        key, eq, value = field.partition("=")
        key = key.strip().lower()
        flag = value.lower() in ("", "1", "true") if eq else True
        if key == "type":
            m["Type"] = value
        elif key in ("source", "src"):
            m["Source"] = value
        elif key in ("target", "destination", "dst"):
            m["Target"] = value
        elif key in ("readonly", "ro"):
            m["ReadOnly"] = flag
        elif key == "consistency":
            m["Consistency"] = value
        elif key == "bind-propagation":
            bind["Propagation"] = value
        elif key == "bind-nonrecursive":
            bind["NonRecursive"] = flag
        elif key == "volume-nocopy":
            volume["NoCopy"] = flag
        elif key == "volume-subpath":
            volume["Subpath"] = value
        elif key == "volume-label":
            k, _, v = value.partition("=")
            volume.setdefault("Labels", {})[k] = v
        elif key == "volume-driver":
            volume.setdefault("DriverConfig", {})["Name"] = value
        elif key == "volume-opt":
            k, _, v = value.partition("=")
            volume.setdefault("DriverConfig", {}).setdefault("Options", {})[k] = v
        elif key == "tmpfs-size":
            tmpfs["SizeBytes"] = _size(value)
        elif key == "tmpfs-mode":
            try:
                tmpfs["Mode"] = int(value, 8)
            except ValueError as err:
                raise errors.InvalidArgument(f"invalid tmpfs-mode: {value}") from err
        else:
            raise errors.InvalidArgument(f"unexpected key '{key}' in '{field}'")
    if not m.get("Target"):
        raise errors.InvalidArgument("target is required")
    for name, opts, kind in (("VolumeOptions", volume, "volume"), ("BindOptions", bind, "bind"),
                             ("TmpfsOptions", tmpfs, "tmpfs")):
        if opts:
            if m["Type"] != kind:
                raise errors.InvalidArgument(f"cannot mix '{name}' with mount type '{m['Type']}'")
            m[name] = opts
    return m


def _host_entry(item: str) -> str:
    """``host:ip`` or ``host=ip`` (IPv6 addresses have colons) -> ``host:ip`` as the API wants it."""
    host, sep, ip = item.partition("=")
    if not sep:
        host, sep, ip = item.partition(":")
    if not sep or not host or not ip:
        raise errors.InvalidArgument(f"bad format for add-host: {item!r}")
    return f"{host}:{ip}"


def apply(a: argparse.Namespace, config: dict[str, Any], host: dict[str, Any]) -> None:
    """Fill Config, HostConfig and Config["NetworkingConfig"] (sent at the top level of the body)."""
    exposed: dict[str, Any] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    for spec in a.expose:
        port, _, proto = spec.partition("/")
        for p in _port_range(port, "port"):
            exposed[f"{p}/{proto or 'tcp'}"] = {}
    for spec in a.publish:
        for key, binding in parse_publish(spec):
            exposed[key] = {}
            bindings.setdefault(key, []).append(binding)
    if exposed:
        config["ExposedPorts"] = exposed
    if bindings:
        host["PortBindings"] = bindings
    if a.publish_all:
        host["PublishAllPorts"] = True
    binds: list[str] = []
    anonymous: dict[str, dict[str, Any]] = {}
    for v in a.volume:
        if ":" in v:
            binds.append(v)
        else:  # -v /data: an anonymous volume, sent as Config.Volumes like the docker CLI
            anonymous[v] = {}
    if binds:
        host["Binds"] = binds
    if anonymous:
        config["Volumes"] = anonymous
    if a.mount:
        host["Mounts"] = [parse_mount(m) for m in a.mount]
    if a.tmpfs:
        host["Tmpfs"] = {dest: opts for dest, _, opts in (t.partition(":") for t in a.tmpfs)}
    if a.volumes_from:
        host["VolumesFrom"] = list(a.volumes_from)
    if a.add_host:
        host["ExtraHosts"] = [_host_entry(h) for h in a.add_host]
    if a.dns:
        host["Dns"] = list(a.dns)
    if a.dns_search:
        host["DnsSearch"] = list(a.dns_search)
    if a.dns_option:
        host["DnsOptions"] = list(a.dns_option)
    if a.network_alias or a.ip or a.ip6:
        endpoint: dict[str, Any] = {}
        if a.network_alias:
            endpoint["Aliases"] = list(a.network_alias)
        if a.ip or a.ip6:
            endpoint["IPAMConfig"] = {k: v for k, v in (("IPv4Address", a.ip), ("IPv6Address", a.ip6)) if v}
        config["NetworkingConfig"] = {"EndpointsConfig": {host.get("NetworkMode") or "default": endpoint}}
