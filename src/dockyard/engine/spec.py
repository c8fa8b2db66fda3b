"""From Docker's container Config + HostConfig and the image config to an OCI runtime spec.

Pure data, so the mapping of every ``docker run`` flag is unit-testable; the only I/O reads the
host facts Docker reads too (the capabilities the kernel knows, /dev for ``--privileged``).
"""

from __future__ import annotations

import glob
import json
import os
import stat
from collections.abc import Callable, Mapping
from typing import Any

from dockyard import errors
from dockyard.engine import resources as res
from dockyard.engine.container import Container
from dockyard.oci import sysctl
from dockyard.oci.capabilities import CAPABILITIES
from dockyard.oci.runtime_spec import DEFAULT_CAPABILITIES, DEFAULT_PATH, READONLY_PATHS, default_spec, is_cgroup_v2
from dockyard.oci.seccomp_default import default_profile


def docker_masked_paths() -> list[str]:
    """dockerd's default masked paths, in its order (oci.DefaultSpec: moby's list, then each CPU's
    ``thermal_throttle`` directory that exists)."""
    fixed = ["/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
             "/proc/sched_debug", "/proc/scsi", "/proc/timer_list", "/proc/timer_stats",
             "/sys/devices/virtual/powercap", "/sys/firmware"]
    cpus = sorted(glob.glob("/sys/devices/system/cpu/cpu[0-9]*/thermal_throttle"),
                  key=lambda p: int(p.split("/")[5].removeprefix("cpu")))
    return fixed + cpus


def merge_env(image_env: list[str], env: list[str]) -> list[str]:
    """Container variables override the image's by name; order of first appearance is kept."""
    out: dict[str, str] = {}
    for item in [*image_env, *env]:
        key = item.split("=", 1)[0]
        out[key] = item
    return list(out.values())


def command(config: dict[str, Any], image_config: dict[str, Any]) -> list[str]:
    """Docker's rule: an Entrypoint given at run time drops the image's Cmd."""
    entrypoint = config.get("Entrypoint")
    cmd = config.get("Cmd")
    if entrypoint is None:
        entrypoint = image_config.get("Entrypoint") or []
        if not cmd:
            cmd = image_config.get("Cmd") or []
    args = [*(entrypoint or []), *(cmd or [])]
    if not args:
        raise errors.InvalidArgument("no command specified")
    return args


def user_ids(user: str) -> tuple[int, int]:
    """Numeric ``uid[:gid]`` (and ``root``); names need the image's /etc/passwd, resolved later."""
    if not user or user == "root":
        return 0, 0
    name, sep, group = user.partition(":")
    try:
        uid = 0 if name in ("", "root") else int(name)  # ":7777" is root's uid with gid 7777
        gid = (0 if group == "root" else int(group)) if group else (0 if sep else uid)
    except ValueError as err:
        raise errors.InvalidArgument(f"unable to find user {user}: only numeric users are supported yet") from err
    return uid, gid


def _cap(name: str) -> str:
    name = name.upper()
    return name if name.startswith("CAP_") else f"CAP_{name}"


def capabilities(default: list[str], add: list[str], drop: list[str]) -> set[str]:
    """Docker's rule: drops apply first (``ALL`` empties the set), then adds (``ALL`` grants every one)."""
    dropped = {_cap(c) for c in drop}
    caps = set() if "CAP_ALL" in dropped else set(default) - dropped
    for name in (_cap(c) for c in add):
        if name == "CAP_ALL":
            caps |= set(CAPABILITIES)
        elif name not in CAPABILITIES:
            raise errors.InvalidArgument(f"unknown capability: {name!r}")
        else:
            caps.add(name)
    return caps


