"""``dockyardd --signature-policy`` (containers-policy.json) on pull and run's pull, and the CLI's
``DOCKER_CONTENT_TRUST=1``, against a local ``dockyard registry serve``: an image signed by the
policy's key is pulled; unsigned, signed by another key, or in a ``reject`` scope, it is refused
with the image and the requirement named, and nothing of it is left in ``images``."""

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

from tests.conftest import BIN, Daemon

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "unit" / "registry"))
from dockyard_regkit import Server

pytestmark = pytest.mark.root


def trust(*args: str, passphrase: str) -> None:
    r = subprocess.run([str(BIN / "dockyard"), "trust", *args], capture_output=True, text=True, timeout=120, check=False,
                       env={**os.environ, "DOCKYARD_TRUST_PASSPHRASE": passphrase})
    assert r.returncode == 0, r.stderr


@pytest.fixture(scope="module")
def env(busybox_tar: Path) -> Iterator[dict[str, object]]:
    base = Path(tempfile.mkdtemp(prefix="dy-sig-", dir="/tmp"))
    registry = Server(base / "registry").start()
    host = registry.addr
    (base / "daemon").mkdir()
    d = Daemon(base / "daemon")
    try:
        trust("key", "generate", "alice", "--dir", str(base), passphrase="alice's")
        trust("key", "generate", "mallory", "--dir", str(base), passphrase="mallory's")
        policy = base / "policy.json"
        policy.write_text(json.dumps({"default": [{"type": "reject"}], "transports": {"docker": {
            f"{host}/demo": [{"type": "sigstoreSigned", "keyPath": str(base / "alice.pub")}],
            f"{host}/open": [{"type": "insecureAcceptAnything"}]}}}))
        d.extra_args = ["--bridge-name", "none", "--signature-policy", str(policy)]
        d.start()
        names = [f"{host}/{n}:v1" for n in ("demo/signed", "demo/unsigned", "demo/wrong", "open/any", "other/x")]
        assert d.cli("import", "-c", 'CMD ["sh"]', str(busybox_tar), names[0]).returncode == 0
        for name in names:
            assert d.cli("tag", names[0], name).returncode == 0
            r = d.cli("push", name)
            assert r.returncode == 0, r.stderr.decode()
        trust("sign", "--key", str(base / "alice.key"), names[0], passphrase="alice's")
        trust("sign", "--key", str(base / "mallory.key"), names[2], passphrase="mallory's")
        assert d.cli("rmi", *names).returncode == 0
        yield {"d": d, "host": host, "policy": policy, "base": base}
    finally:
        d.cleanup()
        registry.stop()
        shutil.rmtree(base, ignore_errors=True)


def image_names(d: Daemon) -> list[str]:
    return d.cli("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.decode().split()


def test_signed_image_is_pulled(env: dict[str, object]) -> None:
    d, host = env["d"], env["host"]
    assert isinstance(d, Daemon)
    r = d.cli("pull", f"{host}/demo/signed:v1")
    assert r.returncode == 0, r.stderr.decode()
    assert f"{host}/demo/signed:v1" in image_names(d)
    assert d.cli("rmi", f"{host}/demo/signed:v1").returncode == 0


@pytest.mark.parametrize(("name", "why"), [
    ("demo/unsigned", "sigstoreSigned by {base}/alice.pub): no signatures"),
    ("demo/wrong", "sigstoreSigned by {base}/alice.pub): signature: not made by this key"),
    ("other/x", "(default: reject)"),
])
def test_refused_pull_names_image_and_requirement(env: dict[str, object], name: str, why: str) -> None:
    d, host = env["d"], env["host"]
    assert isinstance(d, Daemon)
    r = d.cli("pull", f"{host}/{name}:v1")
    assert r.returncode != 0
    err = r.stderr.decode()
    assert f"image {host}/{name}:v1 is refused by the signature policy" in err, err
    assert why.format(base=env["base"]) in err, err
    assert not [n for n in image_names(d) if name in n]


def test_run_auto_pull_obeys_policy(env: dict[str, object]) -> None:
    d, host = env["d"], env["host"]
    assert isinstance(d, Daemon)
    r = d.cli("run", "--rm", f"{host}/demo/unsigned:v1", "true")
    assert r.returncode == 125
    assert "refused by the signature policy" in r.stderr.decode() and "no signatures" in r.stderr.decode()
    assert not [n for n in image_names(d) if "unsigned" in n]


def test_open_scope_pulls_unsigned(env: dict[str, object]) -> None:
    d, host = env["d"], env["host"]
    assert isinstance(d, Daemon)
    r = d.cli("pull", f"{host}/open/any:v1")
    assert r.returncode == 0, r.stderr.decode()
    assert d.cli("rmi", f"{host}/open/any:v1").returncode == 0


def cli_trusted(env: dict[str, object], *args: str) -> subprocess.CompletedProcess[str]:
    d = env["d"]
    assert isinstance(d, Daemon)
    return subprocess.run([str(BIN / "dockyard"), "-H", d.host, *args], capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "DOCKER_CONTENT_TRUST": "1",
                               "DOCKYARD_SIGNATURE_POLICY": str(env["policy"])})


def test_content_trust_pulls_the_signed_digest(env: dict[str, object]) -> None:
    d, host = env["d"], env["host"]
    assert isinstance(d, Daemon)
    r = cli_trusted(env, "pull", f"{host}/demo/signed:v1")
    assert r.returncode == 0, r.stderr
    assert f"Pull (1 of 1): {host}/demo/signed:v1@sha256:" in r.stderr
    assert f"{host}/demo/signed:v1" in image_names(d)
    d.cli("rmi", f"{host}/demo/signed:v1")


