"""volumes/bindopts.py: a bind's spec options as dockerd's WithMounts writes them."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard import errors
from dockyard.volumes import bindopts, service


def test_options_by_bind_options() -> None:
    assert bindopts.spec_options("bind", True, "") == ["rbind", "rw", "rprivate"]
    assert bindopts.spec_options("bind", True, "rslave", non_recursive=True) == ["bind", "rw", "rslave"]
    ro = ["rbind", "ro", "rro", "rprivate"] if bindopts.rro_supported() else ["rbind", "ro", "rprivate"]
    assert bindopts.spec_options("bind", False, "") == ro
    assert bindopts.spec_options("volume", False, "") == ro
    assert bindopts.spec_options("bind", False, "", ro_non_recursive=True) == ["rbind", "ro", "rprivate"]


def test_an_old_client_gets_non_recursive_read_only_binds() -> None:
    token = bindopts.OLD_CLIENT_RO_NON_RECURSIVE.set(True)
    try:
        assert bindopts.spec_options("bind", False, "") == ["rbind", "ro", "rprivate"]
        assert "rro" in bindopts.spec_options("volume", False, "") or not bindopts.rro_supported()
    finally:
        bindopts.OLD_CLIENT_RO_NON_RECURSIVE.reset(token)


def test_for_client_by_api_version() -> None:
    host = {"Mounts": [{"Type": "bind", "Source": "/x", "Target": "/y", "BindOptions": {"NonRecursive": True}}]}
    bindopts.for_client(host, (1, 39))
    assert host["Mounts"][0]["BindOptions"]["NonRecursive"] is False
    forced = {"Mounts": [{"Type": "bind", "Source": "/x", "Target": "/y", "ReadOnly": True,
                          "BindOptions": {"ReadOnlyForceRecursive": True}}]}
    with pytest.raises(errors.InvalidArgument, match="needs API v1.44"):
        bindopts.for_client(forced, (1, 43))
    bindopts.for_client(forced, (1, 44))


def test_rro_needs_linux_5_12() -> None:
    assert bindopts.rro_supported("5.12.0") and bindopts.rro_supported("6.1.0-13-amd64")
    assert not bindopts.rro_supported("5.11.22") and not bindopts.rro_supported("4.19.0")


def test_user_mounts_replace_defaults_and_dev_takes_its_subtree() -> None:
    defaults = [{"destination": d} for d in ("/proc", "/dev", "/dev/pts", "/dev/shm", "/sys", "/sbin/docker-init")]
    kept = bindopts.drop_shadowed(defaults, {"/dev"})
    assert [m["destination"] for m in kept] == ["/proc", "/sys", "/sbin/docker-init"]
    kept = bindopts.drop_shadowed(defaults, {"/dev/shm", "/data"})
    assert [m["destination"] for m in kept] == ["/proc", "/dev", "/dev/pts", "/sys", "/sbin/docker-init"]


def test_a_shared_bind_shares_the_root() -> None:
    spec: dict = {"linux": {}}
    bindopts.share_root(spec, "rshared")
    assert spec["linux"]["rootfsPropagation"] == "shared"
    private: dict = {"linux": {}}
    bindopts.share_root(private, "rslave")
    bindopts.share_root(private, "private")
    assert "rootfsPropagation" not in private["linux"]


def _mountinfo(tmp_path: Path, *lines: str) -> str:
    info = tmp_path / "mountinfo"
    info.write_text("27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n" + "".join(f"{line}\n" for line in lines))
    return str(info)


def test_propagation_needs_a_shared_or_slave_source_mount(tmp_path: Path) -> None:
    """dockerd's ensureShared / ensureSharedOrSlave, against the mount holding the source; of two
    mounts at one path the later (on top) counts."""
    for name in ("s", "m", "p"):
        (tmp_path / name / "sub").mkdir(parents=True)
    info = _mountinfo(tmp_path, f"90 27 254:0 /s {tmp_path}/s rw shared:7 - ext4 /dev/vda rw",
                      f"91 27 254:0 /m {tmp_path}/m rw master:7 - ext4 /dev/vda rw",
                      f"92 27 254:0 /p {tmp_path}/p rw shared:8 - ext4 /dev/vda rw",
                      f"93 92 254:0 /p {tmp_path}/p rw - ext4 /dev/vda rw")
    check = lambda src, prop: bindopts.check_propagation(str(src), prop, "/var/lib/dy", True, info)
    for prop in ("shared", "rshared", "slave", "rslave", "private", ""):
        check(tmp_path / "s" / "sub", prop)
    for prop in ("slave", "rslave"):
        check(tmp_path / "m", prop)
    with pytest.raises(errors.SpecRefused) as refused:
        check(tmp_path / "m" / "sub", "rshared")
    assert str(refused.value) == f"path {tmp_path}/m/sub is mounted on {tmp_path}/m but it is not a shared mount"
    with pytest.raises(errors.SpecRefused) as refused:
        check(tmp_path / "p", "slave")
    assert str(refused.value) == f"path {tmp_path}/p is mounted on {tmp_path}/p but it is not a shared or slave mount"
    with pytest.raises(errors.SpecRefused, match="not a shared mount"):
        check(tmp_path, "shared")  # on /, private
    check(tmp_path / "p", "rprivate")
    with pytest.raises(errors.SpecRefused, match="No such file or directory"):
        check(tmp_path / "gone", "shared")


def test_propagation_of_the_daemon_root(tmp_path: Path) -> None:
    """A bind holding the daemon's root that got rslave without asking falls back, as dockerd's; a source
    inside the root passes (dockerd makes its root a shared mount at its start)."""
    root = tmp_path / "root"
    (root / "containers").mkdir(parents=True)
    info = _mountinfo(tmp_path)
    bindopts.check_propagation(str(tmp_path), "rslave", str(root), False, info)
    with pytest.raises(errors.SpecRefused, match="not a shared or slave mount"):
        bindopts.check_propagation(str(tmp_path), "rslave", str(root), True, info)
    for asked in (True, False):
        bindopts.check_propagation(str(root / "containers"), "rshared", str(root), asked, info)
    assert service.daemon_root_propagation("/var/lib/dy", "/", "") == "rslave"
    assert service.daemon_root_propagation("/var/lib/dy", "/var/lib/dyx", "") == ""
    with pytest.raises(errors.InvalidArgument, match="must use either propagation mode"):
        service.daemon_root_propagation("/var/lib/dy", "/var", "private")
