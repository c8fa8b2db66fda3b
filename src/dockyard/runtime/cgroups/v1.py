"""cgroup v1: one directory per controller hierarchy (/sys/fs/cgroup/<controller>/<path>)."""

from __future__ import annotations

import errno
import os
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

from .fs import join_cgroup, own_cgroups, read, read_pids, remove_tree, wait_procs_empty, write

CONTROLLERS: tuple[str, ...] = ("memory", "pids", "cpu", "cpuacct", "cpuset", "blkio", "devices", "freezer")


HYBRID = "unified"  # key of the cgroup v2 hierarchy a hybrid host mounts (runc joins it too)


def mountpoints(mountinfo: str = "/proc/self/mountinfo") -> dict[str, str]:
    """Controller → mountpoint of its v1 hierarchy (handles co-mounted cpu,cpuacct); ``HYBRID``
    → the v2 hierarchy's mountpoint on a hybrid host."""
    out: dict[str, str] = {}
    with open(mountinfo) as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields = right.split()
            if fields and fields[0] == "cgroup2":  # hybrid: v2's hierarchy beside v1's
                out.setdefault(HYBRID, left.split()[4])
            if len(fields) < 3 or fields[0] != "cgroup":
                continue
            mnt = left.split()[4]
            for opt in fields[2].split(","):
                if opt in CONTROLLERS or opt.startswith("name="):
                    out.setdefault(opt.removeprefix("name="), mnt)
    return out


_host_mounts: dict[str, str] | None = None


def host_mountpoints() -> dict[str, str]:
    """``mountpoints()`` of this process, read once: the hierarchies are mounted at boot. The shim
    template reads them before it forks (``runtime/warm.py``), so no container's create reads
    /proc/self/mountinfo again for them: a read that waits on the mount namespace's lock while
    other containers' rootfs are mounted (~0.25 s each with 50 creates at once)."""
    global _host_mounts
    if _host_mounts is None:
        _host_mounts = mountpoints()
    return dict(_host_mounts)


def device_rule(rule: dict[str, Any]) -> str:
    """OCI LinuxDeviceCgroup → the ``devices.allow``/``devices.deny`` line (``a`` means all)."""
    kind = rule.get("type") or "a"
    if kind == "a":
        return "a"
    major = rule.get("major")
    minor = rule.get("minor")
    maj = "*" if major is None or major < 0 else str(major)
    mnr = "*" if minor is None or minor < 0 else str(minor)
    access = "".join(c for c in rule.get("access") or "rwm" if c in "rwm") or "rwm"  # runc drops others
    return f"{kind} {maj}:{mnr} {access}"