def build(id: str, config: dict[str, Any], host_config: dict[str, Any], image_config: dict[str, Any],
          cgroup_parent: str, lookup: Lookup | None = None) -> dict[str, Any]:
    """The spec of a container whose HostConfig went through ``adapt``; ``lookup`` finds the
    containers whose namespaces ``--pid``/``--ipc container:<id>`` join."""
    hostname = config.get("Hostname") or id[:12]
    tty = bool(config.get("Tty"))
    spec = default_spec(command(config, image_config), hostname=hostname, terminal=tty)
    if config.get("Domainname"):
        spec["domainname"] = config["Domainname"]  # the UTS namespace's NIS domain name, as dockerd sets it
    process = spec["process"]
    env = merge_env([f"PATH={DEFAULT_PATH}", f"HOSTNAME={hostname}", *(image_config.get("Env") or [])],
                    config.get("Env") or [])
    if tty and not any(e.startswith("TERM=") for e in env):
        env.append("TERM=xterm")
    process["env"] = env
    console = host_config.get("ConsoleSize") or [0, 0]
    if tty and len(console) == 2 and console[0] and console[1]:  # the client's size from the first byte
        process["consoleSize"] = {"height": int(console[0]), "width": int(console[1])}
    process["cwd"] = config.get("WorkingDir") or image_config.get("WorkingDir") or "/"
    user = config.get("User") or image_config.get("User") or ""
    # Names (and a number's groups) come from the container's /etc files: the engine's create
    # resolves them from the snapshot (engine/users.py) and replaces this numeric first guess.
    uid, gid = user_ids(user) if all(p.isdigit() or p in ("", "root") for p in user.split(":")) else (0, 0)
    process["user"] = {"uid": uid, "gid": gid}
    extra = [int(g) for g in host_config.get("GroupAdd") or [] if str(g).isdigit()]
    if extra:
        process["user"]["additionalGids"] = extra
    # Docker sets no rlimits unless asked: the container inherits the daemon's.
    process["rlimits"] = [{"type": f"RLIMIT_{u['Name'].upper()}", "soft": int(u["Soft"]), "hard": int(u["Hard"])}
                          for u in host_config.get("Ulimits") or []]
    process["capabilities"] = process_capabilities(host_config)
    spec["root"]["readonly"] = bool(host_config.get("ReadonlyRootfs"))
    linux = spec["linux"]
    linux["cgroupsPath"] = f"/{(host_config.get('CgroupParent') or cgroup_parent).strip('/')}/{id}"
    linux["resources"] = {**res.linux_resources(host_config), "devices": linux["resources"]["devices"]}
    nodes, rules = res.devices(host_config)
    if nodes:
        linux["devices"] = [*(linux.get("devices") or []), *nodes]
    linux["resources"]["devices"] += rules
    if host_config.get("OomScoreAdj"):
        process["oomScoreAdj"] = int(host_config["OomScoreAdj"])
    namespaces(spec, host_config, lookup)
    network_mode = host_config.get("NetworkMode") or "default"
    if network_mode == "host":
        linux["namespaces"] = [ns for ns in linux["namespaces"] if ns["type"] != "network"]
    if host_config.get("Sysctls"):
        linux["sysctl"] = dict(host_config["Sysctls"])
        refused = sysctl.refusals(linux["sysctl"], linux["namespaces"])
        if refused:
            raise errors.InvalidArgument("; ".join(refused))
    if network_mode != "host" and not network_mode.startswith("container:"):
        linux["sysctl"] = {**network_sysctls(), **(linux.get("sysctl") or {})}
    security(spec, host_config)
    if host_config.get("Init"):
        with_init(spec)
    return spec


Lookup = Callable[[str], Container]  # the engine's containers by reference