def test_content_trust_refuses_unsigned(env: dict[str, object]) -> None:
    """The daemon's policy lets ``open/`` through unsigned; DOCKER_CONTENT_TRUST=1 does not."""
    d, host = env["d"], env["host"]
    assert isinstance(d, Daemon)
    r = cli_trusted(env, "pull", f"{host}/open/any:v1")
    assert r.returncode != 0
    assert "content trust: image" in r.stderr and "is not required to be signed" in r.stderr, r.stderr
    r = cli_trusted(env, "pull", f"{host}/demo/wrong:v1")
    assert r.returncode != 0 and "not made by this key" in r.stderr, r.stderr
    assert not [n for n in image_names(d) if "open/any" in n or "wrong" in n]


def image_ids(d: Daemon) -> list[str]:
    return d.cli("images", "-a", "-q", "--no-trunc").stdout.decode().split()


def build(d: Daemon, tmp: Path, base: str, tag: str) -> subprocess.CompletedProcess[bytes]:
    (tmp / "Dockerfile").write_text(f"FROM {base}\nLABEL built=yes\n")
    return d.cli("build", "-t", tag, str(tmp))


def test_build_from_pull_obeys_policy(env: dict[str, object], tmp_path: Path) -> None:
    """A FROM image that is not local is pulled through the daemon's policy: signed, the build goes on;
    unsigned, the build fails naming the requirement and nothing of the base is left."""
    d, host = env["d"], env["host"]
    assert isinstance(d, Daemon)
    r = build(d, tmp_path, f"{host}/demo/signed:v1", "built-signed")
    assert r.returncode == 0, r.stderr.decode()
    assert f"{host}/demo/signed:v1" in image_names(d) and "built-signed:latest" in image_names(d)
    assert d.cli("rmi", "built-signed", f"{host}/demo/signed:v1").returncode == 0
    ids = image_ids(d)
    r = build(d, tmp_path, f"{host}/demo/unsigned:v1", "built-unsigned")
    out = (r.stdout + r.stderr).decode()
    assert r.returncode != 0
    assert f"image {host}/demo/unsigned:v1 is refused by the signature policy" in out and "no signatures" in out, out
    assert image_ids(d) == ids and not [n for n in image_names(d) if "unsigned" in n]


def test_load_obeys_policy(env: dict[str, object], tmp_path: Path) -> None:
    """An archive carries no signatures: a name whose scope asks for them is judged by the signatures
    attached to the loaded digest in its registry. A refused load leaves nothing behind."""
    d, host = env["d"], env["host"]
    assert isinstance(d, Daemon)
    signed = f"{host}/demo/signed:v1"
    assert d.cli("pull", signed).returncode == 0
    archives = {}
    for name in ("demo/signed", "demo/unsigned", "other/x"):
        ref = f"{host}/{name}:v1"
        if ref != signed:
            assert d.cli("tag", signed, ref).returncode == 0
        archives[name] = tmp_path / f"{name.replace('/', '-')}.tar"
        r = d.cli("save", "-o", str(archives[name]), ref)
        assert r.returncode == 0, r.stderr.decode()
    assert d.cli("rmi", *(f"{host}/{n}:v1" for n in archives)).returncode == 0
    ids = image_ids(d)
    for name, why in (("demo/unsigned", "no signatures"), ("other/x", "(default: reject)")):
        r = d.cli("load", "-i", str(archives[name]))
        err = r.stderr.decode()
        assert r.returncode != 0 and f"image {host}/{name}:v1 is refused by the signature policy" in err, err
        assert why in err, err
        assert image_ids(d) == ids and not [n for n in image_names(d) if name in n]
    r = d.cli("load", "-i", str(archives["demo/signed"]))
    assert r.returncode == 0, r.stderr.decode()
    assert signed in image_names(d)
    assert d.cli("rmi", signed).returncode == 0


def test_signature_over_another_digest_is_refused(env: dict[str, object], busybox_tar: Path) -> None:
    """alice's signature of demo/signed:v1, attached to another image's digest (v2) in the same repository:
    a good signature by the right key, over the wrong manifest. The pull of v2 is refused, naming both."""
    from dockyard.trust import sigstore
    from dockyard.trust.registry import Registry

    d, host = env["d"], env["host"]
    assert isinstance(d, Daemon)
    v2 = f"{host}/demo/signed:v2"
    assert d.cli("import", "-c", 'CMD ["true"]', str(busybox_tar), v2).returncode == 0
    assert d.cli("push", v2).returncode == 0 and d.cli("rmi", v2).returncode == 0
    reg = Registry(str(host), "demo/signed")
    _, digest1, _ = reg.manifest("v1")
    _, digest2, _ = reg.manifest("v2")
    assert digest1 != digest2
    attachment, _, _ = reg.manifest(sigstore.attachment_tag(digest1))
    reg.put_manifest(sigstore.attachment_tag(digest2), attachment, sigstore.OCI_MANIFEST)
    r = d.cli("pull", v2)
    err = r.stderr.decode()
    assert r.returncode != 0 and f"image {v2} is refused by the signature policy" in err, err
    assert f"signs {digest1}, not {digest2}" in err, err
    assert v2 not in image_names(d)
