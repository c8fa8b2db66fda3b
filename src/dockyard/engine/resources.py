"""HostConfig's resource fields and devices → the OCI spec's ``linux.resources`` and ``linux.devices``.

As moby's ``WithResources``/``WithDevices`` (daemon/oci_linux.go): a field left at its zero value
sets nothing; device paths are the host's, looked up when the container is created (dockerd looks
them up at start: a path that does not name a device is refused earlier here, never later).
"""

from __future__ import annotations

import os
import re
import stat
from typing import Any

from dockyard import errors
from dockyard.engine.records import HostConfig
from dockyard.engine.validate import sysinfo

DEFAULT_SHM_SIZE = 64 * 1024 * 1024  # dockerd's config.DefaultShmSize
MIN_CPU_SHARES, MAX_CPU_SHARES = 2, 262144
_CGROUP_RULE = re.compile(r"^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$")
_DEVICE_MODE = re.compile(r"^[rwm]{1,3}$")


def memory(host: dict[str, Any]) -> dict[str, Any]:
    """``-m``, ``--memory-swap`` (already 2x or -1: ``adapt``), ``--memory-reservation``,
    ``--memory-swappiness``, ``--oom-kill-disable``. ``KernelMemory`` is ignored, as dockerd
    ignores it on kernels that no longer have kmem limits (5.4+ deprecates them, 6.x removes them)."""
    out: dict[str, Any] = {}
    if host.get("Memory"):
        out["limit"] = int(host["Memory"])
    if host.get("MemorySwap"):
        out["swap"] = int(host["MemorySwap"])
    if host.get("MemoryReservation"):
        out["reservation"] = int(host["MemoryReservation"])
    swappiness = host.get("MemorySwappiness")
    if swappiness is not None and swappiness >= 0:
        out["swappiness"] = int(swappiness)
    if host.get("OomKillDisable"):
        out["disableOOMKiller"] = True
    return out


def cpu(host: dict[str, Any]) -> dict[str, Any]:
    """``--cpus`` (period 100 ms, quota in proportion), ``--cpu-period``/``--cpu-quota``, shares,
    cpusets, realtime runtime and period."""
    out: dict[str, Any] = {}
    if host.get("NanoCpus"):
        out["period"] = 100000
        out["quota"] = int(host["NanoCpus"]) * 100000 // 1_000_000_000
    if host.get("CpuPeriod"):
        out["period"] = int(host["CpuPeriod"])
    if host.get("CpuQuota"):
        out["quota"] = int(host["CpuQuota"])
    if host.get("CpuShares"):
        out["shares"] = int(host["CpuShares"])
    if host.get("CpusetCpus"):
        out["cpus"] = host["CpusetCpus"]
    if host.get("CpusetMems"):
        out["mems"] = host["CpusetMems"]
    if host.get("CpuRealtimePeriod"):
        out["realtimePeriod"] = int(host["CpuRealtimePeriod"])
    if host.get("CpuRealtimeRuntime"):
        out["realtimeRuntime"] = int(host["CpuRealtimeRuntime"])
    return out


def _block_device(path: str, what: str) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except OSError as err:
        raise errors.InvalidArgument(f"{what}: {path}: {err.strerror}") from None
    if not stat.S_ISBLK(st.st_mode):
        raise errors.InvalidArgument(f"{what}: {path} is not a block device")
    return os.major(st.st_rdev), os.minor(st.st_rdev)


def block_io(host: dict[str, Any], weight_supported: bool | None = None) -> dict[str, Any]:
    """``--blkio-weight``, ``--blkio-weight-device``, ``--device-{read,write}-{bps,iops}``. A weight
    on a kernel without an I/O weight scheduler is discarded, as dockerd discards it (with a warning)."""
    out: dict[str, Any] = {}
    if weight_supported is None:
        weight_supported = sysinfo().blkio_weight
    if weight_supported:
        if host.get("BlkioWeight"):
            out["weight"] = int(host["BlkioWeight"])
        devices = []
        for d in host.get("BlkioWeightDevice") or []:
            major, minor = _block_device(d["Path"], "blkio weight device")
            devices.append({"major": major, "minor": minor, "weight": int(d["Weight"])})
        if devices:
            out["weightDevice"] = devices
    for field, key in (("BlkioDeviceReadBps", "throttleReadBpsDevice"),
                       ("BlkioDeviceWriteBps", "throttleWriteBpsDevice"),
                       ("BlkioDeviceReadIOps", "throttleReadIOPSDevice"),
                       ("BlkioDeviceWriteIOps", "throttleWriteIOPSDevice")):
        rates = []
        for d in host.get(field) or []:
            major, minor = _block_device(d["Path"], f"{field}")
            rates.append({"major": major, "minor": minor, "rate": int(d["Rate"])})
        if rates:
            out[key] = rates
    return out


def pids(host: dict[str, Any]) -> dict[str, Any]:
    """``--pids-limit``: 0 (or unset) leaves the limit alone, -1 is unlimited."""
    limit = host.get("PidsLimit")
    return {"limit": int(limit)} if limit else {}


def linux_resources(host: dict[str, Any]) -> dict[str, Any]:
    """Everything of ``linux.resources`` but the device rules."""
    out: dict[str, Any] = {}
    for key, part in (("memory", memory(host)), ("cpu", cpu(host)), ("blockIO", block_io(host)),
                      ("pids", pids(host))):
        if part:
            out[key] = part
    return out


# -- devices ------------------------------------------------------------------------------


