"""Auth: htpasswd Basic and the built-in token server, against a real server process."""

from __future__ import annotations

import base64
import json
import re
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "unit" / "registry"))
from dockyard_regkit import Server, sha

from dockyard.registry.auth import hash_password


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture(scope="module")
def users(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("regauth")
    f = d / "htpasswd"
    f.write_text("".join(f"{u}:{hash_password(p, rounds=4)}\n" for u, p in
                         (("alice", "wonderland"), ("reader", "onlyread"))))
    return f


@pytest.fixture(scope="module")
def basic_reg(users: Path) -> Iterator[Server]:
    s = Server(users.parent / "basic", ["--htpasswd", str(users)]).start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def token_reg(users: Path) -> Iterator[Server]:
    cfg = users.parent / "token.json"
    cfg.write_text(json.dumps({"acl": [{"account": "alice", "name": "*", "actions": ["*"]},
                                       {"account": "reader", "name": "*", "actions": ["pull"]}]}))
    s = Server(users.parent / "token", ["--htpasswd", str(users), "--token-realm", "builtin",
                                        "--anonymous-pull", "--config", str(cfg)]).start()
    try:
        yield s
    finally:
        s.stop()


def test_basic_without_credentials_is_challenged(basic_reg: Server) -> None:
    r = basic_reg.req("GET", "/v2/")
    assert r.status == 401 and r.headers["WWW-Authenticate"].startswith("Basic realm=")
    r = basic_reg.req("POST", "/v2/b/x/blobs/uploads/?digest=" + sha(b"x"), b"x")
    assert r.status == 401 and r.codes() == ["UNAUTHORIZED"]
    r = basic_reg.req("GET", "/v2/", auth=basic("alice", "wrong"))
    assert r.status == 401
    assert basic_reg.req("GET", "/v2/", auth=basic("alice", "wonderland")).status == 200
    basic_reg.push_image("b/x", "v1", [b"authed"], auth=basic("alice", "wonderland"))
    assert basic_reg.req("GET", "/v2/b/x/manifests/v1", auth=basic("alice", "wonderland")).status == 200
    assert basic_reg.req("GET", "/v2/b/x/manifests/v1").status == 401


def _challenge(header: str) -> dict[str, str]:
    assert header.startswith("Bearer ")
    return dict(re.findall(r'(\w+)="([^"]*)"', header))


def _token(reg: Server, scope: str, auth: str | None = None) -> str:
    q = urllib.parse.urlencode({"service": "dockyard-registry", "scope": scope})
    r = reg.req("GET", f"/token?{q}", auth=auth)
    assert r.status == 200, r.body
    return "Bearer " + r.json()["token"]


def test_token_flow_push_and_pull(token_reg: Server) -> None:
    r = token_reg.req("POST", "/v2/t/app/blobs/uploads/")
    assert r.status == 401 and r.codes() == ["UNAUTHORIZED"]
    ch = _challenge(r.headers["WWW-Authenticate"])
    assert ch["realm"] == f"http://{token_reg.addr}/token"
    assert ch["service"] == "dockyard-registry"
    assert ch["scope"] == "repository:t/app:pull,push"
    tok = _token(token_reg, ch["scope"], basic("alice", "wonderland"))
    digest, _ = token_reg.push_image("t/app", "v1", [b"token layer"], auth=tok)
    anon = _token(token_reg, "repository:t/app:pull")
    assert token_reg.req("GET", f"/v2/t/app/manifests/{digest}", auth=anon).status == 200


def test_pull_only_token_cannot_push(token_reg: Server) -> None:
    for who in (basic("reader", "onlyread"), None):  # an ACL reader, and anonymous
        tok = _token(token_reg, "repository:t/ro:pull,push", who)
        r = token_reg.req("POST", f"/v2/t/ro/blobs/uploads/?digest={sha(b'nope')}", b"nope", auth=tok)
        assert r.status == 401 and r.codes() == ["UNAUTHORIZED"]
        assert 'error="insufficient_scope"' in r.headers["WWW-Authenticate"]
        body = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []})
        r = token_reg.req("PUT", "/v2/t/ro/manifests/v1", body.encode(),
                          {"Content-Type": "application/vnd.oci.image.index.v1+json"}, tok)
        assert r.status == 401
    admin = _token(token_reg, "repository:t/ro:pull", basic("alice", "wonderland"))
    assert token_reg.req("HEAD", f"/v2/t/ro/blobs/{sha(b'nope')}", auth=admin).status == 404
    assert token_reg.req("GET", "/v2/t/ro/manifests/v1", auth=admin).status == 404


