"""The pull-time signature check (``trust.api.check_pull``, what ``dockyardd --signature-policy`` runs before
a pull) against registries that need more than a password or a loopback address:

- a token registry whose realm gives tokens for an identity token only (docker's OAuth2 refresh: a POST of
  ``grant_type=refresh_token``): the check reads the signatures with the pull's identity token;
- a registry in plain HTTP on a non-loopback address, as ``--insecure-registry`` lists it (``host:port`` or a
  CIDR): read in plain HTTP when listed, over TLS (and so failing) when not; and a daemon started with
  ``--insecure-registry`` pulls the signed image from it and refuses the unsigned one.
"""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from dockyard import errors
from dockyard.registry.auth import hash_password
from dockyard.trust import api, keys
from dockyard.trust.policy import Policy
from tests.conftest import BIN, Daemon

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "unit" / "registry"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from dockyard_regkit import Server, free_port  # noqa: E402
from test_trust_skopeo import oci_layout  # noqa: E402

REFRESH = "alice-refresh-token"
PASSWORD = "wonderland"


def policy(host: str, key: Path) -> Policy:
    return Policy.parse({"default": [{"type": "reject"}], "transports": {"docker": {
        f"{host}/demo": [{"type": "sigstoreSigned", "keyPath": str(key)}]}}})


def push_images(host: str, work: Path, creds: list[str]) -> None:
    """demo/signed:v1 and demo/unsigned:v1 (two different images) pushed by skopeo."""
    for name, text in (("signed", b"one"), ("unsigned", b"two")):
        oci_layout(work / name, text)
        subprocess.run(["skopeo", "--policy", str(work / "any.json"), "copy", "--dest-tls-verify=false", *creds,
                        f"oci:{work / name}:latest", f"docker://{host}/demo/{name}:v1"],
                       check=True, capture_output=True, timeout=120)


def key_pair(work: Path) -> tuple[Path, Path]:
    (work / "any.json").write_text('{"default": [{"type": "insecureAcceptAnything"}]}')
    return keys.generate(work / "alice", b"secret")


