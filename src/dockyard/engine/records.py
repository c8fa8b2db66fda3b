"""Typed records of Docker's API objects: a container's ``Config`` and ``HostConfig``.

A record is parsed once from the API's JSON and keeps it exactly: each of Docker's fields is a typed
attribute (``host_config.auto_remove``), a field nobody sent reads as Docker's zero value and is not
in ``to_json()`` (inspect shows it: ``engine/api/render.py``), and a field the engine does not know (a newer API's) is kept in ``extra``; ``to_json()``
gives back the keys in the order they came, so nothing a client sent is lost. The store keeps that
JSON (``engine/store.py``), ``engine/api/render.py`` makes the API's answers from the records.

Code reads and writes a record through its attributes only; ``has``, ``set`` and ``unset`` name a
field by its JSON key where that is what the caller holds (a presence check, an update body).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

R = TypeVar("R", bound="Record")

# attribute names that Go's initialisms make unreadable when derived
_SNAKE_EXCEPTIONS = {"IOMaximumIOps": "io_maximum_iops", "BlkioDeviceReadIOps": "blkio_device_read_iops",
                     "BlkioDeviceWriteIOps": "blkio_device_write_iops", "ExecIDs": "exec_ids",
                     "KernelMemoryTCP": "kernel_memory_tcp", "LinkLocalIPv6Address": "link_local_ipv6_address",
                     "LinkLocalIPv6PrefixLen": "link_local_ipv6_prefix_len",
                     "SecondaryIPv6Addresses": "secondary_ipv6_addresses", "GlobalIPv6Address": "global_ipv6_address",
                     "GlobalIPv6PrefixLen": "global_ipv6_prefix_len", "IPv6Gateway": "ipv6_gateway"}


def snake(key: str) -> str:
    """The attribute of a JSON key: ``CpuShares`` -> ``cpu_shares``, ``OOMKilled`` -> ``oom_killed``."""
    if key in _SNAKE_EXCEPTIONS:
        return _SNAKE_EXCEPTIONS[key]
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", key)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s).lower()


class Record:
    """Docker's fields (``KEYS``, in Docker's order) as typed attributes; what is present, in order."""

    KEYS: ClassVar[tuple[str, ...]] = ()
    NESTED: ClassVar[dict[str, Callable[[Any], Any]]] = {}  # JSON key -> parser of its value
    _ATTR: ClassVar[dict[str, str]] = {}  # JSON key -> attribute
    _KEY: ClassVar[dict[str, str]] = {}  # attribute -> JSON key

    _keys: dict[str, None]  # the JSON keys present, in order (an ordered set)
    extra: dict[str, Any]  # fields this engine does not know, kept as they came

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._ATTR = {k: snake(k) for k in cls.KEYS}
        cls._KEY = {a: k for k, a in cls._ATTR.items()}
        undeclared = [a for a in cls._KEY if a not in cls.__annotations__]
        if undeclared:
            raise TypeError(f"{cls.__name__}: no typed attribute for {undeclared}")

    def __init__(self, doc: Mapping[str, Any] | None = None) -> None:
        object.__setattr__(self, "_keys", {})
        object.__setattr__(self, "extra", {})
        for key, value in (doc or {}).items():
            self.set(key, value)

    @classmethod
    def of(cls: type[R], value: Any) -> R:
        """``value`` as this record: itself if it is one, parsed if it is its JSON (None: empty)."""
        return value if isinstance(value, cls) else cls(value)

    def __setattr__(self, name: str, value: Any) -> None:
        self.__dict__[name] = value
        key = self._KEY.get(name)
        if key is not None:
            self._keys[key] = None

    def to_json(self) -> dict[str, Any]:
        """The record as the API's JSON, keys in the order they came (nested records rendered too).
        Read straight from the instance's dict: the store renders a container at every change."""
        values, extra, attrs, nested, cls = self.__dict__, self.extra, self._ATTR, self.NESTED, type(self)
        out: dict[str, Any] = {}
        for key in self._keys:
            attr = attrs.get(key)
            value = extra[key] if attr is None else values[attr] if attr in values else getattr(cls, attr)
            out[key] = value.to_json() if key in nested else value
        return out

    # -- fields by their JSON keys (a presence check, an update body's fields) ---------------

    def has(self, key: str) -> bool:
        """The field ``key`` (its JSON key) was given or set; one that was not reads as its zero value."""
        return key in self._keys

    def set(self, key: str, value: Any) -> None:
        """The field ``key`` (its JSON key, known or not) set to ``value``, a nested record parsed from its JSON."""
        attr = self._ATTR.get(key)
        if attr is None:
            self.extra[key] = value
            self._keys[key] = None
            return
        parse = self.NESTED.get(key)
        setattr(self, attr, parse(value) if parse is not None else value)

    def unset(self, key: str) -> None:
        """The field ``key`` no longer given: it reads as its zero value again and leaves ``to_json()``."""
        if key not in self._keys:
            return
        del self._keys[key]
        attr = self._ATTR.get(key)
        if attr is None:
            del self.extra[key]
        else:
            self.__dict__.pop(attr, None)

    def __copy__(self: R) -> R:
        return type(self)(self.to_json())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_json()!r})"