def test_forged_and_wrong_credentials(token_reg: Server) -> None:
    r = token_reg.req("GET", "/token?service=dockyard-registry&scope=repository:t/app:pull",
                      auth=basic("alice", "bad"))
    assert r.status == 401
    tok = _token(token_reg, "repository:t/app:pull,push", basic("alice", "wonderland"))
    header, payload, sig = tok[7:].split(".")
    forged = "Bearer " + ".".join([header, payload, sig[:-4] + ("AAAA" if sig[-4:] != "AAAA" else "BBBB")])
    r = token_reg.req("POST", "/v2/t/app/blobs/uploads/", auth=forged)
    assert r.status == 401 and 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    other = _token(token_reg, "repository:t/other:pull,push", basic("alice", "wonderland"))
    assert token_reg.req("POST", "/v2/t/app/blobs/uploads/", auth=other).status == 401


@pytest.fixture(scope="module", params=["basic", "token"])
def team_reg(request: pytest.FixtureRequest, users: Path) -> Iterator[tuple[Server, str]]:
    """Two users who may each pull their own team's repositories and the shared ones."""
    cfg = users.parent / f"teams-{request.param}.json"
    cfg.write_text(json.dumps({"acl": [{"account": "alice", "name": "team-a/*", "actions": ["*"]},
                                       {"account": "reader", "name": "team-b/*", "actions": ["*"]},
                                       {"account": "*", "name": "shared/*", "actions": ["pull"]},
                                       {"account": "alice", "name": "shared/*", "actions": ["push"]}]}))
    args = ["--htpasswd", str(users), "--config", str(cfg)]
    if request.param == "token":
        args += ["--token-realm", "builtin"]
    s = Server(users.parent / f"teams-{request.param}", args).start()
    try:
        yield s, request.param
    finally:
        s.stop()


def test_catalog_lists_only_what_the_user_may_pull(team_reg: tuple[Server, str]) -> None:
    reg, mode = team_reg
    passwords = {"alice": "wonderland", "reader": "onlyread"}
    pushes = {"alice": ["team-a/one", "team-a/two", "shared/base"], "reader": ["team-b/one", "team-b/two"]}

    def login(user: str, scope: str) -> str:
        creds = basic(user, passwords[user])
        return creds if mode == "basic" else _token(reg, scope, creds)

    for user, repos in pushes.items():
        for repo in repos:
            reg.push_image(repo, "v1", [repo.encode()], auth=login(user, f"repository:{repo}:pull,push"))
    seen = {}
    for user in pushes:
        auth = login(user, "registry:catalog:*")
        r = reg.req("GET", "/v2/_catalog", auth=auth)
        assert r.status == 200, r.body
        seen[user] = r.json()["repositories"]
        r = reg.req("GET", "/v2/_catalog?n=1", auth=auth)  # pages over the visible ones only
        first = r.json()["repositories"]
        assert first == seen[user][:1] and r.headers["Link"] == f'</v2/_catalog?n=1&last={first[0]}>; rel="next"'
        r = reg.req("GET", f"/v2/_catalog?n=10&last={first[0]}", auth=auth)
        assert r.json()["repositories"] == seen[user][1:] and "Link" not in r.headers
    assert seen == {"alice": ["shared/base", "team-a/one", "team-a/two"],
                    "reader": ["shared/base", "team-b/one", "team-b/two"]}
    assert reg.req("GET", "/v2/_catalog").status == 401
