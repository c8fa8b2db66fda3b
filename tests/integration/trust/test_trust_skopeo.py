"""Sigstore signatures between ``dockyard trust`` and Debian's skopeo, through ``dockyard registry``.

Debian builds skopeo 1.9 with sigstore *crypto* disabled ("Debian-local change: sigstore disabled":
it neither signs with nor verifies a sigstore key), so what is checked against it is the format: skopeo
reads the attachments dockyard writes (cosign's ``sha256-<hex>.sig`` layout) as sigstore signatures, and
dockyard reads and verifies the attachments skopeo writes; skopeo's policy refuses unsigned images and
``reject`` scopes. Where the crypto is needed (skopeo verifying or making a signature), each test asserts
what this skopeo does: with sigstore crypto (``DOCKYARD_TEST_SKOPEO``, an upstream build) the real check,
with Debian's the exact refusal it prints. Nothing is skipped but a missing skopeo."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "tests" / "unit" / "registry"))
from dockyard_regkit import Server  # noqa: E402

BIN = Path(sys.executable).parent
# another skopeo (one built with sigstore crypto, see docs/conformance.md) by DOCKYARD_TEST_SKOPEO
SKOPEO = os.environ.get("DOCKYARD_TEST_SKOPEO") or "skopeo"
pytestmark = pytest.mark.skipif(shutil.which(SKOPEO) is None, reason="skopeo not installed (apt-get install skopeo)")
SIGSTORE_DISABLED = "sigstore disabled"


def run(*cmd: str, ok: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False,
                       env={**os.environ, **(env or {})})
    if ok:
        assert r.returncode == 0, f"{cmd}: {r.stderr}"
    return r


def oci_layout(path: Path, text: bytes) -> None:
    blobs = path / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def put(b: bytes) -> dict[str, object]:
        h = hashlib.sha256(b).hexdigest()
        (blobs / h).write_bytes(b)
        return {"digest": f"sha256:{h}", "size": len(b)}
    import io
    import tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("hello.txt")
        info.size = len(text)
        tf.addfile(info, io.BytesIO(text))
    layer = put(buf.getvalue())
    cfg = put(json.dumps({"architecture": "amd64", "os": "linux",
                          "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]}}).encode())
    man = put(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                          "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **cfg},
                          "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", **layer}]}).encode())
    (path / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (path / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", **man,
         "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}))


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, object]]:
    """A registry with two unsigned images pushed by skopeo, a key pair from dockyard, skopeo configs."""
    s = Server(tmp_path / "root").start()
    try:
        host = s.addr
        regd = tmp_path / "registries.d"
        regd.mkdir()
        (regd / "local.yaml").write_text(f"docker:\n  {host}:\n    use-sigstore-attachments: true\n")
        for name, text in (("signed", b"one"), ("unsigned", b"two")):
            oci_layout(tmp_path / name, text)
            run(SKOPEO, "copy", "--dest-tls-verify=false", f"oci:{tmp_path / name}:latest",
                f"docker://{host}/demo/{name}:v1")
        (tmp_path / "pass").write_text("correct horse\n")
        run(str(BIN / "dockyard"), "trust", "key", "generate", "alice", "--dir", str(tmp_path),
            "--passphrase-file", str(tmp_path / "pass"))
        run(str(BIN / "dockyard"), "trust", "key", "generate", "mallory", "--dir", str(tmp_path),
            env={"DOCKYARD_TRUST_PASSPHRASE": "other"})
        any_policy = tmp_path / "any.json"
        any_policy.write_text('{"default": [{"type": "insecureAcceptAnything"}]}')
        yield {"host": host, "dir": tmp_path, "regd": regd, "any": any_policy}
    finally:
        s.stop()


def dy(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    return run(str(BIN / "dockyard"), "trust", *args, ok=ok, env={"DOCKYARD_TRUST_PASSPHRASE": "unused"})


def sigstore_files(out: Path) -> list[dict[str, object]]:
    """What skopeo stored of an image's sigstore signatures in a ``dir:`` copy."""
    docs = []
    for f in sorted(out.glob("signature-*")):
        data = f.read_bytes()
        assert data.startswith(b"\x00sigstore-json\n"), data[:40]
        docs.append(json.loads(data.split(b"\n", 1)[1]))
    return docs


