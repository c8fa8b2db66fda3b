"""--userns-remap values: ranges from subuid/subgid files, the numeric shorthand, the spec."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard import errors
from dockyard.archive.idmap import OVERFLOW_ID, IdRange
from dockyard.containerd.snapshots.remap import ranges
from dockyard.engine import userns
from dockyard.oci.runtime_spec import default_spec


def test_numeric_without_account_is_the_range_start(tmp_path: Path) -> None:
    assert userns.parse("231072:231073", tmp_path) == userns.Remap(231072, 231073, 65536)


def test_user_ranges_come_from_subuid_and_subgid(tmp_path: Path) -> None:
    (tmp_path / "subuid").write_text("other:1:2\nroot:300000:70000\n")
    (tmp_path / "subgid").write_text("root:400000:65536\n")
    assert userns.parse("root", tmp_path) == userns.Remap(300000, 400000, 65536)


def test_user_without_ranges_is_refused(tmp_path: Path) -> None:
    with pytest.raises(errors.InvalidArgument, match="subuid/subgid"):
        userns.parse("root", tmp_path)


def test_apply_adds_the_namespace_unless_userns_host() -> None:
    remap = userns.Remap(231072, 231072)
    spec = default_spec(["true"])
    assert userns.apply(spec, {}, remap)
    assert {"type": "user"} in spec["linux"]["namespaces"]
    assert spec["linux"]["uidMappings"] == [{"containerID": 0, "hostID": 231072, "size": 65536}]
    plain = default_spec(["true"])
    assert not userns.apply(plain, {"UsernsMode": "host"}, remap)
    assert "uidMappings" not in plain["linux"] or plain["linux"]["uidMappings"] != spec["linux"]["uidMappings"]
    with pytest.raises(errors.InvalidArgument, match="invalid USER mode"):
        userns.apply(default_spec(["true"]), {"UsernsMode": "private"}, remap)


def test_snapshot_labels_round_trip_and_shift() -> None:
    uids, gids = ranges(userns.Remap(231072, 231072).snapshot_labels())  # type: ignore[misc]
    assert uids == gids == IdRange(0, 231072, 65536)
    assert uids.shift(0) == 231072 and uids.shift(65535) == 231072 + 65535
    assert uids.shift(65536) == OVERFLOW_ID
