"""volumes/bindopts.py: a bind's spec options as dockerd's WithMounts writes them."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard import errors
from dockyard.volumes import bindopts


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


def test_a_shared_bind_shares_the_root_only_from_a_shared_mount(tmp_path: Path) -> None:
    info = tmp_path / "mountinfo"
    info.write_text("27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
                    "90 27 254:0 /tmp/s /tmp/s rw,relatime shared:7 - ext4 /dev/vda rw\n")
    spec: dict = {"linux": {}}
    bindopts.share_root(spec, "/tmp/s/sub", "rshared", str(info))
    assert spec["linux"]["rootfsPropagation"] == "shared"
    private: dict = {"linux": {}}
    bindopts.share_root(private, "/var/x", "shared", str(info))
    bindopts.share_root(private, "/tmp/s", "rslave", str(info))
    assert "rootfsPropagation" not in private["linux"]
