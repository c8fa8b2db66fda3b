"""User-namespace maps, the import-free JSON, the plain status class and the refusals (no root)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from dockyard.errors import InvalidArgument, NotImplementedYet
from dockyard.runtime import fastjson
from dockyard.runtime.container import ContainerStatus, validate_id
from dockyard.runtime.linux import syscalls as sc
from dockyard.runtime.linux.mountopts import parse_options
from dockyard.runtime.linux.userns import format_map, host_id, validate

MAP = [{"containerID": 0, "hostID": 100000, "size": 65536}]


def test_format_map_and_host_id() -> None:
    two = MAP + [{"containerID": 65536, "hostID": 5000, "size": 1}]
    assert format_map(two) == "0 100000 65536\n65536 5000 1\n"
    assert host_id(two, 0) == 100000
    assert host_id(two, 1000) == 101000
    assert host_id(two, 65536) == 5000
    assert host_id(two, 70000) is None


@pytest.mark.parametrize("bad", [{"containerID": 0, "hostID": 1}, {"containerID": 0, "hostID": -1, "size": 1},
                                 {"containerID": 0, "hostID": 1, "size": 0}])
def test_format_map_rejects(bad: dict[str, int]) -> None:
    with pytest.raises(InvalidArgument):
        format_map([bad])


def test_validate_userns_rules() -> None:
    validate({"uidMappings": MAP, "gidMappings": MAP}, True, True)
    with pytest.raises(InvalidArgument, match="no uid or gid mappings"):
        validate({"uidMappings": MAP}, True, True)
    with pytest.raises(InvalidArgument, match="not enabled"):
        validate({"uidMappings": MAP, "gidMappings": MAP}, False, False)
    validate({}, False, True)  # joining by path: the maps belong to whoever made it


@pytest.mark.parametrize("doc", [{"a": [1, 2.5, None, True, False, "é\n\"x"]}, [], {}, "s", 0, {"n": {"m": [{}]}}])
def test_fastjson_matches_json(doc: object) -> None:
    text = fastjson.dumps(doc)
    assert text == json.dumps(doc, separators=(",", ":"))
    assert fastjson.loads(" \n" + json.dumps(doc, indent=2) + "\n") == doc
    assert fastjson.loads(text.encode()) == doc


@pytest.mark.parametrize("bad", ["{", "{} x", "", "[1,]"])
def test_fastjson_errors_are_json_errors(bad: str) -> None:
    with pytest.raises(json.JSONDecodeError):
        fastjson.loads(bad)


def test_status_singletons_and_guards() -> None:
    assert ContainerStatus.from_value("paused") is ContainerStatus.PAUSED
    assert ContainerStatus.CREATED.can_start() and not ContainerStatus.RUNNING.can_start()
    assert ContainerStatus.STOPPED.value == "stopped"


@pytest.mark.parametrize("cid", ["a", "A-b_c.d+e", "x" * 1024])
def test_valid_ids(cid: str) -> None:
    assert validate_id(cid) == cid


@pytest.mark.parametrize("cid", ["", ".", "..", "-a", "a/b", "a b", "x" * 1025, "é"])
def test_invalid_ids(cid: str) -> None:
    with pytest.raises(InvalidArgument):
        validate_id(cid)


def test_mount_options_plain_class() -> None:
    opts = parse_options(["rbind", "ro", "rprivate", "mode=755"])
    assert opts == (sc.MS_BIND | sc.MS_REC | sc.MS_RDONLY, (sc.MS_PRIVATE | sc.MS_REC,), "mode=755")
    flags, prop, data = opts._replace(data="")
    assert (flags, prop, data) == (opts.flags, opts.propagation, "")


def test_checkpoint_restore_and_systemd_refused() -> None:
    from dockyard.runtime.cli import build_parser, dispatch

    p = build_parser()
    with pytest.raises(NotImplementedYet, match="checkpoint is not supported"):
        dispatch(p.parse_known_args(["checkpoint", "--image-path", "/x", "c1"])[0])
    with pytest.raises(NotImplementedYet, match="systemd cgroup driver is not supported"):
        dispatch(p.parse_args(["--systemd-cgroup", "create", "c1"]))


def test_features_lists_user_namespace() -> None:
    from dockyard.runtime.cli import _features

    assert "user" in _features()["linux"]["namespaces"]


def test_hot_verbs_import_neither_json_nor_enum() -> None:
    """The import budget that keeps state/start/kill/delete near a bare interpreter start."""
    code = ("import sys\n"
            "from dockyard.runtime.lifecycle import create, start, kill, delete, state\n"
            "from dockyard.runtime.process import main\n"
            "bad = sorted({'json', 're', 'enum', 'socket', 'signal', 'contextlib', 'collections'} & set(sys.modules))\n"
            "print(','.join(bad))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""


@pytest.mark.parametrize("doc", [{"a": 1, "b": {}, "c": [], "d": {"e": [1, {"f": None}]}, "g": "é"}, [], {}, 3])
def test_pretty_json_matches_indent_2(doc: object) -> None:
    from dockyard.runtime.cli import pretty_json

    assert pretty_json(doc) == json.dumps(doc, indent=2)
