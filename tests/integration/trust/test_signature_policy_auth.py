"""``dockyardd --signature-policy`` against registries that want credentials (htpasswd Basic, and the
built-in token server without anonymous pulls): the policy reads the manifest and its signatures with
the pull's own credentials (``X-Registry-Auth``), so a signed image pulls under ``sigstoreSigned``, an
unsigned one is refused, and a pull without credentials is docker's "pull access denied"."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.registry.auth import hash_password
from tests.conftest import BIN, Daemon

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "unit" / "registry"))
from dockyard_regkit import Server

pytestmark = pytest.mark.root
PASSWORD = "wonderland"


class Env:
    def __init__(self, d: Daemon, host: str, base: Path) -> None:
        self.d, self.host, self.base = d, host, base

    def cli(self, *args: str, config: str = "cfg", input: bytes | None = None) -> subprocess.CompletedProcess[str]:
        """The CLI with its own DOCKER_CONFIG (``cfg`` holds alice's login, ``anon`` nothing)."""
        env = {**os.environ, "DOCKER_CONFIG": str(self.base / config), "DOCKYARD_TRUST_PASSPHRASE": "alice's"}
        return subprocess.run([str(BIN / "dockyard"), "-H", self.d.host, *args], input=input and input.decode(),
                              capture_output=True, text=True, timeout=120, check=False, env=env)

    def names(self) -> list[str]:
        return self.cli("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()


def _registry(base: Path, kind: str) -> Server:
    users = base / "htpasswd"
    users.write_text(f"alice:{hash_password(PASSWORD, rounds=4)}\n")
    if kind == "basic":
        return Server(base / "registry", ["--htpasswd", str(users)]).start()
    acl = base / "token.json"
    acl.write_text(json.dumps({"acl": [{"account": "alice", "name": "*", "actions": ["*"]}]}))
    return Server(base / "registry", ["--htpasswd", str(users), "--token-realm", "builtin", "--config", str(acl)]).start()


@pytest.fixture(scope="module", params=["basic", "token"])
def env(request: pytest.FixtureRequest, busybox_tar: Path) -> Iterator[Env]:
    base = Path(tempfile.mkdtemp(prefix="dy-sigauth-", dir="/tmp"))
    registry = _registry(base, request.param)
    host = registry.addr
    (base / "daemon").mkdir()
    d = Daemon(base / "daemon")
    e = Env(d, host, base)
    try:
        r = e.cli("trust", "key", "generate", "alice", "--dir", str(base))
        assert r.returncode == 0, r.stderr
        policy = base / "policy.json"
        policy.write_text(json.dumps({"default": [{"type": "reject"}], "transports": {"docker": {
            f"{host}/demo": [{"type": "sigstoreSigned", "keyPath": str(base / "alice.pub")}]}}}))
        d.extra_args = ["--bridge-name", "none", "--signature-policy", str(policy)]
        d.start()
        r = e.cli("login", "-u", "alice", "--password-stdin", host, input=PASSWORD.encode() + b"\n")
        assert r.returncode == 0, r.stderr
        names = [f"{host}/demo/signed:v1", f"{host}/demo/unsigned:v1"]
        assert e.cli("import", "-c", 'CMD ["sh"]', str(busybox_tar), names[0]).returncode == 0
        assert e.cli("tag", names[0], names[1]).returncode == 0
        for name in names:
            r = e.cli("push", name)
            assert r.returncode == 0, r.stderr
        r = e.cli("trust", "sign", "--key", str(base / "alice.key"), names[0])  # with alice's stored login
        assert r.returncode == 0, r.stderr
        assert e.cli("rmi", *names).returncode == 0
        yield e
    finally:
        d.cleanup()
        registry.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_signed_image_pulls_with_the_pulls_credentials(env: Env) -> None:
    r = env.cli("pull", f"{env.host}/demo/signed:v1")
    assert r.returncode == 0, r.stderr
    assert f"{env.host}/demo/signed:v1" in env.names()
    assert env.cli("rmi", f"{env.host}/demo/signed:v1").returncode == 0


def test_unsigned_image_is_refused(env: Env) -> None:
    r = env.cli("pull", f"{env.host}/demo/unsigned:v1")
    assert r.returncode != 0
    assert f"image {env.host}/demo/unsigned:v1 is refused by the signature policy" in r.stderr, r.stderr
    assert "no signatures" in r.stderr, r.stderr
    assert not [n for n in env.names() if "demo/" in n]


def test_pull_without_credentials_is_access_denied(env: Env) -> None:
    r = env.cli("pull", f"{env.host}/demo/signed:v1", config="anon")
    assert r.returncode != 0
    assert f"pull access denied for {env.host}/demo" in r.stderr, r.stderr
    assert not [n for n in env.names() if "demo/" in n]


def test_trust_inspect_reads_with_the_stored_login(env: Env) -> None:
    r = env.cli("trust", "inspect", "--key", str(env.base / "alice.pub"), f"{env.host}/demo/signed:v1")
    assert r.returncode == 0, r.stderr
    [found] = json.loads(r.stdout)
    assert [s["VerifiedBy"] for s in found["Signatures"]] == [[str(env.base / "alice.pub")]]
