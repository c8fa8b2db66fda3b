"""``update``: change a running container's cgroup limits (flags or ``-r resources.json``)."""

from __future__ import annotations

import json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

from dockyard.errors import InvalidArgument

from ..container import ContainerStatus, State, WrongStatus

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "m": 1 << 20, "mb": 1 << 20,
          "g": 1 << 30, "gb": 1 << 30, "t": 1 << 40, "tb": 1 << 40}


def parse_bytes(value: str) -> int:
    """``64m``, ``1g``, ``1048576``, ``-1`` (runc uses docker's RAMInBytes: binary units)."""
    v = value.strip().lower()
    if v == "-1":
        return -1
    num = v.rstrip("kmgtb")
    try:
        return int(float(num) * _UNITS[v[len(num):]])
    except (KeyError, ValueError) as err:
        raise InvalidArgument(f"invalid size {value!r}") from err


def resources_from_flags(
    *,
    memory: str | None = None,
    memory_reservation: str | None = None,
    memory_swap: str | None = None,
    cpu_shares: int | None = None,
    cpu_quota: int | None = None,
    cpu_period: int | None = None,
    cpuset_cpus: str | None = None,
    cpuset_mems: str | None = None,
    pids_limit: int | None = None,
    blkio_weight: int | None = None,
    cpu_rt_period: int | None = None,
    cpu_rt_runtime: int | None = None,
) -> dict[str, Any]:
    res: dict[str, Any] = {}
    mem = {k: parse_bytes(v) for k, v in
           (("limit", memory), ("reservation", memory_reservation), ("swap", memory_swap)) if v is not None}
    if mem:
        res["memory"] = mem
    cpu: dict[str, Any] = {k: v for k, v in (("shares", cpu_shares), ("quota", cpu_quota), ("period", cpu_period),
                                             ("realtimePeriod", cpu_rt_period), ("realtimeRuntime", cpu_rt_runtime),
                                             ("cpus", cpuset_cpus), ("mems", cpuset_mems)) if v is not None}
    if cpu:
        res["cpu"] = cpu
    if pids_limit is not None:
        res["pids"] = {"limit": pids_limit}
    if blkio_weight is not None:
        res["blockIO"] = {"weight": blkio_weight}
    return res


def load_resources(path: str) -> dict[str, Any]:
    """``-r -`` reads stdin, as runc does."""
    import sys

    try:
        if path == "-":
            data: dict[str, Any] = json.load(sys.stdin)
        else:
            with open(path) as f:
                data = json.load(f)
    except (OSError, json.JSONDecodeError) as err:
        raise InvalidArgument(f"unable to read resources {path}: {err}") from err
    if not isinstance(data, dict):
        raise InvalidArgument("resources must be a JSON object (LinuxResources)")
    return data


def update(root: str, container_id: str, resources: dict[str, Any]) -> None:
    from ..cgroups.detect import manager_from_paths

    state = State.load(root, container_id)
    status = state.status(root)
    if status is ContainerStatus.STOPPED:
        raise WrongStatus(f"container {container_id} is not running")
    mgr = manager_from_paths(state.cgroup_paths, state.cgroup_version)
    if mgr.version == 2 and resources.get("devices") is not None:
        from .create import with_default_device_rules

        resources = with_default_device_rules(resources, always=True)  # the new program replaces all
    try:
        mgr.apply(resources)
    except OSError as err:
        raise InvalidArgument(f"unable to set resources: {err.strerror or err}") from err
