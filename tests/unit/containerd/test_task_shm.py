"""containerd/tasks/shm.py: the spec's /dev/shm bound to the tmpfs its annotation names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dockyard import errors
from dockyard.containerd.tasks import shm
from dockyard.types import Mount


def _spec(owner: str = "", size: str = "size=1048576") -> dict[str, Any]:
    spec: dict[str, Any] = {"mounts": [{"destination": "/dev", "type": "tmpfs", "source": "tmpfs"},
                                       {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                                        "options": ["nosuid", "noexec", "nodev", size]}]}
    if owner:
        spec["annotations"] = {shm.ANNOTATION: owner}
    return spec


def test_own_tmpfs_mounted_with_the_specs_size_and_bound(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mounted: list[tuple[Mount, Path]] = []
    monkeypatch.setattr(shm, "is_mounted", lambda target: False)
    monkeypatch.setattr(shm, "mount", lambda m, target: mounted.append((m, target)))
    spec = _spec("c1")
    shm.prepare(tmp_path, "moby", "c1", spec)
    target = tmp_path / "moby" / "c1"
    assert mounted == [(Mount("tmpfs", "shm", ("nosuid", "nodev", "noexec", "mode=1777", "size=1048576")), target)]
    assert spec["mounts"][1] == {"destination": "/dev/shm", "type": "bind", "source": str(target),
                                 "options": ["rbind", "nosuid", "nodev", "noexec"]}
    shm.prepare(tmp_path, "moby", "c2", unannotated := _spec())
    assert unannotated == _spec() and len(mounted) == 1, "no annotation: the spec's own tmpfs"


def test_donor_without_tmpfs_refused(tmp_path: Path) -> None:
    with pytest.raises(errors.FailedPrecondition, match="container d1: non-shareable IPC"):
        shm.prepare(tmp_path, "moby", "joiner", _spec("d1"))


def test_each_start_has_a_new_tmpfs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A tmpfs a crash left mounted is replaced, as dockerd's setupIPCDirs mounts one at each start."""
    calls: list[str] = []
    monkeypatch.setattr(shm, "is_mounted", lambda target: True)
    monkeypatch.setattr(shm, "unmount", lambda target, detach=False: calls.append(f"unmount {detach}"))
    monkeypatch.setattr(shm, "mount", lambda m, target: calls.append("mount"))
    shm.prepare(tmp_path, "moby", "c1", _spec("c1"))
    assert calls == ["unmount True", "mount"]
