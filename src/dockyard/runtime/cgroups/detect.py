"""Pick the cgroup implementation for this host: v2 when the unified hierarchy is at /sys/fs/cgroup."""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .base import CgroupManager

CGROUP_ROOT = "/sys/fs/cgroup"


def is_v2(root: str = CGROUP_ROOT) -> bool:
    return os.path.exists(os.path.join(root, "cgroup.controllers"))


def manager_for(cgroups_path: str | None, container_id: str, root: str = CGROUP_ROOT) -> CgroupManager:
    from .fs import normalize_cgroups_path

    path = normalize_cgroups_path(cgroups_path, container_id)
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
