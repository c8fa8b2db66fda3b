"""containers-policy.json parsing, scope choice and requirement checks (no registry: signatures given)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from dockyard import errors
from dockyard.trust import keys, sigstore
from dockyard.trust.policy import Image, Policy

DIGEST = "sha256:" + "a" * 64


def keypair() -> tuple[ec.EllipticCurvePrivateKey, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    return key, base64.b64encode(keys.public_pem(key)).decode()


def signed(key: ec.EllipticCurvePrivateKey, ref: str, digest: str = DIGEST) -> sigstore.Signature:
    data = sigstore.payload(ref, digest)
    return sigstore.Signature(data, sigstore.sign(key, data))


def policy(key_data: str, identity: str = "matchRepoDigestOrExact") -> Policy:
    return Policy.parse({"default": [{"type": "reject"}], "transports": {"docker": {
        "reg.example/team": [{"type": "sigstoreSigned", "keyData": key_data, "signedIdentity": {"type": identity}}],
        "reg.example/team/open:v1": [{"type": "insecureAcceptAnything"}],
        "*.example": [{"type": "insecureAcceptAnything"}]}}})


def test_most_specific_scope_wins() -> None:
    _, pub = keypair()
    p = policy(pub)
    assert p.scope(Image("reg.example/team/open", "v1", ""))[0] == "transports.docker['reg.example/team/open:v1']"
    assert p.scope(Image("reg.example/team/open", "v2", ""))[0] == "transports.docker['reg.example/team']"
    assert p.scope(Image("reg.example/other", "v1", ""))[0] == "transports.docker['*.example']"
    assert p.scope(Image("elsewhere.io/x", "v1", ""))[0] == "default"
    assert p.scope(Image("a.b.example/x", "v1", ""))[0] == "transports.docker['*.example']"


def test_signature_by_the_key_over_the_digest_is_accepted() -> None:
    key, pub = keypair()
    image = Image("reg.example/team/app", "v1", "", DIGEST)
    policy(pub).check(image, lambda: [signed(key, "reg.example/team/app:v1")])


@pytest.mark.parametrize(("make", "why"), [
    (lambda key, other: [], "no signatures"),
    (lambda key, other: [signed(other, "reg.example/team/app:v1")], "not made by this key"),
    (lambda key, other: [signed(key, "reg.example/team/app:v1", "sha256:" + "b" * 64)], "signs sha256:bbbb"),
    (lambda key, other: [signed(key, "reg.example/team/app:v2")], "names reg.example/team/app:v2"),
])
def test_refusals_name_image_and_requirement(make, why: str) -> None:  # type: ignore[no-untyped-def]
    key, pub = keypair()
    other, _ = keypair()
    image = Image("reg.example/team/app", "v1", "", DIGEST)
    with pytest.raises(errors.PermissionDenied) as err:
        policy(pub).check(image, lambda: make(key, other))
    assert "image reg.example/team/app:v1 is refused" in str(err.value)
    assert "sigstoreSigned by keyData" in str(err.value) and why in str(err.value)


def test_match_repository_accepts_another_tag() -> None:
    key, pub = keypair()
    image = Image("reg.example:5000/team/app", "v1", "", DIGEST)
    p = Policy.parse({"default": [{"type": "sigstoreSigned", "keyData": pub,
                                   "signedIdentity": {"type": "matchRepository"}}]})
    p.check(image, lambda: [signed(key, "reg.example:5000/team/app:v2")])
    with pytest.raises(errors.PermissionDenied):
        p.check(image, lambda: [signed(key, "reg.example:5000/team/other:v1")])


def test_reject_needs_no_signatures() -> None:
    _, pub = keypair()
    with pytest.raises(errors.PermissionDenied, match=r"\(default: reject\)"):
        policy(pub).check(Image("elsewhere.io/x", "v1", ""), lambda: pytest.fail("signatures fetched"))


@pytest.mark.parametrize(("doc", "why"), [
    ({}, "\"default\" list is required"),
    ({"default": []}, "non-empty list"),
    ({"default": [{"type": "signedBy", "keyType": "GPGKeys"}]}, "unsupported requirement type 'signedBy'"),
    ({"default": [{"type": "sigstoreSigned"}]}, "exactly one of keyPath, keyData"),
    ({"default": [{"type": "sigstoreSigned", "keyData": "!!"}]}, "keyData is not base64"),
    ({"default": [{"type": "sigstoreSigned", "keyData": base64.b64encode(b"x").decode()}]}, "not a PEM public key"),
    ({"default": [{"type": "sigstoreSigned", "keyPath": "/nonexistent.pub"}]}, "keyPath"),
    ({"default": [{"type": "insecureAcceptAnything"}], "transports": {"docker": {"x": {}}}}, "transports.docker['x']"),
])
def test_malformed_policies_are_refused(doc: dict, why: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(errors.InvalidArgument) as err:
        Policy.parse(doc)
    assert why in str(err.value)


@pytest.mark.parametrize("key", [rsa.generate_private_key(public_exponent=65537, key_size=2048),
                                 ec.generate_private_key(ec.SECP384R1()), ed25519.Ed25519PrivateKey.generate()],
                         ids=["rsa", "p384", "ed25519"])
def test_policy_keys_of_another_type_are_refused(key: object) -> None:
    """cosign's keys (and so sigstoreSigned's) are ECDSA P-256: another public key is refused by name."""
    pem = key.public_key().public_bytes(serialization.Encoding.PEM,  # type: ignore[attr-defined]
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(errors.InvalidArgument) as err:
        Policy.parse({"default": [{"type": "sigstoreSigned", "keyData": base64.b64encode(pem).decode()}]})
    assert "default: keyData: " in str(err.value) and "not an ECDSA P-256 key" in str(err.value)


def test_load_reads_a_file(tmp_path: Path) -> None:
    (tmp_path / "p.json").write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    assert Policy.load(tmp_path / "p.json").default[0].type == "insecureAcceptAnything"
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(errors.InvalidArgument, match="bad.json"):
        Policy.load(tmp_path / "bad.json")
