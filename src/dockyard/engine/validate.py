"""Validation at the door: what dockerd refuses, refused before anything is stored, with dockerd's message.

The API layer calls these on the decoded bodies (``engine/api/decode.py`` has checked the JSON types) and
query parameters. A value that passes here must not fail later: a container record that was stored is
listed, inspected and started by every client. The checks and their order follow dockerd's
(``runconfig.DecodeCreateRequest``, then ``verifyContainerSettings`` and its Linux part); every refusal is
an ``InvalidArgument`` (400). ``container_create`` also normalises what dockerd normalises (``WorkingDir``
cleaned, ``MemorySwappiness`` -1 meaning unset) and returns dockerd's warnings.
"""

from __future__ import annotations

import ipaddress
import os
import posixpath
import re
import signal as _signal
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from dockyard import errors
from dockyard.engine import detachkeys
from dockyard.engine.records import HostConfig
from dockyard.oci.capabilities import CAPABILITIES

MIN_MEMORY = 6 * 1024 * 1024  # dockerd's linuxMinMemory
MAX_HOSTNAME = 64  # HOST_NAME_MAX
MIN_DURATION_NS = 1_000_000  # container.MinimumDuration: 1ms
MAX_CPUSET = 8192
RESTART_POLICIES = ("no", "always", "on-failure", "unless-stopped")
ULIMITS = frozenset({"core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc",
                     "rss", "rtprio", "rttime", "sigpending", "stack"})
_PORT_NUMBER = re.compile(r"[0-9]+")
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_PLATFORM_PART = re.compile(r"[A-Za-z0-9_.-]+")
_KNOWN_OS = frozenset({"aix", "android", "darwin", "dragonfly", "freebsd", "hurd", "illumos", "ios", "js", "linux",
                       "nacl", "netbsd", "openbsd", "plan9", "solaris", "windows", "zos", "macos"})
_KNOWN_ARCH = frozenset({"386", "amd64", "amd64p32", "arm", "armbe", "arm64", "arm64be", "ppc64", "ppc64le",
                         "loong64", "mips", "mipsle", "mips64", "mips64le", "mips64p32", "mips64p32le", "ppc",
                         "riscv", "riscv64", "s390", "s390x", "sparc", "sparc64", "wasm", "x86_64", "x86-64",
                         "aarch64", "armhf", "armel", "i386"})


def refuse(message: str) -> errors.InvalidArgument:
    return errors.InvalidArgument(message)


# -- container create ----------------------------------------------------------------------


def container_create(config: dict[str, Any], host: dict[str, Any]) -> list[str]:
    """Refuse what dockerd refuses at ``POST /containers/create``; returns dockerd's warnings."""
    exposed_ports(config.get("ExposedPorts") or {})
    port_keys(host.get("PortBindings") or {})
    _net_mode(config, host)
    _isolation(host)
    _qos(host)
    _realtime_and_shares(host)
    _container_config(config)
    _host_config(host)
    if len((config.get("Hostname") or "").encode()) > MAX_HOSTNAME:
        raise refuse(f'hostname "{config["Hostname"]}" is too long (maximum {MAX_HOSTNAME} bytes)')
    warnings = resources(host, update=False)
    _modes(host)
    _ulimits(host.get("Ulimits") or [])
    return warnings


def exposed_ports(ports: dict[str, Any]) -> None:
    for key in ports:
        if key:
            _parse_port(key)


def port_keys(bindings: dict[str, Any]) -> None:
    """``PortBindings``: keys are ``port[/proto]`` (decoded as dockerd's JSON does: "invalid JSON: ..."),
    port 0 refused; ``HostPort`` a port or a range; ``HostIp`` an address."""
    for key, binds in bindings.items():
        number = _parse_port(key) if key else 0
        if number == 0:
            shown = f"{number}/{(key.partition('/')[2] or 'tcp').lower()}" if key else "invalid port"
            raise refuse(f'invalid port specification: "{shown}"')
        for b in binds or []:
            if not isinstance(b, dict):
                continue
            host_ip = b.get("HostIp") or ""
            if host_ip:
                try:
                    ipaddress.ip_address(host_ip)
                except ValueError:
                    raise refuse(f'invalid JSON: ParseAddr("{host_ip}"): unable to parse IP') from None
            host_port = b.get("HostPort") or ""
            if host_port and not _port_range_ok(host_port):
                raise refuse(f'invalid port specification: "{host_port}"')


