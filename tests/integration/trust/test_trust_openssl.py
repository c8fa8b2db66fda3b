"""Sigstore signatures checked both ways by tools outside dockyard that Debian ships with their crypto on.

Debian's skopeo 1.9.3 and podman 4.3.1 are built with sigstore disabled: neither signs with nor verifies a
sigstore key (docs/conformance.md). What they do is move signatures: skopeo reads the cosign attachment
of an image into a ``dir:`` copy and writes a ``dir:`` copy's signatures back as an attachment. The crypto
is checked here by OpenSSL (the ECDSA P-256 SHA-256 signature cosign and containers/image make):

- dockyard signs -> skopeo fetches the attachment -> ``openssl dgst -verify`` accepts it with the signer's
  public key, refuses it with another key and refuses a payload changed by one byte;
- OpenSSL makes a key pair and signs a simple-signing payload -> skopeo attaches it in the registry ->
  dockyard's ``trust inspect`` and its pull-time policy check accept it with OpenSSL's public key, refuse
  it with another, and refuse an OpenSSL signature over another image's digest.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from test_signature_policy_registries import policy
from test_trust_skopeo import SKOPEO, dy, env, run, sigstore_files  # noqa: F401 (env: the fixture)

from dockyard import errors
from dockyard.trust.api import check_pull

pytestmark = pytest.mark.skipif(shutil.which(SKOPEO) is None or shutil.which("openssl") is None,
                                reason="skopeo and openssl needed (apt-get install skopeo openssl)")
SIGSTORE_HEADER = b"\x00sigstore-json\n"


def skopeo(e: dict[str, object], *args: str) -> subprocess.CompletedProcess[str]:
    return run(SKOPEO, "--policy", str(e["any"]), "--registries.d", str(e["regd"]), "copy", "--src-tls-verify=false",
               "--dest-tls-verify=false", *args)


def openssl_verify(pub: Path, payload: bytes, signature_b64: str, work: Path) -> subprocess.CompletedProcess[str]:
    (work / "payload").write_bytes(payload)
    (work / "sig.der").write_bytes(base64.b64decode(signature_b64))
    return run("openssl", "dgst", "-sha256", "-verify", str(pub), "-signature", str(work / "sig.der"),
               str(work / "payload"), ok=False)


def test_openssl_verifies_what_dockyard_signs(env: dict[str, object]) -> None:  # noqa: F811
    host, d = env["host"], Path(str(env["dir"]))
    dy("sign", "--key", str(d / "alice.key"), "--passphrase-file", str(d / "pass"), f"{host}/demo/signed:v1")
    out = d / "copied"
    skopeo(env, f"docker://{host}/demo/signed:v1", f"dir:{out}")
    [doc] = sigstore_files(out)
    payload = base64.b64decode(str(doc["payload"]))
    signature = doc["annotations"]["dev.cosignproject.cosign/signature"]  # type: ignore[index]
    assert json.loads(payload)["critical"]["image"]["docker-manifest-digest"] == \
        "sha256:" + hashlib.sha256((out / "manifest.json").read_bytes()).hexdigest()
    good = openssl_verify(d / "alice.pub", payload, signature, d)
    assert good.returncode == 0 and good.stdout.strip() == "Verified OK", good.stdout + good.stderr
    wrong_key = openssl_verify(d / "mallory.pub", payload, signature, d)
    assert wrong_key.returncode == 1 and "Verification failure" in wrong_key.stdout + wrong_key.stderr
    changed = openssl_verify(d / "alice.pub", payload.replace(b'"type"', b'"Type"'), signature, d)
    assert changed.returncode == 1 and "Verification failure" in changed.stdout + changed.stderr


def openssl_keys(d: Path, name: str) -> tuple[Path, Path]:
    key, pub = d / f"{name}-ossl.key", d / f"{name}-ossl.pub"
    run("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(key))
    run("openssl", "pkey", "-in", str(key), "-pubout", "-out", str(pub))
    return key, pub


def attach_openssl_signature(e: dict[str, object], key: Path, image: str, signed_digest: str, dest: str) -> str:
    """``image`` copied by skopeo to ``dest`` with one signature OpenSSL made over a payload naming
    ``signed_digest`` (the image's own digest when empty); returns the image's manifest digest."""
    d = Path(str(e["dir"]))
    out = d / f"dir-{dest.replace('/', '-').replace(':', '-')}"
    skopeo(e, f"docker://{e['host']}/{image}", f"dir:{out}")
    digest = "sha256:" + hashlib.sha256((out / "manifest.json").read_bytes()).hexdigest()
    payload = json.dumps({"critical": {"identity": {"docker-reference": f"{e['host']}/{dest}"},
                                       "image": {"docker-manifest-digest": signed_digest or digest},
                                       "type": "cosign container image signature"},
                          "optional": {"creator": "openssl"}}).encode()
    (d / "ossl-payload").write_bytes(payload)
    run("openssl", "dgst", "-sha256", "-sign", str(key), "-out", str(d / "ossl-sig.der"), str(d / "ossl-payload"))
    signature = base64.b64encode((d / "ossl-sig.der").read_bytes()).decode()
    doc = {"mimeType": "application/vnd.dev.cosign.simplesigning.v1+json",
           "payload": base64.b64encode(payload).decode(),
           "annotations": {"dev.cosignproject.cosign/signature": signature}}
    (out / "signature-1").write_bytes(SIGSTORE_HEADER + json.dumps(doc).encode())
    skopeo(e, f"dir:{out}", f"docker://{e['host']}/{dest}")
    return digest


def test_dockyard_verifies_what_openssl_signs(env: dict[str, object]) -> None:  # noqa: F811
    host, d = env["host"], Path(str(env["dir"]))
    key, pub = openssl_keys(d, "carol")
    _, other_pub = openssl_keys(d, "dave")
    digest = attach_openssl_signature(env, key, "demo/signed:v1", "", "demo/ossl:v1")
    shown = json.loads(dy("inspect", "--key", str(pub), "--key", str(other_pub), "--key", str(d / "alice.pub"),
                          f"{host}/demo/ossl:v1").stdout)[0]
    assert shown["Digest"] == digest
    assert [(s["VerifiedBy"], s["Creator"]) for s in shown["Signatures"]] == [([str(pub)], "openssl")]
    assert check_pull(policy(str(host), pub), str(host), "demo/ossl", "v1", "") == digest
    with pytest.raises(errors.PermissionDenied, match="not made by this key"):
        check_pull(policy(str(host), other_pub), str(host), "demo/ossl", "v1", "")


def test_openssl_signature_over_another_digest_is_refused(env: dict[str, object]) -> None:  # noqa: F811
    """A good signature by the trusted key, but over the unsigned image's digest, attached to the signed one."""
    host, d = env["host"], Path(str(env["dir"]))
    key, pub = openssl_keys(d, "carol")
    other = d / "other"
    skopeo(env, f"docker://{host}/demo/unsigned:v1", f"dir:{other}")
    other_digest = "sha256:" + hashlib.sha256((other / "manifest.json").read_bytes()).hexdigest()
    digest = attach_openssl_signature(env, key, "demo/signed:v1", other_digest, "demo/swapped:v1")
    assert digest != other_digest
    with pytest.raises(errors.PermissionDenied, match=f"signs {other_digest}, not {digest}"):
        check_pull(policy(str(host), pub), str(host), "demo/swapped", "v1", "")
    shown = json.loads(dy("inspect", "--key", str(pub), f"{host}/demo/swapped:v1").stdout)[0]
    assert [s["VerifiedBy"] for s in shown["Signatures"]] == [[]]
