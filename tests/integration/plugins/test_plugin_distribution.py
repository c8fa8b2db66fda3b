"""Managed plugins as registry images against a local ``dockyard registry``: push (a manifest whose config
has the plugin media type), privileges, pull with the privileges granted (wrong ones refused, nothing
kept), the CLI's ``plugin install`` (alias, settings, enabled and serving volumes), ``upgrade`` keeping
the settings, and an image that is not a plugin refused."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from dockyard.trust.registry import Registry
from tests.conftest import Daemon
from tests.httpcall import request
from tests.integration.plugins.test_managed_plugin import CONFIG, api, plugin_context
from tests.unit.registry.dockyard_regkit import Server

pytestmark = pytest.mark.root
PRIVILEGES = [{"Name": "mount", "Description": "host path to mount", "Value": ["/usr"]}]


def ok(r: subprocess.CompletedProcess[bytes]) -> str:
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout.decode()


def stream(d: Daemon, method: str, path: str, body: Any = None) -> tuple[int, list[dict[str, Any]]]:
    status, _, data = request(d, method, path, body)
    return status, [json.loads(x) for x in data.splitlines() if x.strip()]


def make_plugin(d: Daemon, name: str, description: str) -> None:
    status, err = api(d, "POST", f"/plugins/create?name={name}", raw=plugin_context({**CONFIG,
                                                                                     "Description": description}))
    assert status == 204, err


def test_push_privileges_pull_and_refusals(fresh_daemon: Daemon, registry: str) -> None:
    d, ref = fresh_daemon, f"{registry}/dy/dirvol:v1"
    make_plugin(d, ref, "dirs v1")
    status, msgs = stream(d, "POST", f"/plugins/{ref}/push")
    assert status == 200 and msgs[-1]["aux"]["Tag"] == "v1", msgs
    data, digest, media_type = Registry(registry, "dy/dirvol").manifest("v1")
    manifest = json.loads(data)
    assert media_type == "application/vnd.docker.distribution.manifest.v2+json"
    assert manifest["config"]["mediaType"] == "application/vnd.docker.plugin.v1+json"
    assert [x["mediaType"] for x in manifest["layers"]] == ["application/vnd.docker.image.rootfs.diff.tar.gzip"]
    assert msgs[-1]["aux"]["Digest"] == digest
    layer = Registry(registry, "dy/dirvol").blob(manifest["layers"][0]["digest"])
    with tarfile.open(fileobj=io.BytesIO(layer)) as tf:
        assert "plugin.py" in tf.getnames()  # the rootfs, at the layer's root
    assert api(d, "DELETE", f"/plugins/{ref}")[0] == 200

    assert api(d, "GET", f"/plugins/privileges?remote={ref}") == (200, PRIVILEGES)
    status, err = api(d, "POST", f"/plugins/pull?remote={ref}&name=dv", [])
    assert status == 403 and "incorrect privileges" in err["message"], err
    assert api(d, "GET", "/plugins") == (200, [])
    assert sorted(p.name for p in (d.data_root / "plugins").iterdir()) == ["plugins.json"]  # nothing half-pulled

    status, msgs = stream(d, "POST", f"/plugins/pull?remote={ref}&name=dv", PRIVILEGES)
    assert status == 200 and any(m.get("status") == "Download complete" for m in msgs), msgs
    status, p = api(d, "GET", "/plugins/dv/json")
    assert p["Name"] == "dv:latest" and p["PluginReference"] == ref and p["Enabled"] is False
    assert p["Config"]["Description"] == "dirs v1" and p["Settings"]["Env"] == ["VOLUME_PREFIX="]
    assert (d.data_root / "plugins" / p["Id"] / "rootfs" / "plugin.py").is_file()
    status, err = api(d, "POST", f"/plugins/pull?remote={ref}&name=dv", PRIVILEGES)
    assert status == 409 and "already exists" in err["message"]
    assert api(d, "DELETE", "/plugins/dv")[0] == 200


def test_not_a_plugin_is_refused(fresh_daemon: Daemon, registry: str, busybox_tar: Path) -> None:
    d, ref = fresh_daemon, f"{registry}/dy/image:v1"
    ok(d.cli("import", str(busybox_tar), ref))
    ok(d.cli("push", ref))
    status, err = api(d, "GET", f"/plugins/privileges?remote={ref}")
    assert status == 400 and f"{ref} is not a plugin" in err["message"] and "application/vnd.oci.image.config" in \
        err["message"], err
    status, err = api(d, "POST", f"/plugins/pull?remote={ref}", [])
    assert status == 400 and "is not a plugin" in err["message"]


def test_cli_install_use_upgrade(fresh_daemon: Daemon, registry: str) -> None:
    d, v1, v2 = fresh_daemon, f"{registry}/dy/dirvol:v1", f"{registry}/dy/dirvol:v2"
    for ref, desc in ((v1, "dirs v1"), (v2, "dirs v2")):
        make_plugin(d, ref, desc)
        ok(d.cli("plugin", "push", ref))
        ok(d.cli("plugin", "rm", ref))
    r = d.cli("plugin", "install", "--alias", "dv", v1, "VOLUME_PREFIX=p-", input=b"n\n")
    assert r.returncode != 0 and f"permission denied while installing plugin {v1}" in r.stderr.decode()
    assert f'Plugin "{v1}" is requesting the following privileges:\n - mount: [/usr]' in r.stdout.decode()
    out = ok(d.cli("plugin", "install", "--alias", "dv", v1, "VOLUME_PREFIX=p-", input=b"y\n"))
    assert out.rstrip().endswith(f"Installed plugin {v1}")
    listed = ok(d.cli("plugin", "ls", "--format", "{{.Name}} {{.Enabled}} {{.PluginReference}}"))
    assert listed.split() == ["dv", "true", v1]
    ok(d.cli("volume", "create", "-d", "dv", "dvol"))
    p = json.loads(ok(d.cli("plugin", "inspect", "dv")))[0]
    assert (d.data_root / "plugins" / p["Id"] / "rootfs" / "volumes" / "p-dvol").is_dir()  # the setting applied
    ok(d.cli("volume", "rm", "dvol"))

    r = d.cli("plugin", "upgrade", "--grant-all-permissions", "dv", v2)
    assert r.returncode != 0 and "must be disabled before upgrading" in r.stderr.decode()
    ok(d.cli("plugin", "disable", "dv"))
    r = d.cli("plugin", "upgrade", "--grant-all-permissions", "dv", v2, input=b"n\n")  # v2 is not dv's v1
    assert r.returncode == 1 and "plugin upgrade has been cancelled" in r.stderr.decode(), r.stderr
    assert r.stdout.decode() == (f"Upgrading plugin dv:latest from {v1} to {v2}\n"
                                 "Plugin images do not match, are you sure? [y/N] ")
    assert json.loads(ok(d.cli("plugin", "inspect", "dv")))[0]["Config"]["Description"] == "dirs v1"
    ok(d.cli("plugin", "upgrade", "--grant-all-permissions", "--skip-remote-check", "dv", v2))
    p2 = json.loads(ok(d.cli("plugin", "inspect", "dv")))[0]
    assert p2["Id"] == p["Id"] and p2["Config"]["Description"] == "dirs v2" and p2["PluginReference"] == v2
    assert p2["Settings"]["Env"] == ["VOLUME_PREFIX=p-"]  # kept across the upgrade
    ok(d.cli("plugin", "rm", "dv"))


def authed(d: Daemon, method: str, path: str, auth: dict[str, str] | None, body: Any = None) -> tuple[int, bytes]:
    headers = {} if auth is None else {"X-Registry-Auth": base64.urlsafe_b64encode(json.dumps(auth).encode()).decode()}
    status, _, data = request(d, method, path, body, headers)
    return status, data


@pytest.mark.parametrize("mode", ["basic", "token"])
def test_credentials_reach_the_registry(fresh_daemon: Daemon, tmp_path: Path, mode: str) -> None:
    """A registry that wants credentials (htpasswd Basic, or its token server): push, privileges and pull
    without X-Registry-Auth are refused, with it they go through."""
    from dockyard.registry.auth import hash_password

    users = tmp_path / "htpasswd"
    users.write_text(f"alice:{hash_password('wonderland', rounds=4)}\n")
    args = ["--htpasswd", str(users)] + (["--token-realm", "builtin"] if mode == "token" else [])
    s = Server(tmp_path / "reg", args).start()
    try:
        d, ref = fresh_daemon, f"{s.addr}/dy/private:v1"
        alice = {"username": "alice", "password": "wonderland", "serveraddress": str(s.addr)}
        make_plugin(d, ref, "private")
        status, data = authed(d, "POST", f"/plugins/{ref}/push", None)
        assert status != 200 and b"unauthorized" in data.lower(), data
        status, data = authed(d, "POST", f"/plugins/{ref}/push", alice)
        assert status == 200 and b'"aux"' in data, data
        assert api(d, "DELETE", f"/plugins/{ref}")[0] == 200
        assert authed(d, "GET", f"/plugins/privileges?remote={ref}", None)[0] != 200
        status, data = authed(d, "GET", f"/plugins/privileges?remote={ref}", alice)
        assert status == 200 and json.loads(data) == PRIVILEGES
        status, data = authed(d, "POST", f"/plugins/pull?remote={ref}&name=priv", alice, PRIVILEGES)
        assert status == 200 and b"Download complete" in data, data
        assert api(d, "GET", "/plugins/priv/json")[1]["PluginReference"] == ref
        assert api(d, "DELETE", "/plugins/priv")[0] == 200
    finally:
        s.stop()