def _port_number(text: str) -> tuple[int, str]:
    """(number, "") or (0, Go's strconv error) for a port number."""
    if not text:
        return 0, "value is empty"
    if not _PORT_NUMBER.fullmatch(text):
        return 0, "invalid syntax"
    n = int(text)
    return (n, "") if n <= 65535 else (0, "value out of range")


def _parse_port(key: str) -> int:
    port = key.partition("/")[0]
    n, err = _port_number(port)
    if err:
        raise refuse(f"invalid JSON: invalid port '{port}': {err}")
    return n


def _port_range_ok(text: str) -> bool:
    span = text.partition("/")[0]
    start, dash, end = span.partition("-")
    first, err = _port_number(start)
    if err:
        return False
    if not dash or start == end:
        return True
    last, err = _port_number(end)
    return not err and last >= first


def _net_mode(config: dict[str, Any], host: dict[str, Any]) -> None:
    mode = host.get("NetworkMode") or ""
    if mode == "container" or mode.startswith("container:"):
        if not mode.partition(":")[2]:
            raise refuse("invalid network mode: invalid container format container:<name|id>")
        conflicts = (
            (config.get("Hostname"), "conflicting options: hostname and the network mode"),
            (host.get("Links"), "conflicting options: container type network can't be used with links. "
                                "This would result in undefined behavior"),
            (host.get("Dns"), "conflicting options: dns and the network mode"),
            (host.get("ExtraHosts"), "conflicting options: custom host-to-IP mapping and the network mode"),
            (host.get("PortBindings") or host.get("PublishAllPorts"),
             "conflicting options: port publishing and the container type network mode"),
            (config.get("ExposedPorts"), "conflicting options: port exposing and the container type network mode"),
        )
        for present, message in conflicts:
            if present:
                raise refuse(message)
    if host.get("UTSMode") == "host" and config.get("Hostname"):
        raise refuse("conflicting options: hostname and the UTS mode")
    if mode == "host" and host.get("Links"):
        raise refuse("conflicting options: host type networking can't be used with links. "
                     "This would result in undefined behavior")


def _isolation(host: dict[str, Any]) -> None:
    isolation = host.get("Isolation") or ""
    if isolation.lower() not in ("", "default"):
        raise refuse(f"invalid isolation ({isolation}): linux only supports 'default'")


def _qos(host: dict[str, Any]) -> None:
    if host.get("IOMaximumBandwidth"):
        raise refuse("invalid option: QoS maximum bandwidth configuration is not supported on linux")
    if host.get("IOMaximumIOps"):
        raise refuse("invalid option: QoS maximum IOPs configuration is not supported on linux")


def _realtime_and_shares(host: dict[str, Any]) -> None:
    period, runtime = host.get("CpuRealtimePeriod") or 0, host.get("CpuRealtimeRuntime") or 0
    if (period or runtime) and not sysinfo().cpu_realtime:
        raise refuse("kernel does not support CPU real-time scheduler")
    if period and runtime and runtime > period:
        raise refuse("cpu real-time runtime cannot be higher than cpu real-time period")
    shares = host.get("CpuShares") or 0
    if shares < 0:
        raise refuse(f"invalid CPU shares ({shares}): value must be a positive integer")


def _container_config(config: dict[str, Any]) -> None:
    wd = config.get("WorkingDir") or ""
    if wd:
        if not wd.startswith("/"):
            raise refuse(f"the working directory '{wd}' is invalid, it needs to be an absolute path")
        config["WorkingDir"] = posixpath.normpath(wd).replace("//", "/")
    if config.get("StopSignal"):
        signal_number(config["StopSignal"])
    for env in config.get("Env") or []:
        if not env.partition("=")[0]:
            raise refuse(f"invalid environment variable: {env}")
    _healthcheck(config.get("Healthcheck") or {})


def _healthcheck(hc: dict[str, Any]) -> None:
    for field in ("Interval", "Timeout"):
        if hc.get(field) and hc[field] < MIN_DURATION_NS:
            raise refuse(f"{field} in Healthcheck cannot be less than 1ms")
    if (hc.get("Retries") or 0) < 0:
        raise refuse("Retries in Healthcheck cannot be negative")
    for field in ("StartPeriod", "StartInterval"):
        if hc.get(field) and hc[field] < MIN_DURATION_NS:
            raise refuse(f"{field} in Healthcheck cannot be less than 1ms")


