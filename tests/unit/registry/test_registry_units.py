"""Unit tests: manifest parsing, scopes and ACLs, tokens, htpasswd, config, metadata."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dockyard.registry import manifest as mf
from dockyard.registry.auth import Authorizer, Htpasswd, Rule, Scope, hash_password
from dockyard.registry.config import load
from dockyard.registry.errors import RegistryError
from dockyard.registry.metadata import ManifestRow, Metadata

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64


def _man(**extra: object) -> bytes:
    m = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
         "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": D1, "size": 2},
         "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": D2, "size": 3}], **extra}
    return json.dumps(m).encode()


def test_parse_manifest_refs_and_artifact_type() -> None:
    p = mf.parse(_man(), None)
    assert p.blobs == (D1, D2) and p.children == () and p.subject is None
    assert p.artifact_type == "application/vnd.oci.empty.v1+json"
    p = mf.parse(_man(artifactType="x/y", subject={"mediaType": "a", "digest": D1, "size": 1}), None)
    assert p.artifact_type == "x/y" and p.subject == D1


def test_parse_rejects() -> None:
    for body, ctype in ((b"[]", None), (b"{", None), (_man(), "application/vnd.oci.image.index.v1+json"),
                        (json.dumps({"schemaVersion": 1}).encode(), None)):
        with pytest.raises(RegistryError) as e:
            mf.parse(body, ctype)
        assert e.value.code == "MANIFEST_INVALID"


def test_foreign_layers_not_required() -> None:
    m = json.loads(_man())
    m["layers"][0]["mediaType"] = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
    assert mf.parse(json.dumps(m).encode(), None).blobs == (D1,)


def test_scope_parse_with_port() -> None:
    s = Scope.parse("repository:localhost:5000/app:pull,push")
    assert s.name == "localhost:5000/app" and s.actions == {"pull", "push"}
    assert str(s) == "repository:localhost:5000/app:pull,push"


def test_acl_and_tokens() -> None:
    a = Authorizer(mode="token", realm="http://r/token", secret=b"k" * 32,
                   rules=[Rule("bob", "team/*", frozenset({"pull"})), Rule("*", "pub/*", frozenset({"*"}))])
    assert a.allowed_actions("bob", "repository", "team/x") == {"pull"}
    assert a.allowed_actions("bob", "repository", "pub/x") == {"pull", "push", "delete"}
    assert a.allowed_actions("", "repository", "pub/x") == frozenset()
    ident = a.verify(a.issue("", [Scope.parse("repository:pub/x:pull")])["token"])
    assert ident.account == "" and ident.granted == []
    with pytest.raises(RegistryError) as e:
        a.verify("not.a.jwt")
    assert e.value.code == "UNAUTHORIZED"
    other = Authorizer(mode="token", secret=b"z" * 32)
    with pytest.raises(RegistryError):
        other.verify(a.issue("", [])["token"])


def test_htpasswd_bcrypt(tmp_path: Path) -> None:
    f = tmp_path / "h"
    f.write_text(f"u:{hash_password('pw', rounds=4)}\nplain:notbcrypt\n")
    h = Htpasswd(f)
    assert h.check("u", "pw") and h.check("u", "pw")  # second from the cache
    assert not h.check("u", "nope") and not h.check("plain", "notbcrypt") and not h.check("x", "pw")


def test_config_file_and_flags(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('addr = "127.0.0.1:6000"\nread_only = true\n[[acl]]\naccount = "a"\nname = "*"\nactions = ["pull"]\n')
    c = load(str(f), {"addr": "127.0.0.1:7000", "root": None})
    assert c.addr == "127.0.0.1:7000" and c.read_only and c.acl[0]["account"] == "a"
    assert c.host_port() == ("127.0.0.1", 7000)
    (tmp_path / "bad.json").write_text('{"nope": 1}')
    with pytest.raises(Exception, match="unknown keys"):
        load(str(tmp_path / "bad.json"), {})


def test_metadata_tags_and_referrers(tmp_path: Path) -> None:
    m = Metadata(tmp_path / "m.db")
    m.put_manifest(ManifestRow("r", D1, "t", 10, "a/b", D2, None, (D2,)))
    m.set_tag("r", "v1", D1)
    assert m.resolve_tag("r", "v1") == D1 and m.tags("r") == ["v1"]
    assert [x.digest for x in m.referrers("r", D2)] == [D1]
    assert m.delete_manifest("r", D1) and m.tags("r") == [] and m.referrers("r", D2) == []
    m.close()