def device_writes(rules: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(file, line) pairs for ``rules``, without the ones the kernel would refuse or that change
    nothing (runc's minimal transitions): a deny after "deny all" with no allow since, and the
    same for allows."""
    out: list[tuple[str, str]] = []
    default: bool | None = None
    opposite_since = False
    for rule in rules:
        allow = bool(rule.get("allow"))
        line = device_rule(rule)
        if line == "a":
            default, opposite_since = allow, False
        elif default is not None and allow == default and not opposite_since:
            continue
        elif default is not None and allow != default:
            opposite_since = True
        out.append(("devices.allow" if allow else "devices.deny", line))
    return out


class CgroupV1:
    version = 1

    def __init__(self, path: str, root: str = "/sys/fs/cgroup", *, _paths: dict[str, str] | None = None) -> None:
        self.path = path
        if _paths is not None:
            self._paths = _paths
            return
        try:
            mounts = host_mountpoints()
        except OSError:
            mounts = {}
        own = own_cgroups()
        self._paths = {}
        for ctrl in CONTROLLERS:
            mnt = mounts.get(ctrl, os.path.join(root, ctrl))
            if os.path.isdir(mnt):
                self._paths[ctrl] = join_cgroup(mnt, own.get(ctrl, "/"), path)
        if HYBRID in mounts:
            self._paths[HYBRID] = join_cgroup(mounts[HYBRID], own.get("", "/"), path)

    @classmethod
    def from_paths(cls, paths: dict[str, str]) -> CgroupV1:
        return cls("", _paths=dict(paths))

    def paths(self) -> dict[str, str]:
        return dict(self._paths)

    def create(self) -> None:
        for ctrl, path in self._paths.items():
            if ctrl == "cpuset":
                self._mkdir_cpuset(path)
            else:
                os.makedirs(path, exist_ok=True)

    @staticmethod
    def _mkdir_cpuset(path: str) -> None:
        """New cpuset cgroups start empty (tasks cannot join): cpus/mems are inherited level by
        level, also by ancestors that exist but were left empty (a pod's parent made by hand)."""
        chain: list[str] = []
        p = path
        while True:
            parent = os.path.dirname(p)
            if parent == p or (os.path.isdir(parent) and not os.path.exists(os.path.join(parent, "cpuset.cpus"))):
                break  # p is the hierarchy's root
            chain.append(p)
            p = parent
        for d in reversed(chain):
            try:
                os.mkdir(d)
            except FileExistsError:
                pass
            parent = os.path.dirname(d)
            for f in ("cpuset.cpus", "cpuset.mems"):
                if not read(os.path.join(d, f)):
                    write(os.path.join(d, f), read(os.path.join(parent, f)))

    def apply(self, resources: dict[str, Any]) -> None:
        p = self._paths
        mem = resources.get("memory") or {}
        if "memory" in p and mem:
            self._apply_memory(p["memory"], mem)
        cpu = resources.get("cpu") or {}
        if "cpu" in p and cpu:
            if cpu.get("shares"):
                write(os.path.join(p["cpu"], "cpu.shares"), cpu["shares"])
            self._apply_cfs(p["cpu"], cpu.get("period"), cpu.get("quota"))
            if cpu.get("realtimePeriod"):
                write(os.path.join(p["cpu"], "cpu.rt_period_us"), cpu["realtimePeriod"])
            if cpu.get("realtimeRuntime"):
                write(os.path.join(p["cpu"], "cpu.rt_runtime_us"), cpu["realtimeRuntime"])
        if "cpuset" in p:
            if cpu.get("cpus"):
                write(os.path.join(p["cpuset"], "cpuset.cpus"), cpu["cpus"])
            if cpu.get("mems"):
                write(os.path.join(p["cpuset"], "cpuset.mems"), cpu["mems"])
        pids = resources.get("pids") or {}
        if "pids" in p and "limit" in pids:
            limit = int(pids["limit"])
            write(os.path.join(p["pids"], "pids.max"), "max" if limit <= 0 else limit)
        blkio = resources.get("blockIO") or {}
        if "blkio" in p and blkio:
            self._apply_blkio(p["blkio"], blkio)
        devices = resources.get("devices")
        if "devices" in p and devices:
            for name, line in device_writes(devices):
                write(os.path.join(p["devices"], name), line)

    @staticmethod
    def _apply_cfs(path: str, period: int | None, quota: int | None) -> None:
        """A shorter period with the old quota may exceed a parent's limit (EINVAL): then the
        quota goes first and the period after it, as runc orders them."""
        retry_period = False
        if period:
            try:
                write(os.path.join(path, "cpu.cfs_period_us"), period)
            except OSError as err:
                if err.errno != errno.EINVAL or not quota:
                    raise
                retry_period = True
        if quota:
            write(os.path.join(path, "cpu.cfs_quota_us"), quota)
            if retry_period and period:
                write(os.path.join(path, "cpu.cfs_period_us"), period)

    @staticmethod
    def _apply_memory(path: str, mem: dict[str, Any]) -> None:
        limit = mem.get("limit")
        swap = mem.get("swap")
        memsw = os.path.join(path, "memory.memsw.limit_in_bytes")
        if limit is not None and int(limit) == -1 and not swap and os.path.exists(memsw):
            swap = -1  # runc: no memory limit means no memory+swap limit either (memsw >= limit)
        if limit is not None:
            if swap is not None and os.path.exists(memsw):
                # memsw must stay >= limit at every step: order the two writes accordingly.
                try:
                    write(os.path.join(path, "memory.limit_in_bytes"), limit)
                    write(memsw, swap)
                except OSError:
                    write(memsw, swap)
                    write(os.path.join(path, "memory.limit_in_bytes"), limit)
            else:
                write(os.path.join(path, "memory.limit_in_bytes"), limit)
        elif swap is not None and os.path.exists(memsw):
            write(memsw, swap)
        if mem.get("reservation") is not None:
            write(os.path.join(path, "memory.soft_limit_in_bytes"), mem["reservation"])
        if mem.get("swappiness") is not None and 0 <= int(mem["swappiness"]) <= 100:
            write(os.path.join(path, "memory.swappiness"), mem["swappiness"])
        if mem.get("disableOOMKiller"):
            write(os.path.join(path, "memory.oom_control"), 1)

    @staticmethod
    def _apply_blkio(path: str, blkio: dict[str, Any]) -> None:
        prefix = "blkio." if os.path.exists(os.path.join(path, "blkio.weight")) else "blkio.bfq."
        if blkio.get("weight"):
            write(os.path.join(path, prefix + "weight"), blkio["weight"])
        for dev in blkio.get("weightDevice") or []:
            if dev.get("weight"):
                write(os.path.join(path, prefix + "weight_device"), f"{dev['major']}:{dev['minor']} {dev['weight']}")
        for key, fname in (
            ("throttleReadBpsDevice", "blkio.throttle.read_bps_device"),
            ("throttleWriteBpsDevice", "blkio.throttle.write_bps_device"),
            ("throttleReadIOPSDevice", "blkio.throttle.read_iops_device"),
            ("throttleWriteIOPSDevice", "blkio.throttle.write_iops_device"),
        ):
            for dev in blkio.get(key) or []:
                write(os.path.join(path, fname), f"{dev['major']}:{dev['minor']} {dev['rate']}")

    def add_task(self, pid: int) -> None:
        for path in self._paths.values():
            write(os.path.join(path, "cgroup.procs"), pid)

    def pids(self) -> list[int]:
        for ctrl in ("pids", "memory", "freezer", "devices", "cpu"):
            if ctrl in self._paths:
                return read_pids(os.path.join(self._paths[ctrl], "cgroup.procs"))
        return []

    def freeze(self, frozen: bool) -> None:
        path = self._paths.get("freezer")
        if path is None:
            raise OSError(errno.ENOTSUP, "freezer cgroup controller not mounted")
        want = "FROZEN" if frozen else "THAWED"
        for _ in range(1000):
            write(os.path.join(path, "freezer.state"), want)
            if read(os.path.join(path, "freezer.state")) == want:
                return
            time.sleep(0.001)
        raise OSError(errno.EBUSY, f"cgroup {path} did not reach {want}")

    def remove(self) -> None:
        for path in self._paths.values():
            remove_tree(path)

    def wait_empty(self, timeout: float) -> bool:
        for ctrl in ("pids", "memory", "freezer", "devices", "cpu"):
            if ctrl in self._paths:
                return wait_procs_empty(os.path.join(self._paths[ctrl], "cgroup.procs"), timeout)
        return True

    def kill_all(self, sig: int) -> None:
        """Signal every task; v1 has no cgroup.kill, so a fork racing this may escape one round."""
        for pid in self.pids():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
