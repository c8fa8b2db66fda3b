"""A volume plugin written in the test (Docker's VolumeDriver protocol) against a real daemon:
`volume create -d`, `-v name:/path --volume-driver`, writes from the container land in the
plugin's directory, Mount/Unmount pair up, remove goes to the plugin; a dead plugin is reported."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Daemon
from tests.plugin_fakes import directory_volume_driver, plugin_daemon

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def plugin_env(busybox_tar: Path) -> Iterator[tuple[Daemon, Path]]:
    """A daemon that looks for plugin sockets in a temp dir (returned with it), 3 s plugin timeout."""
    with plugin_daemon(busybox_tar, "dyp-") as env:
        yield env


def ok(r: object) -> str:
    assert r.returncode == 0, r.stderr.decode()  # type: ignore[attr-defined]
    return r.stdout.decode()  # type: ignore[attr-defined]


def test_volume_create_mount_write_remove(plugin_env: tuple[Daemon, Path], tmp_path: Path) -> None:
    d, plugins = plugin_env
    data = tmp_path / "served"
    data.mkdir()
    with directory_volume_driver(plugins / "dirvol.sock", data) as fp:
        ok(d.cli("volume", "create", "-d", "dirvol", "--label", "team=a", "pv1"))
        assert (data / "pv1").is_dir()
        v = json.loads(ok(d.cli("volume", "inspect", "pv1")))[0]
        assert v["Driver"] == "dirvol" and v["Mountpoint"] == str(data / "pv1")
        assert v["Labels"] == {"team": "a"} and v["Status"] == {"served": "yes"} and v["Scope"] == "local"
        assert "pv1" in ok(d.cli("volume", "ls", "-q")).split()

        ok(d.cli("run", "--rm", "-v", "pv1:/data", "busybox", "sh", "-c", "echo from-container > /data/hello"))
        assert (data / "pv1" / "hello").read_text() == "from-container\n"
        mount_ids = [a["ID"] for m, a in fp.calls if m == "VolumeDriver.Mount"]
        unmount_ids = [a["ID"] for m, a in fp.calls if m == "VolumeDriver.Unmount"]
        assert len(mount_ids) == 1 and unmount_ids == mount_ids

        r = d.cli("volume", "rm", "pv1")
        assert r.returncode == 0, r.stderr.decode()
        assert not (data / "pv1").exists()
        assert ("VolumeDriver.Remove", {"Name": "pv1"}) in fp.calls
        assert "pv1" not in ok(d.cli("volume", "ls", "-q")).split()


def test_volume_driver_flag_creates_on_the_plugin(plugin_env: tuple[Daemon, Path], tmp_path: Path) -> None:
    d, plugins = plugin_env
    data = tmp_path / "served"
    data.mkdir()
    with directory_volume_driver(plugins / "dirvol2.sock", data) as fp:
        cid = ok(d.cli("create", "--volume-driver", "dirvol2", "-v", "pv2:/data", "busybox",
                       "sh", "-c", "cat /data/seed; echo out > /data/new")).strip()
        (data / "pv2" / "seed").write_text("seeded by the plugin\n")
        # the plugins with volumes are listed, sorted (plugin_env is shared: earlier tests' may be there too)
        listed = json.loads(ok(d.cli("info", "--format", "{{json .Plugins.Volume}}")))
        assert {"dirvol2", "local"} <= set(listed) and listed == sorted(listed)
        assert ok(d.cli("start", "-a", cid)) == "seeded by the plugin\n"
        assert (data / "pv2" / "new").read_text() == "out\n"
        mounts = json.loads(ok(d.cli("inspect", cid)))[0]["Mounts"]
        assert [(m["Name"], m["Driver"], m["Source"]) for m in mounts] == [("pv2", "dirvol2", str(data / "pv2"))]
        r = d.cli("volume", "rm", "pv2")
        assert r.returncode != 0 and "volume is in use" in r.stderr.decode()
        ok(d.cli("rm", cid))
        assert "VolumeDriver.Unmount" in fp.methods_called()
        ok(d.cli("volume", "rm", "pv2"))
        assert not (data / "pv2").exists()


def test_unknown_and_dead_plugins_are_reported(plugin_env: tuple[Daemon, Path]) -> None:
    d, plugins = plugin_env
    r = d.cli("volume", "create", "-d", "nosuch", "x")
    assert r.returncode != 0 and 'plugin "nosuch" not found' in r.stderr.decode()
    dead = plugins / "dead.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(dead))  # there, but nobody listens
    s.close()
    try:
        start = time.monotonic()
        r = d.cli("volume", "create", "-d", "dead", "x", timeout=30)
        assert r.returncode != 0 and "plugin dead is not reachable" in r.stderr.decode(), r.stderr.decode()
        assert time.monotonic() - start < 10
        assert ok(d.cli("version", "--format", "{{.Server.Version}}"))  # the daemon kept serving
    finally:
        dead.unlink()
    assert "x" not in ok(d.cli("volume", "ls", "-q")).split()