def test_skopeo_reads_what_dockyard_signs(env: dict[str, object]) -> None:
    host, d = env["host"], Path(str(env["dir"]))
    r = dy("sign", "--key", str(d / "alice.key"), "--passphrase-file", str(d / "pass"), f"{host}/demo/signed:v1")
    assert "Signed" in r.stdout
    out = d / "copied"
    run(SKOPEO, "--policy", str(env["any"]), "--registries.d", str(env["regd"]), "copy", "--src-tls-verify=false",
        f"docker://{host}/demo/signed:v1", f"dir:{out}")
    docs = sigstore_files(out)
    assert len(docs) == 1 and docs[0]["mimeType"] == "application/vnd.dev.cosign.simplesigning.v1+json"
    payload = json.loads(base64.b64decode(str(docs[0]["payload"])))
    manifest_digest = "sha256:" + hashlib.sha256((out / "manifest.json").read_bytes()).hexdigest()
    assert payload["critical"]["image"]["docker-manifest-digest"] == manifest_digest
    assert payload["critical"]["identity"]["docker-reference"] == f"{host}/demo/signed:v1"
    assert docs[0]["annotations"]["dev.cosignproject.cosign/signature"]  # type: ignore[index]


def test_dockyard_verifies_what_skopeo_writes(env: dict[str, object]) -> None:
    """skopeo copies a signed image (signature included) to a new repository, writing the attachment
    itself; dockyard finds it there and verifies it with alice's key, not with mallory's."""
    host, d = env["host"], Path(str(env["dir"]))
    dy("sign", "--key", str(d / "alice.key"), "--passphrase-file", str(d / "pass"), f"{host}/demo/signed:v1")
    out = d / "copied"
    run(SKOPEO, "--policy", str(env["any"]), "--registries.d", str(env["regd"]), "copy", "--src-tls-verify=false",
        f"docker://{host}/demo/signed:v1", f"dir:{out}")
    run(SKOPEO, "--policy", str(env["any"]), "--registries.d", str(env["regd"]), "copy", "--dest-tls-verify=false",
        f"dir:{out}", f"docker://{host}/demo/moved:v1")
    shown = json.loads(dy("inspect", "--key", str(d / "alice.pub"), "--key", str(d / "mallory.pub"),
                          f"{host}/demo/moved:v1").stdout)[0]
    assert [s["VerifiedBy"] for s in shown["Signatures"]] == [[str(d / "alice.pub")]]
    unsigned = json.loads(dy("inspect", "--key", str(d / "alice.pub"), f"{host}/demo/unsigned:v1").stdout)[0]
    assert unsigned["Signatures"] == []


def test_bad_keys_are_refused(env: dict[str, object]) -> None:
    host, d = env["host"], Path(str(env["dir"]))
    r = dy("sign", "--key", str(d / "alice.pub"), f"{host}/demo/signed:v1", ok=False)
    assert r.returncode == 1 and "not an encrypted sigstore private key" in r.stderr
    r = dy("sign", "--key", str(d / "alice.key"), f"{host}/demo/signed:v1", ok=False)  # passphrase "unused"
    assert r.returncode == 1 and "wrong passphrase" in r.stderr
    r = dy("inspect", "--key", str(d / "alice.key"), f"{host}/demo/signed:v1", ok=False)
    assert r.returncode == 1 and "not a PEM public key" in r.stderr


def policy_file(d: Path, host: object, key: Path) -> Path:
    policy = d / "policy.json"
    policy.write_text(json.dumps({"default": [{"type": "reject"}], "transports": {
        "docker": {f"{host}/demo": [{"type": "sigstoreSigned", "keyPath": str(key),
                                     "signedIdentity": {"type": "matchRepoDigestOrExact"}}]},
        "dir": {"": [{"type": "insecureAcceptAnything"}]}}}))
    return policy


def skopeo_pull(env: dict[str, object], policy: Path, ref: str, dest: Path) -> subprocess.CompletedProcess[str]:
    return run(SKOPEO, "--policy", str(policy), "--registries.d", str(env["regd"]), "copy", "--src-tls-verify=false",
               f"docker://{ref}", f"dir:{dest}", ok=False)