def adapt(host_config: dict[str, Any], lookup: Lookup | None = None,
          cgroup_v2: bool | None = None) -> dict[str, Any]:
    """dockerd's adaptContainerSettings: the defaults a created container's HostConfig shows (and
    runs with). Swap is twice the memory unless given (-1: unlimited), /dev/shm 64 MiB, IPC
    private, the cgroup namespace private on v2 and the host's on v1, CPU shares clamped to the
    kernel's range, ``container:<name>`` modes by ID."""
    host = dict(host_config)
    if (host.get("Memory") or 0) > 0 and not host.get("MemorySwap"):
        host["MemorySwap"] = int(host["Memory"]) * 2
    if not host.get("ShmSize"):
        host["ShmSize"] = res.DEFAULT_SHM_SIZE
    if not host.get("IpcMode"):
        host["IpcMode"] = "private"
    if not host.get("CgroupnsMode"):
        host["CgroupnsMode"] = "private" if (is_cgroup_v2() if cgroup_v2 is None else cgroup_v2) else "host"
    if host.get("OomKillDisable") is None:
        host["OomKillDisable"] = False
    if not host.get("Privileged"):  # the default masked and read-only /proc paths, shown by inspect
        confined = "systempaths=unconfined" not in (host.get("SecurityOpt") or [])
        if host.get("MaskedPaths") is None:
            host["MaskedPaths"] = docker_masked_paths() if confined else []
        if host.get("ReadonlyPaths") is None:
            host["ReadonlyPaths"] = list(READONLY_PATHS) if confined else []
    shares = host.get("CpuShares") or 0
    if shares:
        host["CpuShares"] = min(max(shares, res.MIN_CPU_SHARES), res.MAX_CPU_SHARES)
    if lookup is not None:
        for key in ("PidMode", "IpcMode"):
            mode = host.get(key) or ""
            if mode.startswith("container:"):
                host[key] = f"container:{lookup(mode.partition(':')[2]).id}"
    return host


def _existing(lookup: Lookup | None, mode: str, what: str) -> Container:
    if lookup is None:
        raise errors.InvalidArgument(f"cannot join {what} of another container here")
    return lookup(mode.partition(":")[2])


def _donor(lookup: Lookup | None, mode: str, what: str) -> Container:
    other = _existing(lookup, mode, what)
    if not other.state.running or not other.state.pid:
        raise errors.Conflict(f"cannot join {what} of a non running container: {other.id}")
    return other


def _without(spec: dict[str, Any], ns_type: str) -> None:
    spec["linux"]["namespaces"] = [ns for ns in spec["linux"]["namespaces"] if ns["type"] != ns_type]


def _join(spec: dict[str, Any], ns_type: str, pid: int) -> bool:
    joined = False
    for ns in spec["linux"]["namespaces"]:
        if ns["type"] == ns_type:
            ns["path"] = f"/proc/{pid}/ns/{ns_type}"
            joined = True
    return joined


def join_donors(spec: dict[str, Any], host: Mapping[str, Any], lookup: Lookup) -> bool:
    """At start, as dockerd: the namespace paths of the running containers whose PID or IPC
    namespace ``--pid``/``--ipc container:<id>`` joins; False if the spec joins none."""
    joined = False
    pid_mode = host.get("PidMode") or ""
    if pid_mode.startswith("container:"):
        donor = lookup(pid_mode.partition(":")[2])
        if not donor.state.running or not donor.state.pid:
            raise errors.Internal(f"failed to join PID namespace: container {donor.id} is not running")
        joined = _join(spec, "pid", donor.state.pid)
    ipc_mode = host.get("IpcMode") or ""
    if ipc_mode.startswith("container:"):
        donor = _donor(lookup, ipc_mode, "IPC")
        joined = _join(spec, "ipc", donor.state.pid) or joined  # none if the donor's IPC is the host's
    return joined


