"""``docker plugin set`` as dockerd allows it (Docker's plugin config docs): settable Env values, a mount's
``source``, a device's ``path`` and the ``args``; what cannot be set refused, nothing changed by a
refused set; the settings reach the plugin's runtime spec."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from dockyard import errors
from dockyard.plugins.discovery import PluginRegistry
from dockyard.plugins.managed import ManagedPlugins

CONFIG = {
    "Interface": {"Types": ["docker.volumedriver/1.0"], "Socket": "p.sock"}, "Entrypoint": ["/plugin"],
    "Env": [{"Name": "DEBUG", "Value": "0", "Settable": ["value"]}, {"Name": "FIXED", "Value": "1"}],
    "Mounts": [{"Name": "data", "Source": "/var/lib/p", "Destination": "/data", "Type": "bind",
                "Options": ["rbind"], "Settable": ["source"]},
               {"Name": "etc", "Source": "/etc", "Destination": "/host-etc", "Type": "bind", "Options": ["rbind"]}],
    "Linux": {"Devices": [{"Name": "dev", "Path": "/dev/null", "Settable": ["path"]}]},
    "Args": {"Name": "args", "Settable": ["value"], "Value": ["--quiet"]},
}


def _context(cfg: dict[str, object]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        data = json.dumps(cfg).encode()
        info = tarfile.TarInfo("config.json")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
        d = tarfile.TarInfo("rootfs")
        d.type = tarfile.DIRTYPE
        tf.addfile(d)
    return buf.getvalue()


@pytest.fixture
def plugins(tmp_path: Path) -> ManagedPlugins:
    m = ManagedPlugins(tmp_path / "plugins", tmp_path / "run", "test", PluginRegistry([], []))
    m.create("p", _context(CONFIG))
    return m


def test_settings_start_as_the_configs(plugins: ManagedPlugins) -> None:
    s = plugins.get("p")["Settings"]
    assert s["Env"] == ["DEBUG=0", "FIXED=1"] and s["Args"] == ["--quiet"]
    assert [m["Source"] for m in s["Mounts"]] == ["/var/lib/p", "/etc"]
    assert [d["Path"] for d in s["Devices"]] == ["/dev/null"]


def test_set_env_mount_source_device_path_and_args(plugins: ManagedPlugins) -> None:
    plugins.set("p", ["DEBUG=1", "data.source=/srv/p", "dev=/dev/zero", "args=-v --fast"])
    p = plugins.get("p")
    assert p["Settings"]["Env"] == ["DEBUG=1", "FIXED=1"]
    assert p["Settings"]["Mounts"][0]["Source"] == "/srv/p" and p["Config"]["Mounts"][0]["Source"] == "/srv/p"
    assert p["Settings"]["Devices"][0]["Path"] == "/dev/zero" and p["Config"]["Linux"]["Devices"][0]["Path"] == "/dev/zero"
    assert p["Settings"]["Args"] == ["-v", "--fast"]
    spec = plugins.spec(p)
    assert spec["process"]["args"] == ["/plugin", "-v", "--fast"] and "DEBUG=1" in spec["process"]["env"]
    assert {"destination": "/data", "type": "bind", "source": "/srv/p", "options": ["rbind"]} in spec["mounts"]
    [dev] = spec["linux"]["devices"]
    assert (dev["path"], dev["type"], dev["major"], dev["minor"]) == ("/dev/zero", "c", 1, 5)
    assert {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"} in spec["linux"]["resources"]["devices"]


@pytest.mark.parametrize(("arg", "message"), [
    ("FIXED=2", "'FIXED' is not settable"),
    ("etc.source=/tmp", "'etc.source' is not settable"),
    ("data.destination=/x", "'data.destination' is not settable"),
    ("DEBUG.path=1", "'DEBUG.path' is not settable"),
    ("NOPE=1", "setting 'NOPE' not found in the plugin configuration"),
    ("=1", "invalid format, must be <name>[.<field>][=<value>]"),
])
def test_what_cannot_be_set_is_refused_and_nothing_changes(plugins: ManagedPlugins, arg: str, message: str) -> None:
    before = plugins.get("p")
    with pytest.raises(errors.InvalidArgument) as err:
        plugins.set("p", ["DEBUG=1", arg])
    assert str(err.value) == message
    assert plugins.get("p") == before


def test_a_device_that_is_not_one_is_refused_at_spec(plugins: ManagedPlugins) -> None:
    plugins.set("p", ["dev.path=/etc/hostname"])
    with pytest.raises(errors.InvalidArgument, match="not a device node"):
        plugins.spec(plugins.get("p"))
