"""A single-node swarm: what ``docker swarm init`` gives a Docker user for networks, and nothing faked.

This node becomes the swarm's one manager (and leader): ``/swarm`` (inspect, update, unlock key),
``/nodes`` (itself), /info's ``Swarm`` fields, the ``ingress`` network made at init and ``overlay``
networks (scope ``swarm``; with one node they are realised as local bridges, see
``network.networks.BRIDGED``; ``Attachable`` ones take containers). No other node can join (nothing
listens on the listen address), and there are no services, tasks, secrets or configs: their lists are
empty and creating one is refused (``engine.api.probes``). The state is kept in ``<data-root>/swarm.json``
and survives a restart; ``leave`` disconnects containers from swarm networks and removes them.
"""

from __future__ import annotations

import base64
import copy
import ipaddress
import json
import os
import platform
import secrets
import socket
import string
from pathlib import Path
from typing import Any

from dockyard import __version__, errors
from dockyard.engine.hostinfo import memory_total
from dockyard.timefmt import rfc3339_micro

NO_SWARM = "This node is not part of a swarm"
SWARM_EXISTS = ('This node is already part of a swarm. Use "docker swarm leave" to leave this swarm and join '
                'another one.')
LEAVE_MANAGER = ("You are attempting to leave the swarm on a node that is participating as a manager. Removing "
                 "the last manager erases all current state of the swarm. Use `--force` to ignore this message.")
DEFAULT_POOL, DEFAULT_SUBNET_SIZE, DEFAULT_PORT, DATA_PATH_PORT = ["10.0.0.0/8"], 24, 2377, 4789
_ALPHABET = string.digits + string.ascii_lowercase


def new_id() -> str:
    """A swarmkit identifier: 25 characters of base 36."""
    n = int.from_bytes(secrets.token_bytes(16), "big")
    out = ""
    while len(out) < 25:
        n, r = divmod(n, 36)
        out += _ALPHABET[r]
    return out


def default_spec() -> dict[str, Any]:
    """``docker swarm init``'s cluster spec."""
    return {"Name": "default", "Labels": {}, "Orchestration": {"TaskHistoryRetentionLimit": 5},
            "Raft": {"SnapshotInterval": 10000, "KeepOldSnapshots": 0, "LogEntriesForSlowFollowers": 500,
                     "ElectionTick": 10, "HeartbeatTick": 1},
            "Dispatcher": {"HeartbeatPeriod": 5_000_000_000}, "CAConfig": {"NodeCertExpiry": 7_776_000_000_000_000},
            "TaskDefaults": {}, "EncryptionConfig": {"AutoLockManagers": False}}


def _merge(spec: dict[str, Any], given: dict[str, Any] | None) -> dict[str, Any]:
    out = copy.deepcopy(spec)
    for key, value in (given or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **{k: v for k, v in value.items() if v not in (None, 0, "")}}
        elif value is not None:
            out[key] = value
    return out


def _token(cluster_key: str) -> str:
    return f"SWMTKN-1-{cluster_key}-{new_id()}"


def _unlock_key() -> str:
    return "SWMKEY-1-" + base64.b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def _host_ip() -> str:
    """The address of the interface of the default route (dockerd's choice when none is given)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.1", 9))  # no packet is sent: the kernel only picks the source address
        return str(s.getsockname()[0])
    except OSError:
        raise errors.InvalidArgument("could not find the system's IP address - specify one with --advertise-addr") \
            from None
    finally:
        s.close()


def _addr(value: str, default_port: int) -> tuple[str, int]:
    """``host[:port]`` as swarm's listen and advertise addresses are given (an interface name is not)."""
    host, port = value, default_port
    if value.count(":") == 1 or value.startswith("["):
        host, _, p = value.rpartition(":")
        if not p.isdigit() or not 0 < int(p) < 65536:
            raise errors.InvalidArgument(f"invalid port in address {value!r}")
        port = int(p)
    host = host.strip("[]")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise errors.InvalidArgument(f"advertise address must be a non-zero IP address or network interface "
                                     f"(with optional port number): {value!r}") from None
    return host, port