def test_skopeo_policy_refuses_unsigned_and_rejected(env: dict[str, object]) -> None:
    """What every skopeo does, sigstore crypto or not: under ``sigstoreSigned`` an image without signatures
    is refused, and a ``reject`` scope refuses everything."""
    host, d = env["host"], Path(str(env["dir"]))
    policy = policy_file(d, host, d / "alice.pub")
    r = skopeo_pull(env, policy, f"{host}/demo/unsigned:v1", d / "p1")
    assert r.returncode == 1 and "Source image rejected: A signature was required, but no signature exists" in r.stderr
    run(SKOPEO, "--policy", str(env["any"]), "copy", "--dest-tls-verify=false", f"oci:{d / 'unsigned'}:latest",
        f"docker://{host}/elsewhere/x:v1")
    r = skopeo_pull(env, policy, f"{host}/elsewhere/x:v1", d / "p2")
    assert r.returncode == 1 and f"Running image docker://{host}/elsewhere/x:v1 is rejected by policy" in r.stderr


def test_skopeo_policy_verifies_dockyard_signatures(env: dict[str, object]) -> None:
    """skopeo's ``sigstoreSigned`` check of dockyard's signatures: alice's accepted, mallory's refused. A
    skopeo built without sigstore crypto (Debian's 1.9.3) refuses any signed image with its own message,
    whatever the key (this test asserts exactly that then: the refusal is not a verification)."""
    host, d = env["host"], Path(str(env["dir"]))
    dy("sign", "--key", str(d / "alice.key"), "--passphrase-file", str(d / "pass"), f"{host}/demo/signed:v1")
    r = skopeo_pull(env, policy_file(d, host, d / "alice.pub"), f"{host}/demo/signed:v1", d / "p1")
    wrong = skopeo_pull(env, policy_file(d, host, d / "mallory.pub"), f"{host}/demo/signed:v1", d / "p2")
    if SIGSTORE_DISABLED in r.stderr:
        assert r.returncode == 1 and "Source image rejected: Debian-local change: sigstore disabled" in r.stderr
        assert wrong.returncode == 1 and "Debian-local change: sigstore disabled" in wrong.stderr
        return
    assert r.returncode == 0, r.stderr
    assert wrong.returncode == 1 and "Source image rejected" in wrong.stderr, wrong.stderr


def test_skopeo_signs_with_a_dockyard_key(env: dict[str, object]) -> None:
    """``skopeo copy --sign-by-sigstore-private-key`` with a key ``dockyard trust key generate`` made; dockyard's
    inspect and its policy check verify the signature skopeo attached (alice's key, not mallory's). Debian's 1.9.3 has no sigstore
    signing: it copies the image, then fails with its own message before reading the key (asserted so)."""
    host, d = env["host"], Path(str(env["dir"]))
    r = run(SKOPEO, "--policy", str(env["any"]), "--registries.d", str(env["regd"]), "copy", "--dest-tls-verify=false",
            "--sign-by-sigstore-private-key", str(d / "alice.key"), "--sign-passphrase-file", str(d / "pass"),
            f"oci:{d / 'signed'}:latest", f"docker://{host}/demo/skopeo-signed:v1", ok=False)
    shown = json.loads(dy("inspect", "--key", str(d / "alice.pub"), "--key", str(d / "mallory.pub"),
                          f"{host}/demo/skopeo-signed:v1").stdout)[0]
    if SIGSTORE_DISABLED in r.stderr:
        assert r.returncode == 1 and "creating signature: Debian-local change: sigstore disabled" in r.stderr
        assert shown["Signatures"] == []  # the image was written, no signature
        return
    assert r.returncode == 0, r.stderr
    assert [s["VerifiedBy"] for s in shown["Signatures"]] == [[str(d / "alice.pub")]]
    assert shown["Signatures"][0]["SignedReference"] == f"{host}/demo/skopeo-signed:v1"
    from dockyard import errors
    from dockyard.trust.api import check_pull
    from dockyard.trust.policy import Policy

    def policy(key: str) -> Policy:  # the daemon's --signature-policy check, in-process
        return Policy.parse({"default": [{"type": "reject"}], "transports": {"docker": {
            f"{host}/demo": [{"type": "sigstoreSigned", "keyPath": str(d / key)}]}}})
    assert check_pull(policy("alice.pub"), str(host), "demo/skopeo-signed", "v1", "") == shown["Digest"]
    with pytest.raises(errors.PermissionDenied, match="not made by this key"):
        check_pull(policy("mallory.pub"), str(host), "demo/skopeo-signed", "v1", "")