def namespaces(spec: dict[str, Any], host: dict[str, Any], lookup: Lookup | None) -> None:
    """``--pid``, ``--ipc``, ``--uts``, ``--cgroupns`` and ``--shm-size``, as moby's WithNamespaces and
    WithMounts: ``host`` shares the host's namespace, ``container:<id>`` joins an existing one's. The
    donor must exist when the container is created; its namespace paths are set when it starts
    (``join_donors``), and an IPC donor must then be ``shareable`` or the host's (engine/shm.py)."""
    pid_mode = host.get("PidMode") or ""
    if pid_mode == "host":
        _without(spec, "pid")
    elif pid_mode.startswith("container:"):
        _existing(lookup, pid_mode, "PID namespace")
    ipc_mode = host.get("IpcMode") or "private"
    if ipc_mode.startswith("container:"):
        donor = _existing(lookup, ipc_mode, "IPC")
        donor_mode = donor.host_config.ipc_mode or ""
        if donor_mode == "host":
            ipc_mode = "host"
    shm = next((m for m in spec["mounts"] if m["destination"] == "/dev/shm"), None)
    if shm is not None:
        if ipc_mode == "host":
            shm.update(type="bind", source="/dev/shm", options=["rbind", "nosuid", "noexec", "nodev"])
        elif ipc_mode == "none":
            spec["mounts"].remove(shm)
        else:
            size = int(host.get("ShmSize") or res.DEFAULT_SHM_SIZE)
            shm["options"] = [*(o for o in shm["options"] if not o.startswith("size=")), f"size={size}"]
    if ipc_mode == "host":
        _without(spec, "ipc")
    if (host.get("UTSMode") or "") == "host":
        _without(spec, "uts")
        spec["hostname"] = ""  # the host's: the runtime sets none
        spec.pop("domainname", None)
    cgroupns = host.get("CgroupnsMode") or ""
    has_cgroupns = any(ns["type"] == "cgroup" for ns in spec["linux"]["namespaces"])
    if cgroupns == "host" and has_cgroupns:
        _without(spec, "cgroup")
    elif cgroupns == "private" and not has_cgroupns:
        spec["linux"]["namespaces"].append({"type": "cgroup"})


INIT_PATH = "/sbin/docker-init"
INIT_BINARY = "/usr/bin/tini-static"  # Debian's tini: static, so it runs in any image


def with_init(spec: dict[str, Any], binary: str = INIT_BINARY) -> None:
    """``--init``: tini as PID 1 (bind-mounted read-only at /sbin/docker-init), the command its child."""
    spec["process"]["args"] = [INIT_PATH, "--", *spec["process"]["args"]]
    spec["mounts"].append({"destination": INIT_PATH, "type": "bind", "source": binary,
                           "options": ["bind", "ro", "nosuid", "nodev"]})


def _bounding_set() -> int:
    """Ours: a container can get no capability the daemon's bounding set lacks (nested/sandboxed hosts)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapBnd:"):
                    return int(line.split()[1], 16)
    except (OSError, ValueError):
        pass
    return (1 << 64) - 1


def process_capabilities(host_config: Mapping[str, Any]) -> dict[str, list[str]]:
    """Docker's: every capability for ``--privileged`` (CapAdd/CapDrop ignored), else the defaults
    with CapDrop then CapAdd; bounding = effective = permitted, no inheritable or ambient."""
    if host_config.get("Privileged"):
        caps = set(known_capabilities())
    else:
        caps = capabilities(list(DEFAULT_CAPABILITIES), host_config.get("CapAdd") or [],
                            host_config.get("CapDrop") or [])
    return {k: sorted(caps) for k in ("bounding", "effective", "permitted")}


def known_capabilities() -> list[str]:
    """The capabilities this kernel knows (``--privileged`` grants those, as Docker does)."""
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            last = int(f.read())
    except (OSError, ValueError):
        return list(CAPABILITIES)
    bound = _bounding_set()
    return [name for name, number in CAPABILITIES.items() if number <= last and (bound >> number) & 1]


# /dev entries a privileged container does not get from the host (containerd's HostDevices, runc's
# setupPtmx): its own devpts, shm, mqueue and console; ptmx is the symlink into its devpts
_NOT_HOST_DEVICES = ("/dev/pts", "/dev/shm", "/dev/mqueue", "/dev/fd", "/dev/console", "/dev/ptmx", "/dev/.lxc",
                     "/dev/.lxd-mounts", "/dev/.udev")


def host_devices(root: str = "/dev") -> list[dict[str, Any]]:
    """Every character and block device under ``root``, as OCI ``linux.devices`` entries."""
    out: list[dict[str, Any]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if os.path.join(dirpath, d) not in _NOT_HOST_DEVICES]
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            if path in _NOT_HOST_DEVICES:
                continue
            try:
                st = os.lstat(path)
            except OSError:
                continue  # gone meanwhile
            kind = "c" if stat.S_ISCHR(st.st_mode) else "b" if stat.S_ISBLK(st.st_mode) else ""
            if kind:
                out.append({"path": path, "type": kind, "major": os.major(st.st_rdev), "minor": os.minor(st.st_rdev),
                            "fileMode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid})
    return out


def privileged_spec(spec: dict[str, Any]) -> None:
    """What Docker grants ``--privileged`` (moby oci_linux.go): every capability, the host's devices
    and a device cgroup allowing all, read-write sysfs and cgroupfs, nothing masked or read-only.
    Seccomp and AppArmor are left off by ``security``."""
    linux = spec["linux"]
    linux["maskedPaths"] = []
    linux["readonlyPaths"] = []
    linux["devices"] = [*host_devices(), *(linux.get("devices") or [])]
    linux.setdefault("resources", {})["devices"] = [{"allow": True, "access": "rwm"}]
    for m in spec["mounts"]:
        if m["destination"] in ("/sys", "/sys/fs/cgroup"):
            m["options"] = [o for o in m.get("options") or [] if o != "ro"]


PING_GROUP_RANGE = "net.ipv4.ping_group_range"


def network_sysctls() -> dict[str, str]:
    """dockerd's defaults for a container with a network namespace of its own (what the kernel has):
    unprivileged ICMP echo sockets and ports below 1024 without capabilities."""
    out = {}
    if os.path.exists("/proc/sys/net/ipv4/ping_group_range"):
        out[PING_GROUP_RANGE] = "0 2147483647"
    if os.path.exists("/proc/sys/net/ipv4/ip_unprivileged_port_start"):
        out["net.ipv4.ip_unprivileged_port_start"] = "0"
    return out


def _cgroup_mount_writable(spec: dict[str, Any], writable: bool) -> None:
    """``--security-opt writable-cgroups``: the container's /sys/fs/cgroup mounted read-write."""
    for m in spec["mounts"]:
        if m["destination"] == "/sys/fs/cgroup":
            opts = [o for o in m.get("options", []) if o not in ("ro", "rw")]
            m["options"] = [*opts, "rw" if writable else "ro"]


