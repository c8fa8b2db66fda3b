"""Sigstore keys and signatures (dockyard.trust): formats and refusals, no registry."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from dockyard import errors
from dockyard.trust import keys, sigstore

DIGEST = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64


def test_key_pair_round_trip_and_format(tmp_path: Path) -> None:
    priv, pub = keys.generate(tmp_path / "k", b"pw")
    assert priv.stat().st_mode & 0o777 == 0o600
    kind, body = keys._unpem(priv.read_bytes())
    doc = json.loads(body)
    assert kind == "ENCRYPTED COSIGN PRIVATE KEY"
    assert doc["kdf"]["name"] == "scrypt" and doc["kdf"]["params"] == {"N": 32768, "r": 8, "p": 1}
    assert doc["cipher"]["name"] == "nacl/secretbox" and len(base64.b64decode(doc["cipher"]["nonce"])) == 24
    key = keys.decrypt_private_key(priv.read_bytes(), b"pw")
    assert keys.public_pem(key) == pub.read_bytes()
    with pytest.raises(errors.AlreadyExists):
        keys.generate(tmp_path / "k", b"pw")


def test_wrong_passphrase_and_wrong_key_types(tmp_path: Path) -> None:
    priv, pub = keys.generate(tmp_path / "k", b"pw")
    with pytest.raises(errors.InvalidArgument, match="wrong passphrase"):
        keys.decrypt_private_key(priv.read_bytes(), b"nope")
    with pytest.raises(errors.InvalidArgument, match="not an encrypted sigstore private key"):
        keys.decrypt_private_key(pub.read_bytes(), b"pw")
    p384 = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(errors.InvalidArgument, match="not an ECDSA P-256 key"):
        keys.decrypt_private_key(keys.encrypt_private_key(p384, b"pw"), b"pw")
    with pytest.raises(errors.InvalidArgument, match="not an ECDSA P-256 key"):
        keys.load_public_key(p384.public_key().public_bytes(serialization.Encoding.PEM,
                                                             serialization.PublicFormat.SubjectPublicKeyInfo))


def test_hostile_scrypt_parameters_are_refused(tmp_path: Path) -> None:
    priv, _ = keys.generate(tmp_path / "k", b"pw")
    _, body = keys._unpem(priv.read_bytes())
    doc = json.loads(body)
    doc["kdf"]["params"]["N"] = 1 << 30
    pem = keys._pem(keys.PRIVATE_PEM, json.dumps(doc).encode())
    with pytest.raises(errors.InvalidArgument, match="scrypt parameters too large"):
        keys.decrypt_private_key(pem, b"pw")


def test_signature_checks() -> None:
    alice, mallory = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    data = sigstore.payload("reg.example:5000/a/b:v1", DIGEST)
    sig = sigstore.Signature(data, sigstore.sign(alice, data))
    claims = sig.verify(alice.public_key(), DIGEST)
    assert claims["reference"] == "reg.example:5000/a/b:v1" and claims["digest"] == DIGEST
    with pytest.raises(errors.PermissionDenied, match="not made by this key"):
        sig.verify(mallory.public_key(), DIGEST)
    with pytest.raises(errors.PermissionDenied, match=f"signs {DIGEST}, not {OTHER}"):
        sig.verify(alice.public_key(), OTHER)  # a good signature, over another image
    with pytest.raises(errors.PermissionDenied):
        sigstore.Signature(data.replace(b"b:v1", b"c:v1"), sig.signature).verify(alice.public_key(), DIGEST)
    bad = b'{"critical": {"type": "something else"}}'
    with pytest.raises(errors.InvalidArgument, match="payload"):
        sigstore.Signature(bad, sigstore.sign(alice, bad)).verify(alice.public_key(), DIGEST)


def test_attachment_manifest_round_trip() -> None:
    alice = ec.generate_private_key(ec.SECP256R1())
    data = sigstore.payload("reg.example/a:v1", DIGEST)
    blobs: dict[str, bytes] = {}
    manifest = sigstore.attachment_manifest([sigstore.Signature(data, sigstore.sign(alice, data))], blobs)
    [(media_type, digest, sig)] = sigstore.parse_attachment(manifest)
    assert media_type == sigstore.PAYLOAD_MEDIA_TYPE and blobs[digest] == data
    assert sigstore.attachment_tag(DIGEST) == "sha256-" + "a" * 64 + ".sig"
    sigstore.Signature(blobs[digest], sig, media_type).verify(alice.public_key(), DIGEST)


def test_passphrase_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "p").write_text("from file\nignored\n")
    assert keys.passphrase(str(tmp_path / "p")) == b"from file"
    monkeypatch.setenv("DOCKYARD_TRUST_PASSPHRASE", "from env")
    assert keys.passphrase() == b"from env"
    monkeypatch.delenv("DOCKYARD_TRUST_PASSPHRASE")
    with pytest.raises(errors.InvalidArgument, match="no passphrase"):
        keys.passphrase()