class Config(Record):
    """A container's ``Config`` (moby's ``container.Config``): what the image and the client chose."""

    KEYS = ("Hostname", "Domainname", "User", "AttachStdin", "AttachStdout", "AttachStderr", "ExposedPorts", "Tty",
            "OpenStdin", "StdinOnce", "Env", "Cmd", "Healthcheck", "ArgsEscaped", "Image", "Volumes", "WorkingDir",
            "Entrypoint", "NetworkDisabled", "MacAddress", "OnBuild", "Labels", "StopSignal", "StopTimeout", "Shell")

    hostname: str = ""
    domainname: str = ""
    user: str = ""
    attach_stdin: bool = False
    attach_stdout: bool = False
    attach_stderr: bool = False
    exposed_ports: dict[str, Any] | None = None
    tty: bool = False
    open_stdin: bool = False
    stdin_once: bool = False
    env: list[str] | None = None
    cmd: list[str] | None = None
    healthcheck: dict[str, Any] | None = None
    args_escaped: bool = False
    image: str = ""
    volumes: dict[str, Any] | None = None
    working_dir: str = ""
    entrypoint: list[str] | None = None
    network_disabled: bool = False
    mac_address: str = ""
    on_build: list[str] | None = None
    labels: dict[str, str] | None = None
    stop_signal: str = ""
    stop_timeout: int | None = None
    shell: list[str] | None = None


