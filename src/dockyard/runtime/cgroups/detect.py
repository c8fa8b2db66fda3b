"""Pick the cgroup implementation for this host: v2 when the unified hierarchy is at /sys/fs/cgroup."""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .base import CgroupManager

CGROUP_ROOT = "/sys/fs/cgroup"
# A v2 hierarchy to use instead of detecting one at CGROUP_ROOT: on a hybrid host its unified
# mount (/sys/fs/cgroup/unified), so the v2 path (device programs included) runs end to end.
V2_ROOT_ENV = "DOCKYARD_RUNC_CGROUP2_ROOT"


def is_v2(root: str = CGROUP_ROOT) -> bool:
    return os.path.exists(os.path.join(root, "cgroup.controllers"))


def manager_for(cgroups_path: str | None, container_id: str, root: str = CGROUP_ROOT) -> CgroupManager:
    from .fs import normalize_cgroups_path

    path = normalize_cgroups_path(cgroups_path, container_id)
    forced = os.environ.get(V2_ROOT_ENV)
    if forced:
        if not is_v2(forced):
            from dockyard.errors import InvalidArgument

            raise InvalidArgument(f"{V2_ROOT_ENV}={forced}: no cgroup v2 hierarchy mounted there")
        root = forced
    if is_v2(root):
        from .v2 import CgroupV2

        return CgroupV2(path, root=root)
    from .v1 import CgroupV1

    return CgroupV1(path, root=root)


def manager_from_paths(paths: dict[str, str], version: int) -> CgroupManager:
    """Rebuild a manager from the paths stored in state.json (kill --all, delete, pause)."""
    if version == 2:
        from .v2 import CgroupV2

        return CgroupV2.from_path(paths.get("", ""))
    from .v1 import CgroupV1

    return CgroupV1.from_paths(paths)
