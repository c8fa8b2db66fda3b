"""``Snapshots.SubtreeMounts``'s resolution (containerd/snapshots/subtree.py): one path of a view, over its
layers with overlay's merge rules and symlinks kept inside the view, as mounts a caller hands on unread."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from dockyard import errors
from dockyard.containerd.snapshots.subtree import subtree_mounts
from dockyard.types import Mount

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="overlay-form whiteouts need root (mknod, trusted xattrs)")


@pytest.fixture
def layers(tmp_path: Path) -> list[Path]:
    """Top first, as an overlay's lowerdir lists them."""
    top, low = tmp_path / "top", tmp_path / "low"
    for d in (top / "etc" / "app", low / "etc" / "app", low / "etc" / "gone", low / "opaque" / "old",
              top / "opaque", low / "data", top / "sub"):
        d.mkdir(parents=True, exist_ok=True)
    (top / "etc" / "app" / "new.conf").write_text("top")
    (low / "etc" / "app" / "base.conf").write_text("low")
    (low / "etc" / "hosts").write_text("h")
    os.mknod(top / "etc" / "gone", stat.S_IFCHR, 0)  # overlay form, as the snapshotter stores it: 0/0 device
    os.setxattr(top / "opaque", "trusted.overlay.opaque", b"y")
    (top / "shadow").mkdir()
    (low / "shadow").write_text("a file under the directory above it is hidden")
    os.symlink("../etc/app", top / "sub" / "link")
    os.symlink("/etc", top / "abs")
    os.symlink("../../..", top / "up")
    return [top, low]


def _view(layers: list[Path]) -> list[Mount]:
    return [Mount(type="overlay", source="overlay",
                  options=("index=off", "lowerdir=" + ":".join(str(p) for p in layers)))]


def test_a_file_is_a_read_only_bind_of_its_topmost_copy(layers: list[Path]) -> None:
    assert subtree_mounts(_view(layers), "etc/hosts") == [
        Mount(type="bind", source=str(layers[1] / "etc" / "hosts"), options=("rbind", "ro"))]


def test_a_directory_in_several_layers_is_an_overlay_of_their_copies(layers: list[Path]) -> None:
    want = [Mount(type="overlay", source="overlay",
                  options=("ro", f"lowerdir={layers[0] / 'etc' / 'app'}:{layers[1] / 'etc' / 'app'}"))]
    assert subtree_mounts(_view(layers), "etc/app") == want
    assert subtree_mounts(_view(layers), "sub/link") == want  # a relative symlink inside the view is followed


@pytest.mark.parametrize("path", ["opaque", "shadow"])
def test_an_opaque_directory_or_one_above_a_file_stops_the_lower_copies(layers: list[Path], path: str) -> None:
    assert subtree_mounts(_view(layers), path) == [
        Mount(type="bind", source=str(layers[0] / path), options=("rbind", "ro"))]


def test_the_root_is_every_layer(layers: list[Path]) -> None:
    assert subtree_mounts(_view(layers), ".")[0].options == ("ro", f"lowerdir={layers[0]}:{layers[1]}")


@pytest.mark.parametrize(("path", "message"), [
    ("etc/gone", "cannot access path"),  # whited out above
    ("nothere", "cannot access path"),
    ("abs", "escapes the base directory"),
    ("up/x", "escapes the base directory"),
])
def test_missing_or_escaping_paths_are_invalid(layers: list[Path], path: str, message: str) -> None:
    with pytest.raises(errors.InvalidArgument, match=message):
        subtree_mounts(_view(layers), path)


def test_a_one_layer_view_is_a_bind_and_an_active_snapshot_is_refused(layers: list[Path]) -> None:
    bind = [Mount(type="bind", source=str(layers[1]), options=("ro", "rbind"))]
    assert subtree_mounts(bind, "data") == [Mount(type="bind", source=str(layers[1] / "data"), options=("rbind", "ro"))]
    active = [Mount(type="overlay", source="overlay", options=(f"upperdir={layers[0]}", f"lowerdir={layers[1]}"))]
    with pytest.raises(errors.InvalidArgument, match="read-only view"):
        subtree_mounts(active, "data")