class HostConfig(Record):
    """A container's ``HostConfig`` (moby's ``container.HostConfig`` with its ``Resources``)."""

    KEYS = ("Binds", "ContainerIDFile", "LogConfig", "NetworkMode", "PortBindings", "RestartPolicy", "AutoRemove",
            "VolumeDriver", "VolumesFrom", "ConsoleSize", "Annotations", "CapAdd", "CapDrop", "CgroupnsMode", "Dns",
            "DnsOptions", "DnsSearch", "ExtraHosts", "GroupAdd", "IpcMode", "Cgroup", "Links", "OomScoreAdj",
            "PidMode", "Privileged", "PublishAllPorts", "ReadonlyRootfs", "SecurityOpt", "StorageOpt", "Tmpfs",
            "UTSMode", "UsernsMode", "ShmSize", "Sysctls", "Runtime", "Isolation",
            # Resources
            "CpuShares", "Memory", "NanoCpus", "CgroupParent", "BlkioWeight", "BlkioWeightDevice",
            "BlkioDeviceReadBps", "BlkioDeviceWriteBps", "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps", "CpuPeriod",
            "CpuQuota", "CpuRealtimePeriod", "CpuRealtimeRuntime", "CpusetCpus", "CpusetMems", "Devices",
            "DeviceCgroupRules", "DeviceRequests", "KernelMemory", "KernelMemoryTCP", "MemoryReservation",
            "MemorySwap", "MemorySwappiness", "OomKillDisable", "PidsLimit", "Ulimits", "CpuCount", "CpuPercent",
            "IOMaximumIOps", "IOMaximumBandwidth",
            "Mounts", "MaskedPaths", "ReadonlyPaths", "Init")

    binds: list[str] | None = None
    container_id_file: str = ""
    log_config: dict[str, Any] | None = None
    network_mode: str = ""
    port_bindings: dict[str, Any] | None = None
    restart_policy: dict[str, Any] | None = None
    auto_remove: bool = False
    volume_driver: str = ""
    volumes_from: list[str] | None = None
    console_size: list[int] | None = None
    annotations: dict[str, str] | None = None
    cap_add: list[str] | None = None
    cap_drop: list[str] | None = None
    cgroupns_mode: str = ""
    dns: list[str] | None = None
    dns_options: list[str] | None = None
    dns_search: list[str] | None = None
    extra_hosts: list[str] | None = None
    group_add: list[str] | None = None
    ipc_mode: str = ""
    cgroup: str = ""
    links: list[str] | None = None
    oom_score_adj: int = 0
    pid_mode: str = ""
    privileged: bool = False
    publish_all_ports: bool = False
    readonly_rootfs: bool = False
    security_opt: list[str] | None = None
    storage_opt: dict[str, str] | None = None
    tmpfs: dict[str, str] | None = None
    uts_mode: str = ""
    userns_mode: str = ""
    shm_size: int = 0
    sysctls: dict[str, str] | None = None
    runtime: str = ""
    isolation: str = ""
    cpu_shares: int = 0
    memory: int = 0
    nano_cpus: int = 0
    cgroup_parent: str = ""
    blkio_weight: int = 0
    blkio_weight_device: list[dict[str, Any]] | None = None
    blkio_device_read_bps: list[dict[str, Any]] | None = None
    blkio_device_write_bps: list[dict[str, Any]] | None = None
    blkio_device_read_iops: list[dict[str, Any]] | None = None
    blkio_device_write_iops: list[dict[str, Any]] | None = None
    cpu_period: int = 0
    cpu_quota: int = 0
    cpu_realtime_period: int = 0
    cpu_realtime_runtime: int = 0
    cpuset_cpus: str = ""
    cpuset_mems: str = ""
    devices: list[dict[str, Any]] | None = None
    device_cgroup_rules: list[str] | None = None
    device_requests: list[dict[str, Any]] | None = None
    kernel_memory: int = 0
    kernel_memory_tcp: int = 0
    memory_reservation: int = 0
    memory_swap: int = 0
    memory_swappiness: int | None = None
    oom_kill_disable: bool | None = None
    pids_limit: int | None = None
    ulimits: list[dict[str, Any]] | None = None
    cpu_count: int = 0
    cpu_percent: int = 0
    io_maximum_iops: int = 0
    io_maximum_bandwidth: int = 0
    mounts: list[dict[str, Any]] | None = None
    masked_paths: list[str] | None = None
    readonly_paths: list[str] | None = None
    init: bool | None = None

    @property
    def restart_policy_name(self) -> str:
        """The restart policy's name, ``no`` when none was given."""
        return str((self.restart_policy or {}).get("Name") or "no")


class NetworkSettings(Record):
    """A container's ``NetworkSettings`` (moby's ``container.NetworkSettings``), written by the network package
    (``network/manager.py``): the sandbox, the published ports and an endpoint per network (``networks``: the
    network's name -> its ``EndpointSettings`` as JSON, which the network store also keeps)."""

    KEYS = ("Bridge", "SandboxID", "SandboxKey", "Ports", "HairpinMode", "LinkLocalIPv6Address",
            "LinkLocalIPv6PrefixLen", "SecondaryIPAddresses", "SecondaryIPv6Addresses",
            "EndpointID", "Gateway", "GlobalIPv6Address", "GlobalIPv6PrefixLen", "IPAddress", "IPPrefixLen",
            "IPv6Gateway", "MacAddress", "Networks")

    bridge: str = ""
    sandbox_id: str = ""
    sandbox_key: str = ""
    ports: dict[str, list[dict[str, str]] | None] | None = None  # "80/tcp" -> its host bindings (None: exposed only)
    hairpin_mode: bool = False
    link_local_ipv6_address: str = ""
    link_local_ipv6_prefix_len: int = 0
    secondary_ip_addresses: list[dict[str, Any]] | None = None
    secondary_ipv6_addresses: list[dict[str, Any]] | None = None
    endpoint_id: str = ""
    gateway: str = ""
    global_ipv6_address: str = ""
    global_ipv6_prefix_len: int = 0
    ip_address: str = ""
    ip_prefix_len: int = 0
    ipv6_gateway: str = ""
    mac_address: str = ""
    networks: dict[str, dict[str, Any]]

    def __init__(self, doc: Mapping[str, Any] | None = None) -> None:
        super().__init__(doc)
        if not self.has("Networks"):
            self.networks = {}