def _host_config(host: dict[str, Any]) -> None:
    policy = host.get("RestartPolicy") or {}
    if host.get("AutoRemove") and (policy.get("Name") or "no") != "no":
        raise refuse("can't create 'AutoRemove' container with restart policy")
    for entry in host.get("ExtraHosts") or []:
        extra_host(entry)
    restart_policy(policy)
    for field in ("CapAdd", "CapDrop"):
        for cap in host.get(field) or []:
            name = cap.upper() if cap.upper().startswith("CAP_") else f"CAP_{cap.upper()}"
            if name != "CAP_ALL" and name not in CAPABILITIES:
                raise refuse(f'invalid {field}: unknown capability: "{name}"')
    if "" in (host.get("Annotations") or {}):
        raise refuse("invalid Annotations: the empty string is not permitted as an annotation key")
    _device_requests(host.get("DeviceRequests") or [])


def _device_requests(requests: list[dict[str, Any]]) -> None:
    """No device driver (NVIDIA's, CDI) is registered here: every request is one dockerd could not
    serve either; refused with its text now rather than at start."""
    for req in requests:
        if req.get("Count") and req.get("DeviceIDs"):
            raise refuse("cannot set both Count and DeviceIDs on device request")
        caps = " ".join("[" + " ".join(c) + "]" for c in req.get("Capabilities") or [])
        raise refuse(f'could not select device driver "{req.get("Driver") or ""}" with capabilities: [{caps}]')


def extra_host(entry: str) -> None:
    name, colon, ip = entry.partition(":")
    if not colon or not name:
        raise refuse(f'bad format for add-host: "{entry}"')
    if ip == "host-gateway":
        return
    try:
        ipaddress.ip_address(ip.strip().removeprefix("[").removesuffix("]"))
    except ValueError:
        raise refuse(f'invalid IP address in add-host: "{ip}"') from None


def restart_policy(policy: dict[str, Any]) -> None:
    name, retries = policy.get("Name") or "", policy.get("MaximumRetryCount") or 0
    if name in ("always", "unless-stopped", "no"):
        if retries:
            raise refuse("invalid restart policy: maximum retry count can only be used with 'on-failure'"
                         + (" and cannot be negative" if retries < 0 else ""))
    elif name == "on-failure":
        if retries < 0:
            raise refuse("invalid restart policy: maximum retry count cannot be negative")
    elif name:
        raise refuse(f"invalid restart policy: unknown policy '{name}'; use one of 'no', 'always', 'on-failure', "
                     "or 'unless-stopped'")


def resources(r: dict[str, Any], update: bool) -> list[str]:
    """dockerd's ``verifyPlatformContainerResources`` (create and update)."""
    warnings: list[str] = []
    if r.get("MemorySwappiness") == -1:
        del r["MemorySwappiness"]  # -1: unset, as older clients send it
    memory, swap, reservation = r.get("Memory") or 0, r.get("MemorySwap") or 0, r.get("MemoryReservation") or 0
    if memory and memory < MIN_MEMORY:
        raise refuse("Minimum memory limit allowed is 6MB")
    if memory > 0 and swap > 0 and swap < memory:
        raise refuse("Minimum memoryswap limit should be larger than memory limit, see usage")
    if memory == 0 and swap > 0 and not update:
        raise refuse("You should always set the Memory limit when using Memoryswap limit, see usage")
    swappiness = r.get("MemorySwappiness")
    if swappiness is not None and not 0 <= swappiness <= 100:
        raise refuse(f"Invalid value: {swappiness}, valid memory swappiness range is 0-100")
    if 0 < reservation < MIN_MEMORY:
        raise refuse("Minimum memory reservation allowed is 6MB")
    if memory > 0 and reservation > 0 and memory < reservation:
        raise refuse("Minimum memory limit can not be less than memory reservation limit, see usage")
    if r.get("OomKillDisable") and not memory:
        warnings.append("OOM killer is disabled for the container, but no memory limit is set, this can result in "
                        "the system running out of resources.")
    _cpu(r, warnings)
    _cpuset(r.get("CpusetCpus") or "", sysinfo().cpus, "cpus")
    _cpuset(r.get("CpusetMems") or "", sysinfo().mems, "mems")
    weight = r.get("BlkioWeight") or 0
    if weight > 0 and not 10 <= weight <= 1000:
        raise refuse("Range of blkio weight is from 10 to 1000")
    if r.get("IOMaximumBandwidth") or r.get("IOMaximumIOps"):
        raise refuse("Invalid QoS settings: linux does not support Maximum IO Bandwidth or Maximum IO IOps")
    if update and (r.get("CpuShares") or 0) < 0:
        raise refuse(f"invalid CPU shares ({r['CpuShares']}): value must be a positive integer")
    return warnings


