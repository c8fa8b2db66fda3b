"""Which tasks get a rootfs over idmapped layers, and what is refused, without mounting
(containerd/tasks/idmap.py; the mount itself: tests/integration/cri/test_cri_userns.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard import errors
from dockyard.containerd.tasks.idmap import joined_userns, mount_idmapped
from dockyard.types import Mount

MAPS = {"uidMappings": [{"containerID": 0, "hostID": 231072, "size": 65536}],
        "gidMappings": [{"containerID": 0, "hostID": 231073, "size": 65536}]}


def spec(namespaces: list[dict[str, str]], **linux: object) -> dict[str, object]:
    return {"linux": {"namespaces": namespaces, **linux}}


def test_a_user_namespace_joined_by_path_with_maps_is_idmapped() -> None:
    s = spec([{"type": "user", "path": "/proc/42/ns/user"}, {"type": "mount"}], **MAPS)
    assert joined_userns(s) == ("/proc/42/ns/user", 231072, 231073)


@pytest.mark.parametrize("s", [
    spec([{"type": "mount"}]),  # no user namespace
    spec([{"type": "user"}, {"type": "mount"}], **MAPS),  # a new one (the engine's --userns-remap: remapped snapshot)
    spec([{"type": "user", "path": "/proc/42/ns/user"}]),  # joined without maps: nothing to map the layers to
    {},
])
def test_other_tasks_mount_their_snapshot_as_it_is(s: dict[str, object]) -> None:
    assert joined_userns(s) is None


def test_an_unmapped_root_is_refused() -> None:
    s = spec([{"type": "user", "path": "/x"}], uidMappings=[{"containerID": 1, "hostID": 1000, "size": 10}],
             gidMappings=MAPS["gidMappings"])
    with pytest.raises(errors.InvalidArgument):
        joined_userns(s)


@pytest.mark.parametrize("mounts", [
    [Mount("bind", "/layer", ("rbind", "rw"))],  # a snapshot without parents
    [Mount("overlay", "overlay", ("lowerdir=/a:/b",))],  # a view: no upper to write
])
def test_only_a_writable_overlay_can_be_idmapped(mounts: list[Mount], tmp_path: Path) -> None:
    with pytest.raises(errors.FailedPrecondition):
        mount_idmapped(mounts, tmp_path, ("/proc/self/ns/user", 0, 0))