class Swarm:
    """This node's swarm state (``None`` when not part of one), persisted under the data root."""

    def __init__(self, data_root: Path, engine: Any) -> None:
        self.path = data_root / "swarm.json"
        self.engine = engine
        self.state: dict[str, Any] | None = None
        try:
            self.state = json.loads(self.path.read_text())
        except FileNotFoundError:
            pass
        self._apply_pools()

    @property
    def active(self) -> bool:
        return self.state is not None

    def _need(self) -> dict[str, Any]:
        if self.state is None:
            raise errors.Unavailable(NO_SWARM)
        return self.state

    def _save(self) -> None:
        """Written whole, 0600 (it holds the join tokens and the unlock key)."""
        tmp = self.path.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(self.state))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def _apply_pools(self) -> None:
        s = self.state
        self.engine.networks.swarm_pool = None if s is None else (list(s["DefaultAddrPool"]), int(s["SubnetSize"]))

    # -- init, leave, update -----------------------------------------------------------

    async def init(self, body: dict[str, Any]) -> str:
        """``POST /swarm/init``: this node becomes the manager of a new swarm, with its ingress network."""
        if self.state is not None:
            raise errors.Unavailable(SWARM_EXISTS)
        listen_host, listen_port = _addr(body.get("ListenAddr") or f"0.0.0.0:{DEFAULT_PORT}", DEFAULT_PORT)
        advertise = body.get("AdvertiseAddr") or ""
        if advertise:
            adv_host, adv_port = _addr(advertise, listen_port)
        else:
            adv_host = listen_host if not ipaddress.ip_address(listen_host).is_unspecified else _host_ip()
            adv_port = listen_port
        pools, size = self._pools(body)
        now = rfc3339_micro()
        spec = _merge(default_spec(), body.get("Spec"))
        if body.get("AutoLockManagers"):
            spec["EncryptionConfig"]["AutoLockManagers"] = True
        cluster_key = base64.b32encode(secrets.token_bytes(30)).decode().lower()[:50]
        node_id = new_id()
        self.state = {
            "ID": new_id(), "Version": {"Index": 10}, "CreatedAt": now, "UpdatedAt": now, "Spec": spec,
            "TLSInfo": {"TrustRoot": "", "CertIssuerSubject": "", "CertIssuerPublicKey": ""},
            "RootRotationInProgress": False, "DefaultAddrPool": pools, "SubnetSize": size,
            "DataPathPort": int(body.get("DataPathPort") or DATA_PATH_PORT),
            "JoinTokens": {"Worker": _token(cluster_key), "Manager": _token(cluster_key)},
            "ClusterKey": cluster_key, "UnlockKey": _unlock_key(),
            "NodeID": node_id, "NodeAddr": adv_host, "ManagerAddr": f"{adv_host}:{adv_port}",
            "ListenAddr": f"{listen_host}:{listen_port}",
            "Node": {"ID": node_id, "Version": {"Index": 9}, "CreatedAt": now, "UpdatedAt": now,
                     "Spec": {"Labels": {}, "Role": "manager", "Availability": "active"}},
        }
        self._apply_pools()
        try:
            await self.engine.networks.create_network({
                "Name": "ingress", "Driver": "overlay", "Ingress": True,
                "Options": {"com.docker.network.driver.overlay.vxlanid_list": "4096"}})
        except BaseException:
            self.state = None
            self._apply_pools()
            raise
        self._save()
        return node_id

    def _pools(self, body: dict[str, Any]) -> tuple[list[str], int]:
        pools = list(body.get("DefaultAddrPool") or DEFAULT_POOL)
        size = int(body.get("SubnetSize") or DEFAULT_SUBNET_SIZE)
        for p in pools:
            try:
                net = ipaddress.ip_network(p, strict=False)
            except ValueError:
                raise errors.InvalidArgument(f"invalid default address pool {p!r}") from None
            if net.version != 4 or size < net.prefixlen or size > 29:
                raise errors.InvalidArgument(f"invalid SubnetSize {size} for the default address pool {p}")
        return pools, size

    async def leave(self, force: bool) -> None:
        """``POST /swarm/leave``: the last manager leaves only with ``force``; containers are disconnected
        from the swarm's networks (dockerd's clearAttachableNetworks), which are then removed."""
        self._need()
        if not force:
            raise errors.Unavailable(LEAVE_MANAGER)
        nets = self.engine.networks
        swarm_nets = [n for n in list(nets.networks.values()) if n.get("Scope") == "swarm"]
        for c in list(self.engine.containers.values()):
            for n in swarm_nets:
                if n["Name"] in c.network_settings.networks:
                    await self.engine.disconnect_network(c.id, n["Id"])
        for n in swarm_nets:
            await nets.remove_network(n["Id"])
        self.state = None
        self._apply_pools()
        self.path.unlink(missing_ok=True)

    def update(self, version: str, spec: dict[str, Any], rotate: dict[str, bool]) -> None:
        """``POST /swarm/update?version=N``: a new spec (and rotated tokens or unlock key)."""
        s = self._need()
        self._check_version(version, s["Version"]["Index"])
        auto = bool((spec.get("EncryptionConfig") or {}).get("AutoLockManagers"))
        s["Spec"] = _merge(default_spec(), spec)
        s["Spec"]["EncryptionConfig"]["AutoLockManagers"] = auto
        if rotate.get("rotateWorkerToken"):
            s["JoinTokens"]["Worker"] = _token(s["ClusterKey"])
        if rotate.get("rotateManagerToken"):
            s["JoinTokens"]["Manager"] = _token(s["ClusterKey"])
        if rotate.get("rotateManagerUnlockKey"):
            s["UnlockKey"] = _unlock_key()
        s["Version"]["Index"] += 1
        s["UpdatedAt"] = rfc3339_micro()
        self._save()

    @staticmethod
    def _check_version(version: str, current: int) -> None:
        try:
            given = int(version)
        except ValueError:
            raise errors.InvalidArgument(f"invalid swarm version '{version}': strconv.ParseUint: parsing "
                                         f"\"{version}\": invalid syntax") from None
        if given != current:
            raise errors.Internal("update out of sequence")

    # -- what clients read --------------------------------------------------------------

    def inspect(self) -> dict[str, Any]:
        s = self._need()
        keys = ("ID", "Version", "CreatedAt", "UpdatedAt", "Spec", "TLSInfo", "RootRotationInProgress",
                "DefaultAddrPool", "SubnetSize", "DataPathPort", "JoinTokens")
        return copy.deepcopy({k: s[k] for k in keys})

    def unlock_key(self) -> dict[str, str]:
        s = self._need()
        return {"UnlockKey": s["UnlockKey"] if s["Spec"]["EncryptionConfig"].get("AutoLockManagers") else ""}

    def node(self) -> dict[str, Any]:
        s = self._need()
        n: dict[str, Any] = copy.deepcopy(s["Node"])
        n["Description"] = {
            "Hostname": socket.gethostname(), "Platform": {"Architecture": platform.machine(), "OS": "linux"},
            "Resources": {"NanoCPUs": (os.cpu_count() or 1) * 1_000_000_000, "MemoryBytes": memory_total()},
            "Engine": {"EngineVersion": __version__, "Plugins": [
                {"Type": "Network", "Name": name} for name in ("bridge", "host", "null", "overlay")] + [
                {"Type": "Volume", "Name": "local"}]},
            "TLSInfo": s["TLSInfo"]}
        n["Status"] = {"State": "ready", "Addr": s["NodeAddr"]}
        n["ManagerStatus"] = {"Leader": True, "Reachability": "reachable", "Addr": s["ManagerAddr"]}
        return n

    def get_node(self, ref: str) -> dict[str, Any]:
        n = self.node()
        if ref and (n["ID"].startswith(ref) or ref == n["Description"]["Hostname"]):
            return n
        raise errors.NotFound(f"node {ref} not found")

    def update_node(self, ref: str, version: str, spec: dict[str, Any]) -> None:
        """``POST /nodes/{id}/update``: labels and availability; the only manager stays one."""
        s = self._need()
        self.get_node(ref)
        self._check_version(version, s["Node"]["Version"]["Index"])
        role = spec.get("Role") or "manager"
        if role != "manager":
            raise errors.FailedPrecondition("attempting to demote the last manager of the swarm")
        availability = spec.get("Availability") or "active"
        if availability not in ("active", "pause", "drain"):
            raise errors.InvalidArgument(f"invalid availability: {availability}")
        s["Node"]["Spec"] = {**({"Name": spec["Name"]} if spec.get("Name") else {}),
                             "Labels": dict(spec.get("Labels") or {}), "Role": role, "Availability": availability}
        s["Node"]["Version"]["Index"] += 1
        s["Node"]["UpdatedAt"] = rfc3339_micro()
        self._save()

    def info(self) -> dict[str, Any]:
        """/info's ``Swarm`` as dockerd fills it."""
        if self.state is None:
            return {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": False,
                    "Error": "", "RemoteManagers": None}
        s = self.state
        return {"NodeID": s["NodeID"], "NodeAddr": s["NodeAddr"], "LocalNodeState": "active",
                "ControlAvailable": True, "Error": "",
                "RemoteManagers": [{"NodeID": s["NodeID"], "Addr": s["ManagerAddr"]}],
                "Nodes": 1, "Managers": 1,
                "Cluster": {k: v for k, v in self.inspect().items() if k != "JoinTokens"}}