def _cpu(r: dict[str, Any], warnings: list[str]) -> None:
    nano, period, quota = r.get("NanoCpus") or 0, r.get("CpuPeriod") or 0, r.get("CpuQuota") or 0
    if nano > 0 and period > 0:
        raise refuse("Conflicting options: Nano CPUs and CPU Period cannot both be set")
    if nano > 0 and quota > 0:
        raise refuse("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
    ncpu = sysinfo().ncpu
    if nano and not 0 < nano <= ncpu * 1_000_000_000:
        raise refuse(f"range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available")
    if period and not 1000 <= period <= 1_000_000:
        raise refuse("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)")
    if 0 < quota < 1000:
        raise refuse("CPU cfs quota can not be less than 1ms (i.e. 1000)")
    if (r.get("CpuPercent") or 0) > 0:
        warnings.append("linux does not support CPU percent. Percent discarded.")
        r["CpuPercent"] = 0


def _cpuset(requested: str, available: frozenset[int], what: str) -> None:
    if not requested:
        return
    limit = max([MAX_CPUSET, *available])
    try:
        wanted = parse_uint_list(requested, limit)
    except ValueError as err:
        raise refuse(f"Invalid value {requested} for cpuset {what}: {err}") from None
    if not wanted <= available:
        shown = format_uint_list(available)
        label = "CPUs" if what == "cpus" else "memory nodes"
        raise refuse(f"Requested {label} are not available - requested {requested}, available: {shown}")


def parse_uint_list(text: str, maximum: int) -> frozenset[int]:
    """``0-2,4`` → {0, 1, 2, 4}, as dockerd's sysinfo parses cpuset lists."""
    out: set[int] = set()
    invalid = ValueError(f"invalid format: {text}")
    for part in text.split(","):
        lo, dash, hi = part.partition("-")
        if not lo.isdigit() or (dash and not hi.isdigit()):
            raise invalid
        first, last = int(lo), int(hi) if dash else int(lo)
        if last < first:
            raise invalid
        if last > maximum:
            raise ValueError(f"value of out range, maximum is {maximum}")
        out.update(range(first, last + 1))
    return frozenset(out)


def format_uint_list(values: frozenset[int]) -> str:
    runs: list[str] = []
    for v in sorted(values):
        if runs and runs[-1].rpartition("-")[2] == str(v - 1):
            runs[-1] = f"{runs[-1].partition('-')[0]}-{v}"
        else:
            runs.append(str(v))
    return ",".join(runs)


def _modes(host: dict[str, Any]) -> None:
    ipc = host.get("IpcMode") or ""
    if ipc not in ("", "none", "private", "host", "shareable") and not ipc.startswith("container:"):
        raise refuse(f"invalid IPC mode: {ipc}")
    pid = host.get("PidMode") or ""
    if pid not in ("", "host") and not (pid.startswith("container:") and pid.partition(":")[2]):
        raise refuse(f"invalid PID mode: {pid}")
    if (host.get("ShmSize") or 0) < 0:
        raise refuse("SHM size can not be less than 0")
    uts = host.get("UTSMode") or ""
    if uts not in ("", "host"):
        raise refuse(f"invalid UTS mode: {uts}")
    oom = host.get("OomScoreAdj") or 0
    if not -1000 <= oom <= 1000:
        raise refuse(f"Invalid value {oom}, range for oom score adj is [-1000, 1000]")
    for dest in host.get("Tmpfs") or {}:
        if not dest.startswith("/"):
            raise refuse(f'invalid mount config for type "tmpfs": invalid mount path: \'{dest}\' mount path must '
                         'be absolute')
        if posixpath.normpath(dest).replace("//", "/") == "/":
            raise refuse("invalid specification: destination can't be '/'")
    cgroupns = host.get("CgroupnsMode") or ""
    if cgroupns not in ("", "host", "private"):
        raise refuse(f"invalid cgroup namespace mode: {cgroupns}")


def _ulimits(ulimits: list[dict[str, Any]]) -> None:
    for u in ulimits:
        name = u.get("Name") or ""
        if name not in ULIMITS:
            raise refuse(f"invalid ulimit type: {name}")
        soft, hard = u.get("Soft") or 0, u.get("Hard") or 0
        if _rlim(soft) > _rlim(hard):
            raise refuse(f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}")


def _rlim(v: int) -> float:
    return float("inf") if v < 0 else v  # -1 is unlimited (RLIM_INFINITY)


# -- container update, kill, rename, attach, exec ---------------------------------------------


def container_update(body: dict[str, Any], current_host: HostConfig) -> list[str]:
    """``POST /containers/{id}/update``'s body checked against the container's ``HostConfig``; its warnings."""
    warnings = resources(body, update=True)
    policy = body.get("RestartPolicy") or {}
    restart_policy(policy)
    if policy.get("Name") and current_host.auto_remove and policy["Name"] != "no":
        raise errors.Conflict("Restart policy cannot be updated because AutoRemove is enabled for the container")
    return warnings


def _signals() -> dict[str, int]:
    names = {s.name.removeprefix("SIG"): int(s) for s in _signal.Signals
             if s.name not in ("SIGRTMIN", "SIGRTMAX")}
    rtmin, rtmax = int(_signal.SIGRTMIN), int(_signal.SIGRTMAX)
    names["RTMIN"], names["RTMAX"] = rtmin, rtmax
    for i in range(1, 16):
        names[f"RTMIN+{i}"] = rtmin + i
        names[f"RTMAX-{i}"] = rtmax - i
    return names


SIGNALS = _signals()


def signal_number(raw: str | int) -> int:
    """A signal name (``TERM``, ``SIGTERM``) or number, as dockerd parses and checks it."""
    text = str(raw)
    if re.fullmatch(r"[+-]?[0-9]+", text):
        number = int(text)
        if number == 0:
            raise refuse(f"invalid signal: {text}")
    else:
        number = SIGNALS.get(text.upper().removeprefix("SIG"), -1)
        if number < 0:
            raise refuse(f"invalid signal: {text}")
    if number not in SIGNALS.values():
        raise refuse(f"the linux daemon does not support signal {number}")
    return number


def detach_keys(keys: str, what: str = "detach") -> None:
    """``ctrl-p,ctrl-q``: every key one character or ``ctrl-<a-z@[\\]^_>`` (moby/term's ToBytes)."""
    try:
        detachkeys.parse(keys)
    except errors.InvalidArgument:
        raise refuse(f"Invalid {what} keys ({keys}) provided") from None


def checkpoint(checkpoint_id: str) -> None:
    """``start?checkpoint=``: dockerd's validateCheckpointID, then its answer without experimental mode
    (there are no checkpoints here)."""
    if not checkpoint_id:
        return
    if not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+", checkpoint_id) or checkpoint_id.endswith("."):
        raise refuse(f'invalid checkpoint ID "{checkpoint_id}", only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed')
    raise refuse("checkpoint is only supported in experimental mode")


def resize(query: Mapping[str, str]) -> tuple[int, int]:
    """``?h=&w=`` of a container or exec resize as dockerd's httputils.Uint32Value reads them, the
    height first: (height, width)."""
    dims = []
    for key, what in (("h", "height"), ("w", "width")):
        text = query.get(key, "")
        if not re.fullmatch(r"[+-]?[0-9]+", text):
            raise refuse(f'invalid resize {what} "{text}": invalid syntax')
        if not 0 <= int(text) <= 0xFFFFFFFF:
            raise refuse(f'invalid resize {what} "{text}": value out of range')
        dims.append(int(text))
    return dims[0], dims[1]


def exec_create(body: dict[str, Any]) -> None:
    if body.get("DetachKeys"):
        detach_keys(body["DetachKeys"], "escape")
    for env in body.get("Env") or []:
        if not env.partition("=")[0]:
            raise refuse(f"invalid environment variable: {env}")


def rename(current: str, new: str) -> None:
    if not new.strip().lstrip("/"):
        raise refuse("Neither old nor new names may be empty")
    if current.lstrip("/") == new.strip().lstrip("/"):
        raise refuse("Renaming a container with the same name as its current name")


# -- platform, images, networks, volumes, archives ------------------------------------------------


def platform(text: str) -> tuple[str, str, str]:
    """``os[/arch[/variant]]`` as containerd's ``platforms.Parse``: (os, architecture, variant)."""
    if "*" in text:
        raise refuse(f'"{text}": wildcards not yet supported: invalid argument')
    parts = text.split("/", 3)
    os_part = parts[0].partition("(")[0]
    if not _PLATFORM_PART.fullmatch(os_part):
        raise refuse(f'"{parts[0]}" is an invalid OS component of "{text}": OSAndVersion specifier component must '
                     'match "^([A-Za-z0-9_-]+)(?:\\(([A-Za-z0-9_.-]*)((?:\\+[A-Za-z0-9_.-]+)*)\\))?$": invalid argument')
    for part in parts[1:]:
        if not _PLATFORM_PART.fullmatch(part):
            raise refuse(f'"{part}" is an invalid component of "{text}": platform specifier component must match '
                         '"^[A-Za-z0-9_.-]+$": invalid argument')
    if len(parts) == 1:
        word = os_part.lower()
        if word in _KNOWN_OS:
            return word, _host_arch(), ""
        if word in _KNOWN_ARCH:
            return "linux", _normal_arch(word), ""
        raise refuse(f'"{text}": unknown operating system or architecture: invalid argument')
    if len(parts) > 3:
        raise refuse(f'"{text}": cannot parse platform specifier: invalid argument')
    return os_part.lower(), _normal_arch(parts[1].lower()), parts[2].lower() if len(parts) == 3 else ""


def _normal_arch(arch: str) -> str:
    return {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "i386": "386", "armhf": "arm",
            "armel": "arm"}.get(arch, arch)


def _host_arch() -> str:
    return _normal_arch(os.uname().machine.lower())


def tag(repo: str, tag_name: str) -> None:
    """``POST /images/{name}/tag``: dockerd's checks before the reference is parsed."""
    if tag_name and not _TAG.fullmatch(tag_name):
        raise refuse("invalid tag format")
    if repo in ("sha256", "library/sha256", "docker.io/library/sha256"):
        raise refuse("refusing to create an ambiguous tag using digest algorithm as name")
    if "@" in repo:
        raise refuse("cannot import digest reference")


def network_options(options: dict[str, str]) -> None:
    """The bridge driver's options dockerd checks at create."""
    label = "com.docker.network.driver.mtu"
    if label in options:
        text = options[label]
        if not re.fullmatch(r"[+-]?[0-9]+", text):
            raise refuse(f'failed to parse {label} value: {text} (strconv.Atoi: parsing "{text}": invalid syntax)')
        if int(text) < 0:
            raise refuse(f"invalid MTU number: {int(text)}")


def container_path(path: str) -> None:
    """A path inside a container, as a query parameter (``archive?path=``)."""
    if not path:
        raise refuse("path is required")  # dockerd: "Could not find the file ..." for an empty path
    if "\x00" in path:
        raise refuse("invalid path: contains a NUL byte")


# -- what the host offers (dockerd's sysinfo) -----------------------------------------------------


class SysInfo:
    def __init__(self) -> None:
        self.ncpu = len(os.sched_getaffinity(0)) or 1
        self.cpus = self._cpuset("cpus") or frozenset(range(os.cpu_count() or 1))
        self.mems = self._cpuset("mems") or frozenset({0})
        self.cpu_realtime = os.path.exists("/sys/fs/cgroup/cpu/cpu.rt_runtime_us") or os.path.exists(
            "/sys/fs/cgroup/cpu,cpuacct/cpu.rt_runtime_us")
        self.blkio_weight = self._blkio_weight()

    @staticmethod
    def _blkio_weight(root: str = "/sys/fs/cgroup") -> bool:
        """dockerd's sysInfo.BlkioWeight: v1 needs CFQ or BFQ (``blkio.weight``/``blkio.bfq.weight``), v2 ``io``."""
        controllers = os.path.join(root, "cgroup.controllers")
        if os.path.exists(controllers):
            with open(controllers) as f:
                return "io" in f.read().split()
        blkio = os.path.join(root, "blkio")
        return any(os.path.exists(os.path.join(blkio, f)) for f in ("blkio.weight", "blkio.bfq.weight"))

    @staticmethod
    def _cpuset(what: str) -> frozenset[int]:
        for path in (f"/sys/fs/cgroup/cpuset/cpuset.effective_{what}", f"/sys/fs/cgroup/cpuset/cpuset.{what}",
                     f"/sys/fs/cgroup/cpuset.{what}.effective"):
            try:
                with open(path) as f:
                    text = f.read().strip()
            except OSError:
                continue
            if text:
                try:
                    return parse_uint_list(text, 1 << 20)
                except ValueError:
                    continue
        return frozenset()


@lru_cache(maxsize=1)
def sysinfo() -> SysInfo:
    return SysInfo()
