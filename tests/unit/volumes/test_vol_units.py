"""Mount syntaxes, the local driver, and the overlay-merging copy-up."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard import errors
from dockyard.engine.container import Container
from dockyard.volumes import service
from dockyard.volumes.local import LocalDriver


def test_parse_bind_forms() -> None:
    p = service.parse_bind("/host/dir:/data:ro,rslave")
    assert (p.type, p.source, p.destination, p.rw, p.propagation) == ("bind", "/host/dir", "/data", False, "rslave")
    v = service.parse_bind("myvol:/data:nocopy")
    assert (v.type, v.source, v.nocopy) == ("volume", "myvol", True)
    anon = service.parse_bind("/data")
    assert (anon.type, anon.source) == ("volume", "")
    with pytest.raises(errors.InvalidArgument):
        service.parse_bind("v:relative")
    with pytest.raises(errors.InvalidArgument):
        service.parse_bind("v:/d:bogus")


def test_parse_mount_and_tmpfs() -> None:
    t = service.parse_mount({"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 8 << 20, "Mode": 0o1777}})
    assert service.tmpfs_spec(t)["options"] == ["nosuid", "nodev", "noexec", f"size={8 << 20}", "mode=1777"]
    b = service.parse_mount({"Type": "bind", "Source": "/x", "Target": "/y", "ReadOnly": True})
    assert (b.rw, b.create_source) == (False, False)
    with pytest.raises(errors.InvalidArgument):
        service.parse_mount({"Type": "nfs", "Target": "/y"})
    assert service.tmpfs_spec(service.parse_tmpfs("/s", "size=8m,exec"))["options"] == ["nosuid", "nodev", "size=8m"]


def test_local_driver_lifecycle(tmp_path: Path) -> None:
    d = LocalDriver(tmp_path / "volumes")
    v = d.create("data1", {"a": "b"}, {})
    assert v["Mountpoint"] == str(tmp_path / "volumes" / "data1" / "_data") and Path(v["Mountpoint"]).is_dir()
    assert d.create("data1", {}, {})["Labels"] == {"a": "b"}  # idempotent
    assert [x["Name"] for x in d.list()] == ["data1"]
    (Path(v["Mountpoint"]) / "f").write_text("12345")
    assert d.usage("data1") == 5
    os.link(Path(v["Mountpoint"]) / "f", Path(v["Mountpoint"]) / "g")  # a hard link counts once
    assert d.usage("data1") == 5
    d.remove("data1")
    with pytest.raises(errors.NotFound):
        d.get("data1")
    with pytest.raises(errors.InvalidArgument):
        d.create("bad/name", {}, {})


def test_in_use_volume_is_refused(tmp_path: Path) -> None:
    svc = service.VolumeService(tmp_path)
    svc.create("busy")
    svc.containers = lambda: [Container({"Id": "c1", "Mounts": [{"Type": "volume", "Name": "busy"}]})]
    with pytest.raises(errors.Conflict, match="volume is in use"):
        svc.remove("busy")
