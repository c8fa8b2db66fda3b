"""Sigstore key pairs as cosign writes them and containers/image (skopeo, podman) reads them.

The private key is an ECDSA P-256 key in PKCS#8 DER, encrypted as go-securesystemslib's
``encrypted`` package does (scrypt N=32768 r=8 p=1 → a NaCl secretbox key; JSON of kdf, cipher and
ciphertext, its byte strings base64) inside a PEM block ``ENCRYPTED COSIGN PRIVATE KEY``; the public key
is a PKIX ``PUBLIC KEY`` PEM. Passphrases come from a file or an environment variable, never argv.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

import nacl.exceptions
import nacl.secret
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from dockyard import errors

PRIVATE_PEM = "ENCRYPTED COSIGN PRIVATE KEY"
PRIVATE_PEM_NEW = "ENCRYPTED SIGSTORE PRIVATE KEY"  # cosign 2's name: read, not written (skopeo 1.9 wants the old)
SCRYPT = {"N": 32768, "r": 8, "p": 1}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _scrypt(passphrase: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    if n > 1 << 20 or r > 32 or p > 16:  # a hostile file must not make us allocate gigabytes
        raise errors.InvalidArgument(f"private key: scrypt parameters too large (N={n}, r={r}, p={p})")
    return hashlib.scrypt(passphrase, salt=salt, n=n, r=r, p=p, maxmem=256 * n * r + (1 << 20), dklen=32)


def _pem(kind: str, der: bytes) -> bytes:
    body = base64.encodebytes(der).decode().replace("\n", "")
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return ("\n".join([f"-----BEGIN {kind}-----", *lines, f"-----END {kind}-----"]) + "\n").encode()


def _unpem(data: bytes) -> tuple[str, bytes]:
    text = data.decode(errors="replace").strip().splitlines()
    if not text or not text[0].startswith("-----BEGIN ") or not text[-1].startswith("-----END "):
        raise errors.InvalidArgument("not a PEM file")
    kind = text[0].removeprefix("-----BEGIN ").removesuffix("-----")
    try:
        return kind, base64.b64decode("".join(text[1:-1]), validate=True)
    except ValueError:
        raise errors.InvalidArgument("PEM body is not base64") from None


def encrypt_private_key(key: ec.EllipticCurvePrivateKey, passphrase: bytes) -> bytes:
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    salt, nonce = os.urandom(32), os.urandom(24)
    box = nacl.secret.SecretBox(_scrypt(passphrase, salt, **{k.lower(): v for k, v in SCRYPT.items()}))
    sealed = box.encrypt(der, nonce).ciphertext
    doc = {"kdf": {"name": "scrypt", "params": SCRYPT, "salt": _b64(salt)},
           "cipher": {"name": "nacl/secretbox", "nonce": _b64(nonce)}, "ciphertext": _b64(sealed)}
    return _pem(PRIVATE_PEM, json.dumps(doc).encode())


def decrypt_private_key(pem: bytes, passphrase: bytes) -> ec.EllipticCurvePrivateKey:
    kind, body = _unpem(pem)
    if kind not in (PRIVATE_PEM, PRIVATE_PEM_NEW):
        raise errors.InvalidArgument(f"private key: a {kind!r} PEM block, not an encrypted sigstore private key")
    try:
        doc = json.loads(body)
        kdf, cipher = doc["kdf"], doc["cipher"]
        if kdf["name"] != "scrypt" or cipher["name"] != "nacl/secretbox":
            raise errors.InvalidArgument(f"private key: unsupported kdf/cipher {kdf['name']}/{cipher['name']}")
        params = kdf["params"]
        key = _scrypt(passphrase, base64.b64decode(kdf["salt"]), int(params["N"]), int(params["r"]), int(params["p"]))
        nonce, sealed = base64.b64decode(cipher["nonce"]), base64.b64decode(doc["ciphertext"])
    except (ValueError, KeyError, TypeError):
        raise errors.InvalidArgument("private key: malformed encrypted key") from None
    try:
        der = nacl.secret.SecretBox(key).decrypt(sealed, nonce)
    except (nacl.exceptions.CryptoError, ValueError):
        raise errors.InvalidArgument("private key: decryption failed (wrong passphrase?)") from None
    loaded = serialization.load_der_private_key(der, None)
    if not isinstance(loaded, ec.EllipticCurvePrivateKey) or not isinstance(loaded.curve, ec.SECP256R1):
        raise errors.InvalidArgument("private key: not an ECDSA P-256 key (the only kind sigstore signs with here)")
    return loaded


def public_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_key(pem: bytes) -> ec.EllipticCurvePublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError:
        raise errors.InvalidArgument("public key: not a PEM public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise errors.InvalidArgument("public key: not an ECDSA P-256 key")
    return key


def passphrase(file: str = "", env: str = "DOCKYARD_TRUST_PASSPHRASE") -> bytes:
    """From ``file`` (its first line, as skopeo's --sign-passphrase-file), else from ``env``."""
    if file:
        data = Path(file).read_bytes()
        return data.split(b"\n", 1)[0].rstrip(b"\r")
    value = os.environ.get(env)
    if value is None:
        raise errors.InvalidArgument(f"no passphrase: give --passphrase-file or set {env}")
    return value.encode()


def generate(prefix: Path, secret: bytes) -> tuple[Path, Path]:
    """``<prefix>.key`` (encrypted, 0600) and ``<prefix>.pub``; an existing file is not overwritten."""
    priv, pub = prefix.with_name(prefix.name + ".key"), prefix.with_name(prefix.name + ".pub")
    for p in (priv, pub):
        if p.exists():
            raise errors.AlreadyExists(f"{p} exists: not overwriting a key")
    key = ec.generate_private_key(ec.SECP256R1())
    fd = os.open(priv, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(encrypt_private_key(key, secret))
    pub.write_bytes(public_pem(key))
    return priv, pub