def _device_entry(path: str, st: os.stat_result, in_container: str) -> dict[str, Any]:
    kind = "b" if stat.S_ISBLK(st.st_mode) else "c"
    return {"path": in_container, "type": kind, "major": os.major(st.st_rdev), "minor": os.minor(st.st_rdev),
            "fileMode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid}


def _is_device(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)


def devices_from_path(on_host: str, in_container: str, permissions: str) -> list[dict[str, Any]]:
    """moby's devicesFromPath: a device node, or every device under a directory (mapped below
    ``in_container``); symlinks on the host are followed. Returns the ``linux.devices`` entries."""
    if not _DEVICE_MODE.match(permissions):
        raise errors.InvalidArgument(f"invalid device mode: {permissions}")
    what = f"error gathering device information while adding custom device {on_host!r}"
    resolved = os.path.realpath(on_host)
    try:
        st = os.stat(resolved)
    except OSError as err:
        raise errors.InvalidArgument(f"{what}: {err.strerror.lower() if err.strerror else err}") from None
    if _is_device(st):
        return [_device_entry(resolved, st, in_container or on_host)]
    if not stat.S_ISDIR(st.st_mode):
        raise errors.InvalidArgument(f"{what}: not a device node")
    out: list[dict[str, Any]] = []
    for dirpath, dirnames, filenames in os.walk(resolved):
        dirnames.sort()
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            try:
                sub = os.lstat(path)
            except OSError:
                continue
            if _is_device(sub):
                rel = os.path.relpath(path, resolved)
                out.append(_device_entry(path, sub, os.path.join(in_container or on_host, rel)))
    if not out:
        raise errors.InvalidArgument(f"{what}: no device nodes under the directory")
    return out


def cgroup_rule(device: dict[str, Any], access: str) -> dict[str, Any]:
    return {"allow": True, "type": device["type"], "major": device["major"], "minor": device["minor"],
            "access": access}


def parse_cgroup_rule(rule: str) -> dict[str, Any]:
    """``--device-cgroup-rule 'c 1:3 mr'`` → an OCI device cgroup entry (``*`` = any)."""
    m = _CGROUP_RULE.match(rule)
    if m is None:
        raise errors.InvalidArgument(f"invalid device cgroup rule format: '{rule}'")
    kind, major, minor, access = m.groups()
    out: dict[str, Any] = {"allow": True, "type": kind, "access": access}
    if major != "*":
        out["major"] = int(major)
    if minor != "*":
        out["minor"] = int(minor)
    return out


def devices(host: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``--device`` and ``--device-cgroup-rule``: (``linux.devices`` entries, device cgroup rules)."""
    nodes: list[dict[str, Any]] = []
    rules: list[dict[str, Any]] = []
    for d in host.get("Devices") or []:
        access = d.get("CgroupPermissions") or "rwm"
        found = devices_from_path(d.get("PathOnHost") or "", d.get("PathInContainer") or "", access)
        nodes += found
        rules += [cgroup_rule(n, access) for n in found]
    rules += [parse_cgroup_rule(r) for r in host.get("DeviceCgroupRules") or []]
    return nodes, rules


def of_update(body: dict[str, Any]) -> dict[str, Any]:
    """The OCI ``linux.resources`` of a Docker update body (only what it sets)."""
    res: dict[str, Any] = {}
    mem: dict[str, Any] = {}
    if body.get("Memory"):
        mem["limit"] = int(body["Memory"])
    if body.get("MemorySwap"):
        mem["swap"] = int(body["MemorySwap"])
    if body.get("MemoryReservation"):
        mem["reservation"] = int(body["MemoryReservation"])
    if mem:
        res["memory"] = mem
    cpu: dict[str, Any] = {}
    if body.get("NanoCpus"):
        cpu.update(period=100000, quota=int(body["NanoCpus"]) * 100000 // 1_000_000_000)
    if body.get("CpuQuota"):
        cpu["quota"] = int(body["CpuQuota"])
    if body.get("CpuPeriod"):
        cpu["period"] = int(body["CpuPeriod"])
    if body.get("CpuShares"):
        cpu["shares"] = int(body["CpuShares"])
    if body.get("CpusetCpus"):
        cpu["cpus"] = body["CpusetCpus"]
    if body.get("CpusetMems"):
        cpu["mems"] = body["CpusetMems"]
    if cpu:
        res["cpu"] = cpu
    if "PidsLimit" in body:  # 0 or less lifts the limit (dockerd: "max")
        res["pids"] = {"limit": max(int(body["PidsLimit"]), 0) or -1}
    throttles = {k: body[k] for k in _THROTTLES if body.get(k)}
    if throttles:
        res["blockIO"] = block_io(throttles, weight_supported=False)
    return res


_THROTTLES = ("BlkioDeviceReadBps", "BlkioDeviceWriteBps", "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps")


def record_update(host: HostConfig, body: dict[str, Any]) -> None:
    """What an update body changes of a container's recorded ``HostConfig`` (its fields by the body's keys)."""
    for key in UPDATABLE:
        if body.get(key):
            host.set(key, body[key])
    if "PidsLimit" in body:
        host.pids_limit = max(int(body["PidsLimit"]), 0)


UPDATABLE = ("Memory", "MemorySwap", "MemoryReservation", "NanoCpus", "CpuQuota", "CpuPeriod", "CpuShares",
             "CpusetCpus", "CpusetMems", "RestartPolicy", "BlkioWeight", *_THROTTLES)