def security(spec: dict[str, Any], host_config: dict[str, Any]) -> None:
    """--privileged and --security-opt: Docker's default seccomp profile unless unconfined or privileged."""
    process, linux = spec["process"], spec["linux"]
    privileged = bool(host_config.get("Privileged"))
    if privileged:
        privileged_spec(spec)
    seccomp: Any = "default"
    for opt in host_config.get("SecurityOpt") or []:
        key, sep, value = opt.partition("=") if "=" in opt else opt.partition(":")
        if key == "no-new-privileges":
            process["noNewPrivileges"] = value.lower() not in ("false", "0") if sep else True
        elif key == "writable-cgroups":  # moby's parseSecurityOpt: bare, =true or =false
            if sep and value not in ("true", "false"):
                raise errors.InvalidArgument(f'invalid --security-opt 2: "{opt}"')
            _cgroup_mount_writable(spec, not sep or value == "true")
        elif key == "seccomp":
            if value == "unconfined":
                seccomp = None
            elif value and value != "builtin":
                try:
                    seccomp = json.loads(value)  # the docker CLI sends the profile file's contents
                except ValueError as err:
                    raise errors.InvalidArgument(f"seccomp profile is not JSON: {err}") from err
        elif key in ("apparmor", "label", "systempaths", "mask"):
            if key == "systempaths" and value == "unconfined":
                linux["maskedPaths"], linux["readonlyPaths"] = [], []
            continue  # no AppArmor/SELinux on this host: accepted and ignored, as dockerd does there
        else:
            raise errors.InvalidArgument(f'invalid --security-opt 2: "{opt}"')
    for key, field in (("maskedPaths", "MaskedPaths"), ("readonlyPaths", "ReadonlyPaths")):
        if host_config.get(field) is not None:  # given (or defaulted at create): exactly these, as dockerd
            linux[key] = list(host_config[field])
    if privileged and not isinstance(seccomp, dict):
        return  # Docker: a privileged container runs without seccomp, but for a custom profile (moby#47499)
    if seccomp == "default":
        linux["seccomp"] = default_profile(process["capabilities"]["bounding"])
    elif isinstance(seccomp, dict):
        linux["seccomp"] = seccomp