class Realm(http.server.ThreadingHTTPServer):
    """A token realm in front of the registry's own: a GET is passed on as it came; a POST exchanging the
    identity token ``REFRESH`` (grant_type=refresh_token) is answered with a token issued for alice."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.exchanged: list[dict[str, str]] = []
        super().__init__(("127.0.0.1", 0), _RealmHandler)


class _RealmHandler(http.server.BaseHTTPRequestHandler):
    server: Realm

    def log_message(self, *args: Any) -> None:
        return None

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _upstream(self, query: str, authorization: str) -> tuple[int, bytes]:
        req = urllib.request.Request(f"http://{self.server.upstream}/token?{query}",
                                     headers={"Authorization": authorization} if authorization else {})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self._reply(*self._upstream(urllib.parse.urlsplit(self.path).query, self.headers.get("Authorization", "")))

    def do_POST(self) -> None:  # noqa: N802
        form = dict(urllib.parse.parse_qsl(self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()))
        self.server.exchanged.append(form)
        if form.get("grant_type") != "refresh_token" or form.get("refresh_token") != REFRESH:
            self._reply(401, b'{"error": "invalid_grant"}')
            return
        import base64
        basic = "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
        status, body = self._upstream(urllib.parse.urlencode({"service": form.get("service", ""),
                                                              "scope": form.get("scope", "")}), basic)
        token = json.loads(body).get("token", "") if status == 200 else ""
        self._reply(status, json.dumps({"access_token": token, "refresh_token": REFRESH}).encode())


@pytest.fixture
def token_registry(tmp_path: Path) -> Iterator[tuple[str, Realm, Path]]:
    (tmp_path / "htpasswd").write_text(f"alice:{hash_password(PASSWORD, rounds=4)}\n")
    (tmp_path / "acl.json").write_text(json.dumps({"acl": [{"account": "alice", "name": "*", "actions": ["*"]}]}))
    port = free_port()
    realm = Realm(f"127.0.0.1:{port}")
    threading.Thread(target=realm.serve_forever, daemon=True).start()
    s = Server(tmp_path / "registry", ["--htpasswd", str(tmp_path / "htpasswd"), "--config", str(tmp_path / "acl.json"),
                                      "--token-realm", f"http://127.0.0.1:{realm.server_address[1]}/token"], port=port)
    try:
        s.start()
        yield s.addr, realm, tmp_path
    finally:
        s.stop()
        realm.shutdown()
        realm.server_close()


def test_identity_token_reads_the_signatures(token_registry: tuple[str, Realm, Path]) -> None:
    host, realm, work = token_registry
    key, pub = key_pair(work)
    push_images(host, work, ["--dest-creds", f"alice:{PASSWORD}"])
    identity = {"identitytoken": REFRESH}
    api.sign(f"{host}/demo/signed:v1", key, b"secret", identity)  # signing with the identity token too
    assert realm.exchanged and realm.exchanged[-1]["grant_type"] == "refresh_token"
    assert realm.exchanged[-1]["scope"] == "repository:demo/signed:pull,push"
    digest = api.check_pull(policy(host, pub), host, "demo/signed", "v1", "", identity)
    assert digest.startswith("sha256:")
    with pytest.raises(errors.PermissionDenied, match="A signature was required|no signature"):
        api.check_pull(policy(host, pub), host, "demo/unsigned", "v1", "", identity)
    for auth in (None, {"identitytoken": "stolen"}):  # the realm refuses: anonymous is not allowed
        with pytest.raises(errors.NotFound, match="pull access denied"):
            api.check_pull(policy(host, pub), host, "demo/signed", "v1", "", auth)


def host_address() -> str:
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True, text=True,
                         check=True).stdout.split()
    return out[out.index("inet") + 1].split("/")[0] if "inet" in out else ""


class WildcardServer(Server):
    """The registry on every address (the kit's own binds 127.0.0.1), so that a non-loopback one reaches it."""

    @property
    def addr(self) -> str:
        return f"0.0.0.0:{self.port}"


@pytest.fixture
def remote_registry(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    ip = host_address()
    assert ip, "no global IPv4 address on this machine"
    s = WildcardServer(tmp_path / "registry")
    try:
        s.start()
        yield f"{ip}:{s.port}", f"127.0.0.1:{s.port}", tmp_path
    finally:
        s.stop()


def test_insecure_registry_in_the_signature_check(remote_registry: tuple[str, str, Path]) -> None:
    host, loopback, work = remote_registry
    key, pub = key_pair(work)
    push_images(loopback, work, [])
    api.sign(f"{loopback}/demo/signed:v1", key, b"secret", identity=f"{host}/demo/signed:v1")
    with pytest.raises(errors.Unavailable, match=f"registry {host}: .*(SSL|ssl)"):
        api.check_pull(policy(host, pub), host, "demo/signed", "v1", "")  # not listed: TLS, which it does not speak
    for listed in ([host], [host.rsplit(":", 1)[0]], [f"{host.rsplit('.', 1)[0]}.0/24"]):
        assert api.check_pull(policy(host, pub), host, "demo/signed", "v1", "", insecure=listed).startswith("sha256:")
    with pytest.raises(errors.PermissionDenied):
        api.check_pull(policy(host, pub), host, "demo/unsigned", "v1", "", insecure=[host])


Cli = Callable[..., "subprocess.CompletedProcess[str]"]


@contextmanager
def policy_daemon(remote_registry: tuple[str, str, Path]) -> Iterator[Cli]:
    """demo/signed:v1 (signed by alice) and demo/unsigned:v1 pushed to ``remote_registry``, and a daemon
    whose ``--signature-policy`` wants alice's signature under ``host/demo`` and whose
    ``--insecure-registry`` lists the host: its CLI (``cli(*args)``), the daemon removed at the end."""
    host, loopback, work = remote_registry
    key, pub = key_pair(work)
    push_images(loopback, work, [])
    api.sign(f"{loopback}/demo/signed:v1", key, b"secret", identity=f"{host}/demo/signed:v1")
    policy_file = work / "policy.json"
    policy_file.write_text(json.dumps({"default": [{"type": "reject"}], "transports": {"docker": {
        f"{host}/demo": [{"type": "sigstoreSigned", "keyPath": str(pub)}]}}}))
    (work / "daemon").mkdir()
    d = Daemon(work / "daemon")
    d.extra_args = ["--bridge-name", "none", "--signature-policy", str(policy_file), "--insecure-registry", host]
    d.start()
    try:
        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([str(BIN / "dockyard"), "-H", d.host, *args], capture_output=True, text=True,
                                  timeout=120, check=False, env={"DOCKER_CONFIG": str(work / "cfg"), "PATH": "/usr/bin:/bin"})
        yield cli
    finally:
        d.cleanup()


@pytest.mark.root
def test_daemon_with_insecure_registry_pulls_signed_only(remote_registry: tuple[str, str, Path]) -> None:
    host = remote_registry[0]
    with policy_daemon(remote_registry) as cli:
        r = cli("pull", f"{host}/demo/signed:v1")
        assert r.returncode == 0, r.stderr
        r = cli("pull", f"{host}/demo/unsigned:v1")
        assert r.returncode != 0 and "signature" in r.stderr, r.stderr
        names = cli("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
        assert names == [f"{host}/demo/signed:v1"]
