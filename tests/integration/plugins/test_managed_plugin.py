"""A managed plugin through the Engine API: created from a directory (config.json + rootfs), enabled
(its entrypoint runs in a container of its own and makes its socket), used as a volume driver,
set, disabled, removed."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.conftest import Daemon
from tests.httpcall import call

pytestmark = pytest.mark.root
HERE = Path(__file__).resolve().parent


def api(d: Daemon, method: str, path: str, body: Any = None, raw: bytes | None = None) -> tuple[int, Any]:
    return call(d, method, path, body, raw)


def plugin_context(config: dict[str, Any]) -> bytes:
    """config.json + rootfs/ (the host's /usr bound in read-only by the config, so python3 runs)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        def add(name: str, data: bytes | None = None, kind: bytes = tarfile.REGTYPE, link: str = "") -> None:
            info = tarfile.TarInfo(name)
            info.type, info.linkname, info.mode = kind, link, 0o755
            info.size = len(data or b"")
            tf.addfile(info, io.BytesIO(data or b"") if data is not None else None)
        add("config.json", json.dumps(config).encode())
        for d in ("rootfs", "rootfs/usr", "rootfs/etc", "rootfs/tmp", "rootfs/proc", "rootfs/sys", "rootfs/dev",
                  "rootfs/run", "rootfs/run/docker", "rootfs/run/docker/plugins"):
            add(d, kind=tarfile.DIRTYPE)
        for link in ("bin", "lib", "lib64", "sbin"):
            add(f"rootfs/{link}", kind=tarfile.SYMTYPE, link=f"usr/{link}")
        add("rootfs/plugin.py", (HERE / "dirvolume_plugin.py").read_bytes())
    return buf.getvalue()


CONFIG = {
    "Description": "directories as volumes", "Documentation": "https://example.invalid",
    "Interface": {"Types": ["docker.volumedriver/1.0"], "Socket": "dirvol.sock"},
    "Entrypoint": ["/usr/bin/python3", "/plugin.py"],
    "Network": {"Type": "none"},
    "Mounts": [{"Source": "/usr", "Destination": "/usr", "Type": "bind", "Options": ["rbind", "ro"]}],
    "Env": [{"Name": "VOLUME_PREFIX", "Value": "", "Settable": ["value"]}],
}


def test_managed_volume_plugin_lifecycle(fresh_daemon: Daemon) -> None:
    d = fresh_daemon
    assert api(d, "POST", "/v1.47/plugins/create?name=dirvol", raw=plugin_context(CONFIG))[0] == 204
    status, p = api(d, "GET", "/v1.47/plugins/dirvol/json")
    assert status == 200 and p["Name"] == "dirvol:latest" and p["Enabled"] is False
    assert p["Settings"]["Env"] == ["VOLUME_PREFIX="]
    assert api(d, "POST", "/plugins/dirvol/set", ["VOLUME_PREFIX=p-"])[0] == 204
    status, err = api(d, "POST", "/plugins/dirvol/set", ["NOPE=1"])
    assert status == 400 and "NOPE" in err["message"]

    status, err = api(d, "POST", "/plugins/dirvol:latest/enable?timeout=20")
    assert status == 200, err
    status, listed = api(d, "GET", "/plugins?filters=" + quote(json.dumps({"enable": ["true"]})))
    assert [x["Name"] for x in listed] == ["dirvol:latest"]
    status, err = api(d, "POST", "/plugins/dirvol/set", ["VOLUME_PREFIX=x"])
    assert status == 409 and "active plugin" in err["message"]

    rootfs = d.data_root / "plugins" / p["Id"] / "rootfs"
    r = d.cli("volume", "create", "-d", "dirvol", "mv1")
    assert r.returncode == 0, r.stderr.decode()
    r = d.cli("run", "--rm", "-v", "mv1:/data", "busybox", "sh", "-c", "echo managed > /data/f")
    assert r.returncode == 0, r.stderr.decode()
    assert (rootfs / "volumes" / "p-mv1" / "f").read_text() == "managed\n"  # the setting reached the plugin

    status, err = api(d, "POST", "/plugins/dirvol/disable")
    assert status == 409 and "in use" in err["message"]
    assert d.cli("volume", "rm", "mv1").returncode == 0
    assert not (rootfs / "volumes" / "p-mv1").exists()
    status, err = api(d, "DELETE", "/plugins/dirvol")
    assert status == 409 and "enabled" in err["message"]
    assert api(d, "POST", "/plugins/dirvol/disable")[0] == 200
    ps = subprocess.run(["pgrep", "-f", "/plugin.py"], check=False, capture_output=True, text=True).stdout.split()
    assert not [pid for pid in ps if Path(f"/proc/{pid}/root").resolve() == rootfs.resolve()]
    r = d.cli("volume", "create", "-d", "dirvol", "mv2")
    assert r.returncode != 0 and 'plugin "dirvol" not found' in r.stderr.decode()
    assert api(d, "DELETE", "/plugins/dirvol")[0] == 200
    assert api(d, "GET", "/plugins") == (200, [])
    assert not (d.data_root / "plugins" / p["Id"]).exists()


@pytest.mark.parametrize("config,message", [
    ({**CONFIG, "Interface": {"Types": ["docker.volumedriver/1.0"]}}, "Interface needs Types and Socket"),
    ({**CONFIG, "Interface": {"Types": ["docker.bogus/9"], "Socket": "s.sock"}}, "unknown interface types"),
    ({**CONFIG, "Entrypoint": []}, "Entrypoint"),
])
def test_bad_plugin_configs_are_refused(daemon: Daemon, config: dict[str, Any], message: str) -> None:
    status, err = api(daemon, "POST", "/plugins/create?name=bad", raw=plugin_context(config))
    assert status == 400 and message in err["message"]
    assert api(daemon, "GET", "/plugins/bad/json")[0] == 404


def test_plugin_that_exits_is_reported(fresh_daemon: Daemon) -> None:
    d = fresh_daemon
    config = {**CONFIG, "Entrypoint": ["/usr/bin/python3", "-c", "raise SystemExit(3)"]}
    assert api(d, "POST", "/plugins/create?name=quitter", raw=plugin_context(config))[0] == 204
    status, err = api(d, "POST", "/plugins/quitter/enable?timeout=10")
    assert status == 500 and "exited with status 3" in err["message"], err
    assert api(d, "GET", "/plugins/quitter/json")[1]["Enabled"] is False
    assert api(d, "DELETE", "/plugins/quitter")[0] == 200


def test_enabled_plugin_runs_again_after_a_daemon_restart(fresh_daemon: Daemon) -> None:
    d = fresh_daemon
    assert api(d, "POST", "/plugins/create?name=dirvol", raw=plugin_context(CONFIG))[0] == 204
    assert api(d, "POST", "/plugins/dirvol/enable?timeout=20")[0] == 200
    pid = api(d, "GET", "/plugins/dirvol/json")[1]["Id"]
    d.stop()
    # the plugin's task outlives the daemon (as containers do); kill it, so the restart must start it again
    for shim in d.exec_root.glob(f"containerd/tasks/plugins/{pid}/init.pid"):
        os.kill(int(shim.read_text()), 9)
    d.start()
    status, p = api(d, "GET", "/plugins/dirvol/json")
    assert status == 200 and p["Enabled"] is True
    r = d.cli("volume", "create", "-d", "dirvol", "after-restart")
    assert r.returncode == 0, r.stderr.decode()
    assert (d.data_root / "plugins" / pid / "rootfs" / "volumes" / "after-restart").is_dir()
    assert d.cli("volume", "rm", "after-restart").returncode == 0
    assert api(d, "DELETE", "/plugins/dirvol?force=1")[0] == 200
