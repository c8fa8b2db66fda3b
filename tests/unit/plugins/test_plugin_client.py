"""The legacy plugin client and discovery against plugins served in the test (no daemon)."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from dockyard import errors
from dockyard.plugins.client import PluginClient, backoff
from dockyard.plugins.discovery import PluginRegistry
from tests.plugin_fakes import FakePlugin


def test_backoff_is_dockers() -> None:
    assert [backoff(n) for n in range(8)] == [1, 2, 4, 8, 16, 32, 32, 32]


def test_activate_then_call(tmp_path: Path) -> None:
    with FakePlugin(tmp_path / "p.sock", ["VolumeDriver"], {"VolumeDriver.Path": lambda a: {"Mountpoint": "/x"}}) as fp:
        reg = PluginRegistry([str(tmp_path)], [])
        plugin = reg.get("p", "VolumeDriver")
        assert plugin.call("VolumeDriver.Path", {"Name": "v"}) == {"Mountpoint": "/x"}
        reg.get("p", "VolumeDriver")  # activated once, remembered
        assert fp.calls == [("Plugin.Activate", {}), ("VolumeDriver.Path", {"Name": "v"})]
        with pytest.raises(errors.InvalidArgument, match="does not implement authz"):
            reg.get("p", "authz")


def test_discovery_order_and_spec_files(tmp_path: Path) -> None:
    socks, specs = tmp_path / "run", tmp_path / "etc"
    specs.mkdir()
    (specs / "a.spec").write_text("unix:///somewhere/a.sock\n")
    (specs / "b.json").write_text(json.dumps({"Name": "b", "Addr": "tcp://127.0.0.1:9"}))
    (specs / "c.spec").write_text("http://nope\n")
    reg = PluginRegistry([str(socks)], [str(specs)])
    assert reg.locate("a") == "unix:///somewhere/a.sock"
    assert reg.locate("b") == "tcp://127.0.0.1:9"
    with pytest.raises(errors.InvalidArgument, match="unix:// or tcp://"):
        reg.locate("c")
    with FakePlugin(socks / "a" / "a.sock", [], {}):  # a socket wins over a spec file
        assert reg.locate("a") == f"unix://{socks / 'a' / 'a.sock'}"
    for bad in ("missing", "../etc/a", ""):
        with pytest.raises(errors.NotFound, match="not found"):
            reg.locate(bad)


def test_refused_plugin_is_retried_then_reported(tmp_path: Path) -> None:
    path = tmp_path / "dead.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))  # a socket file nobody listens on: connection refused
    s.close()
    client = PluginClient("dead", f"unix://{path}", retry_window=2.5, request_timeout=1)
    start = time.monotonic()
    with pytest.raises(errors.Unavailable, match="plugin dead is not reachable"):
        client.call("Plugin.Activate")
    took = time.monotonic() - start
    assert 0.9 < took < 2.5, took  # one 1 s back-off; the 2 s one would pass the window


def test_silent_plugin_times_out(tmp_path: Path) -> None:
    path = tmp_path / "mute.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    s.listen(1)  # accepted by the kernel, never answered
    try:
        client = PluginClient("mute", f"unix://{path}", retry_window=30, request_timeout=0.5)
        start = time.monotonic()
        with pytest.raises(errors.Unavailable, match=r"plugin mute: Plugin.Activate: no answer within 0.5s"):
            client.call("Plugin.Activate")
        assert time.monotonic() - start < 2
    finally:
        s.close()


@pytest.mark.parametrize("answer,message", [
    (b"not json", "malformed answer"),
    ([1, 2], "malformed answer"),
    ({"Err": "disk on fire"}, "plugin p: VolumeDriver.Create: disk on fire"),
])
def test_bad_answers_are_errors(tmp_path: Path, answer: object, message: str) -> None:
    with FakePlugin(tmp_path / "p.sock", ["VolumeDriver"], {"VolumeDriver.Create": lambda a: answer}):
        client = PluginClient("p", f"unix://{tmp_path / 'p.sock'}", retry_window=1)
        with pytest.raises(errors.Internal, match=message):
            client.call("VolumeDriver.Create", {"Name": "v"})


def test_activate_without_implements_is_refused(tmp_path: Path) -> None:
    with FakePlugin(tmp_path / "p.sock", [], {"Plugin.Activate": lambda a: {"Implements": "VolumeDriver"}}):
        with pytest.raises(errors.Internal, match="no Implements list"):
            PluginRegistry([str(tmp_path)], []).get("p", "VolumeDriver")


def test_unknown_method_status_is_an_error(tmp_path: Path) -> None:
    with FakePlugin(tmp_path / "p.sock", [], {}):
        client = PluginClient("p", f"unix://{tmp_path / 'p.sock'}", retry_window=1)
        with pytest.raises(errors.Internal, match="unknown method VolumeDriver.Get"):
            client.call("VolumeDriver.Get", {"Name": "v"})


def test_managed_mountpoint_stays_in_the_plugin_root(tmp_path: Path) -> None:
    from dockyard.plugins.discovery import Plugin
    from dockyard.volumes.plugin import _mountpoint

    root = tmp_path / "rootfs"
    (root / "volumes" / "v").mkdir(parents=True)
    (root / "volumes" / "out").symlink_to("/")
    plugin = Plugin("m", "unix:///x", PluginClient("m", "unix:///x"), ["VolumeDriver"], str(root))
    assert _mountpoint(plugin, "VolumeDriver.Mount", {"Mountpoint": "/volumes/v"}) == str(root / "volumes" / "v")
    for bad in ("/volumes/out", "/../../etc", "relative"):
        with pytest.raises(errors.Internal, match="Mountpoint"):
            _mountpoint(plugin, "VolumeDriver.Mount", {"Mountpoint": bad})
