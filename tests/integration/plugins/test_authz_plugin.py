"""An authorization plugin written in the test (Docker's AuthZ protocol) in front of a real daemon:
a denied request answers the plugin's message with 403 and is never carried out; a denied response
is withheld; a plugin that is gone fails requests instead of hanging them."""

from __future__ import annotations

import base64
import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Daemon
from tests.plugin_fakes import FakePlugin

pytestmark = pytest.mark.root


def _body(a: dict[str, Any]) -> dict[str, Any]:
    raw = base64.b64decode(a.get("RequestBody") or "")
    return json.loads(raw) if raw else {}


def authz_req(a: dict[str, Any]) -> dict[str, Any]:
    if "/containers/create" in a["RequestURI"] and _body(a).get("Labels", {}).get("policy") == "deny":
        return {"Allow": False, "Msg": "containers labelled policy=deny are not allowed here"}
    return {"Allow": True}


def authz_res(a: dict[str, Any]) -> dict[str, Any]:
    if a["RequestMethod"] == "GET" and a["RequestURI"].split("?")[0].endswith("/volumes"):
        return {"Allow": False, "Msg": "volume listings are secret"}
    return {"Allow": True}


@pytest.fixture(scope="module")
def authz_env(busybox_tar: Path) -> Iterator[tuple[Daemon, FakePlugin]]:
    plugins = Path(tempfile.mkdtemp(prefix="dyp-", dir="/tmp"))
    plugin = FakePlugin(plugins / "gate.sock", ["authz"],
                        {"AuthZPlugin.AuthZReq": authz_req, "AuthZPlugin.AuthZRes": authz_res})
    d = Daemon(Path(tempfile.mkdtemp(prefix="dy-", dir="/tmp")))
    d.extra_args = ["--bridge-name", "none", "--plugin-dir", str(plugins), "--plugin-timeout", "2",
                    "--authorization-plugin", "gate"]
    try:
        with plugin:
            d.start()
            r = d.cli("import", "-c", 'CMD ["sh"]', str(busybox_tar), "busybox:latest")
            assert r.returncode == 0, r.stderr.decode()
            yield d, plugin
            d.cleanup()  # while the plugin still answers: the clean-up's requests pass through it
    finally:
        d.cleanup()
        plugins.rmdir()


def test_denied_request_does_nothing(authz_env: tuple[Daemon, FakePlugin]) -> None:
    d, plugin = authz_env
    r = d.cli("create", "--name", "refused", "--label", "policy=deny", "busybox", "true")
    assert r.returncode != 0
    assert "authorization denied by plugin gate: containers labelled policy=deny are not allowed here" \
        in r.stderr.decode()
    assert d.cli("ps", "-a", "--format", "{{.Names}}").stdout.decode().split().count("refused") == 0
    req = [a for m, a in plugin.calls if m == "AuthZPlugin.AuthZReq" and "/containers/create" in a["RequestURI"]]
    assert req and req[-1]["RequestMethod"] == "POST" and _body(req[-1])["Image"] == "busybox"


def test_allowed_request_is_carried_out_and_its_response_shown(authz_env: tuple[Daemon, FakePlugin]) -> None:
    d, plugin = authz_env
    r = d.cli("create", "--name", "allowed", "--label", "policy=ok", "busybox", "true")
    assert r.returncode == 0, r.stderr.decode()
    cid = r.stdout.decode().strip()
    res = [a for m, a in plugin.calls if m == "AuthZPlugin.AuthZRes" and "/containers/create" in a["RequestURI"]]
    assert res[-1]["ResponseStatusCode"] == 201
    assert json.loads(base64.b64decode(res[-1]["ResponseBody"]))["Id"] == cid
    assert d.cli("rm", cid).returncode == 0


def test_denied_response_is_withheld(authz_env: tuple[Daemon, FakePlugin]) -> None:
    d, _ = authz_env
    r = d.cli("volume", "ls")
    assert r.returncode != 0 and "authorization denied by plugin gate: volume listings are secret" in r.stderr.decode()


def test_malformed_answer_fails_the_request(authz_env: tuple[Daemon, FakePlugin]) -> None:
    d, plugin = authz_env
    plugin.methods["AuthZPlugin.AuthZReq"] = lambda a: b"{not json"
    try:
        r = d.cli("volume", "create", "never-made", timeout=20)
        assert r.returncode != 0 and "plugin gate: AuthZPlugin.AuthZReq: malformed answer" in r.stderr.decode()
    finally:
        plugin.methods["AuthZPlugin.AuthZReq"] = authz_req
    r = d.cli("volume", "inspect", "never-made")
    assert r.returncode != 0 and "no such volume" in r.stderr.decode().lower()


def test_dead_plugin_fails_requests_without_hanging(authz_env: tuple[Daemon, FakePlugin]) -> None:
    d, plugin = authz_env
    plugin.stop()
    try:
        start = time.monotonic()
        r = d.cli("volume", "create", "never-made-either", timeout=30)
        took = time.monotonic() - start
        assert r.returncode != 0 and "plugin gate" in r.stderr.decode(), r.stderr.decode()
        assert took < 10, took  # --plugin-timeout 2: retried for 2 s, then reported
    finally:
        plugin.start()
    # back: the daemon finds it again, and nothing was made while it was away
    r = d.cli("volume", "inspect", "never-made-either")
    assert r.returncode != 0 and "no such volume" in r.stderr.decode().lower()


def test_info_lists_the_authorization_plugin(authz_env: tuple[Daemon, FakePlugin]) -> None:
    d, _ = authz_env
    r = d.cli("info", "--format", "{{json .Plugins.Authorization}}")
    assert r.returncode == 0, r.stderr.decode()
    assert json.loads(r.stdout) == ["gate"]
