"""Read a container's cgroup statistics in runc's ``events --stats`` shape, and its OOM kills.

v1: ``cpuacct.*``, ``memory.*`` (``memory.oom_control``'s ``oom_kill`` counter,
kernel >= 4.13), ``pids.*``; v2: ``cpu.stat``, ``memory.*``, ``memory.events``
(``oom_kill``), ``pids.*``.  Missing files read as zero: a controller that is
not mounted is simply absent from the numbers, as in runc.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_UNLIMITED = 0x7FFFFFFFFFFFF000  # v1's "no limit" (PAGE_COUNTER_MAX * page size, rounded)


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def _int(path: str) -> int:
    raw = _read(path)
    if raw in ("", "max"):
        return 0 if raw == "" else _UNLIMITED
    try:
        return int(raw.split()[0])
    except ValueError:
        return 0


def _kv(path: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in _read(path).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


def oom_kills(paths: dict[str, str], version: int) -> int:
    """How many processes the kernel OOM-killed in this cgroup so far."""
    if version == 2:
        return _kv(os.path.join(paths.get("", ""), "memory.events")).get("oom_kill", 0)
    mem = paths.get("memory")
    if not mem:
        return 0
    return _kv(os.path.join(mem, "memory.oom_control")).get("oom_kill", 0)


def oom_killed_in(cgroups_path: str | None, container_id: str, root: str = "/sys/fs/cgroup") -> bool:
    """Whether the cgroup a spec's ``cgroupsPath`` names saw an OOM kill: one small file read on
    the exit path of every container (the memory hierarchy at its usual mountpoint; a host that
    mounts it elsewhere costs the full lookup)."""
    from .fs import join_cgroup, normalize_cgroups_path, own_cgroups

    path = normalize_cgroups_path(cgroups_path, container_id)
    v2 = os.path.exists(os.path.join(root, "cgroup.controllers"))
    mount, counter, own_key = (root, "memory.events", "") if v2 else \
        (os.path.join(root, "memory"), "memory.oom_control", "memory")
    if os.path.isdir(mount):
        own = "/" if path.startswith("/") else own_cgroups().get(own_key, "/")
        return _kv(os.path.join(join_cgroup(mount, own, path), counter)).get("oom_kill", 0) > 0
    from .detect import manager_for

    manager = manager_for(cgroups_path, container_id, root)
    return oom_kills(manager.paths(), manager.version) > 0


def stats(paths: dict[str, str], version: int) -> dict[str, Any]:
    if version == 2:
        return _stats_v2(paths.get("", ""))
    return _stats_v1(paths)


def _stats_v1(paths: dict[str, str]) -> dict[str, Any]:
    cpuacct = paths.get("cpuacct") or paths.get("cpu") or ""
    cpu_dir = paths.get("cpu") or ""
    percpu = [int(x) for x in _read(os.path.join(cpuacct, "cpuacct.usage_percpu")).split()]
    ticks = _kv(os.path.join(cpuacct, "cpuacct.stat"))
    hz = os.sysconf("SC_CLK_TCK") or 100
    thr = _kv(os.path.join(cpu_dir, "cpu.stat"))
    mem = paths.get("memory") or ""
    pids_dir = paths.get("pids") or ""

    def usage(prefix: str) -> dict[str, int]:
        return {
            "usage": _int(os.path.join(mem, f"{prefix}.usage_in_bytes")),
            "max": _int(os.path.join(mem, f"{prefix}.max_usage_in_bytes")),
            "failcnt": _int(os.path.join(mem, f"{prefix}.failcnt")),
            "limit": _int(os.path.join(mem, f"{prefix}.limit_in_bytes")),
        }

    limit_raw = _read(os.path.join(pids_dir, "pids.max"))
    return {
        "cpu": {
            "usage": {
                "total": _int(os.path.join(cpuacct, "cpuacct.usage")),
                "percpu": percpu,
                "kernel": ticks.get("system", 0) * 1_000_000_000 // hz,
                "user": ticks.get("user", 0) * 1_000_000_000 // hz,
            },
            "throttling": {
                "periods": thr.get("nr_periods", 0),
                "throttledPeriods": thr.get("nr_throttled", 0),
                "throttledTime": thr.get("throttled_time", 0),
            },
        },
        "memory": {
            "usage": usage("memory"),
            "swap": usage("memory.memsw"),
            "kernel": usage("memory.kmem"),
            "raw": _kv(os.path.join(mem, "memory.stat")),
            "oom_kill": oom_kills(paths, 1),
        },
        "pids": {
            "current": _int(os.path.join(pids_dir, "pids.current")),
            "limit": 0 if limit_raw in ("", "max") else int(limit_raw),
        },
    }


def _stats_v2(d: str) -> dict[str, Any]:
    cpu = _kv(os.path.join(d, "cpu.stat"))
    limit_raw = _read(os.path.join(d, "pids.max"))
    return {
        "cpu": {
            "usage": {
                "total": cpu.get("usage_usec", 0) * 1000,
                "percpu": [],
                "kernel": cpu.get("system_usec", 0) * 1000,
                "user": cpu.get("user_usec", 0) * 1000,
            },
            "throttling": {
                "periods": cpu.get("nr_periods", 0),
                "throttledPeriods": cpu.get("nr_throttled", 0),
                "throttledTime": cpu.get("throttled_usec", 0) * 1000,
            },
        },
        "memory": {
            "usage": {
                "usage": _int(os.path.join(d, "memory.current")),
                "max": _int(os.path.join(d, "memory.peak")),
                "failcnt": _kv(os.path.join(d, "memory.events")).get("max", 0),
                "limit": _int(os.path.join(d, "memory.max")),
            },
            "swap": {"usage": _int(os.path.join(d, "memory.swap.current")),
                     "limit": _int(os.path.join(d, "memory.swap.max"))},
            "raw": _kv(os.path.join(d, "memory.stat")),
            "oom_kill": oom_kills({"": d}, 2),
        },
        "pids": {
            "current": _int(os.path.join(d, "pids.current")),
            "limit": 0 if limit_raw in ("", "max") else int(limit_raw),
        },
    }
