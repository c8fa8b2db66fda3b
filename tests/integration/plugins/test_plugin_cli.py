"""``dockyard plugin``: create from a directory, ls (docker's columns), inspect, set, enable, disable
and rm, against a real daemon, with the managed volume plugin of test_managed_plugin."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from tests.conftest import Daemon
from tests.integration.plugins.test_managed_plugin import CONFIG, plugin_context

pytestmark = pytest.mark.root


def out(d: Daemon, *args: str, ok: bool = True) -> str:
    r = d.cli(*args)
    assert (r.returncode == 0) == ok, (args, r.stdout.decode(), r.stderr.decode())
    return (r.stdout if ok else r.stderr).decode()


def plugin_dir(tmp_path: Path, config: dict[str, object]) -> Path:
    with tarfile.open(fileobj=io.BytesIO(plugin_context(config))) as tf:
        tf.extractall(tmp_path / "dirvol", filter="tar")
    return tmp_path / "dirvol"


def test_plugin_commands(fresh_daemon: Daemon, tmp_path: Path) -> None:
    d = fresh_daemon
    long_desc = "directories as volumes, each under the plugin's rootfs, named by the prefix setting"
    src = plugin_dir(tmp_path, {**CONFIG, "Description": long_desc})
    assert out(d, "plugin", "create", "dirvol", str(src)) == "dirvol\n"
    assert "already exists" in out(d, "plugin", "create", "dirvol", str(src), ok=False)
    pid = json.loads(out(d, "plugin", "inspect", "dirvol"))[0]["Id"]

    lines = out(d, "plugin", "ls").splitlines()
    assert lines[0].split() == ["ID", "NAME", "DESCRIPTION", "ENABLED"]
    assert lines[1].split()[:2] == [pid[:12], "dirvol"] and lines[1].split()[-1] == "false"
    assert long_desc[:44] + "…" in lines[1] and long_desc not in lines[1]
    assert long_desc in out(d, "plugin", "ls", "--no-trunc")
    assert out(d, "plugin", "ls", "-q", "--no-trunc") == pid + "\n"

    out(d, "plugin", "set", "dirvol", "VOLUME_PREFIX=p-")
    assert out(d, "plugin", "inspect", "-f", "{{.Settings.Env}}", "dirvol") == "[VOLUME_PREFIX=p-]\n"
    assert "NOPE" in out(d, "plugin", "set", "dirvol", "NOPE=1", ok=False)

    assert out(d, "plugin", "enable", "--timeout", "20", "dirvol") == "dirvol\n"
    assert out(d, "plugin", "ls", "--filter", "enabled=true", "--format", "{{.Name}} {{.Enabled}}") == "dirvol true\n"
    assert "enabled" in out(d, "plugin", "rm", "dirvol", ok=False)
    assert out(d, "plugin", "disable", "dirvol") == "dirvol\n"
    assert out(d, "plugin", "rm", "dirvol") == "dirvol\n"
    assert out(d, "plugin", "ls", "-q") == ""
    assert "Error: No such plugin: dirvol" in out(d, "plugin", "inspect", "dirvol", ok=False)


def test_create_needs_config_and_rootfs(daemon: Daemon, tmp_path: Path) -> None:
    assert "no config.json" in out(daemon, "plugin", "create", "x", str(tmp_path), ok=False)
    (tmp_path / "config.json").write_text("{}")
    assert "no rootfs" in out(daemon, "plugin", "create", "x", str(tmp_path), ok=False)
