"""What ``dockyard trust`` does: sign an image in its registry, list and check its signatures."""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dockyard import errors
from dockyard.trust import keys, sigstore
from dockyard.trust.policy import Image, Policy
from dockyard.trust.registry import Registry, split

Auth = dict[str, Any] | None  # an AuthConfig (username/password, identitytoken or registrytoken), None: anonymous


def _attached(reg: Registry, digest: str) -> list[sigstore.Signature]:
    try:
        data, _, _ = reg.manifest(sigstore.attachment_tag(digest))
    except errors.NotFound:
        return []
    return [sigstore.Signature(reg.blob(d), sig, media_type) for media_type, d, sig in sigstore.parse_attachment(data)]


def sign(reference: str, key_file: Path, passphrase: bytes, auth: Auth = None, identity: str = "") -> dict[str, str]:
    """Sign the manifest ``reference`` names now; the signature is added to those already attached. The
    signature claims ``reference`` unless ``identity`` names another (skopeo's ``--sign-identity``: the
    name pullers ask for when this registry serves as a mirror)."""
    key = keys.decrypt_private_key(key_file.read_bytes(), passphrase)
    host, repo, tag, digest = split(reference)
    reg = Registry(host, repo, auth)
    _, manifest_digest, _ = reg.manifest(digest or tag)
    identity = identity or f"{host}/{repo}" + (f":{tag}" if tag else "")
    data = sigstore.payload(identity, manifest_digest)
    new = sigstore.Signature(data, sigstore.sign(key, data))
    signatures = [s for s in _attached(reg, manifest_digest) if s.payload != data] + [new]
    blobs: dict[str, bytes] = {}
    manifest = sigstore.attachment_manifest(signatures, blobs)
    for blob in blobs.values():
        reg.put_blob(blob)
    reg.put_manifest(sigstore.attachment_tag(manifest_digest), manifest, sigstore.OCI_MANIFEST)
    return {"reference": identity, "digest": manifest_digest, "tag": sigstore.attachment_tag(manifest_digest)}


def inspect(reference: str, public_keys: list[Path], auth: Auth = None) -> dict[str, Any]:
    """The signatures attached to ``reference``'s manifest; with keys, which key verified each."""
    host, repo, tag, digest = split(reference)
    reg = Registry(host, repo, auth)
    _, manifest_digest, _ = reg.manifest(digest or tag)
    loaded = [(p, keys.load_public_key(p.read_bytes())) for p in public_keys]
    out = []
    for s in _attached(reg, manifest_digest):
        row: dict[str, Any] = {"MediaType": s.media_type}
        try:
            claims = s.claims()
            row.update({"SignedReference": claims["reference"], "SignedDigest": claims["digest"],
                        "Creator": claims["optional"].get("creator", ""),
                        "Timestamp": claims["optional"].get("timestamp")})
        except errors.InvalidArgument as err:
            row["Error"] = str(err)
        row["VerifiedBy"] = []
        for path, key in loaded:
            try:
                s.verify(key, manifest_digest)
                row["VerifiedBy"].append(str(path))
            except (errors.PermissionDenied, errors.InvalidArgument):
                continue
        out.append(row)
    return {"Name": reference, "Digest": manifest_digest, "Signatures": out}


def check_pull(policy: Policy, domain: str, repo: str, tag: str, digest: str, auth: Auth = None,
               endpoint: str = "", insecure: Sequence[str] = ()) -> str:
    """Judge a pull of ``domain/repo:tag`` (or ``@digest``) by ``policy`` before anything is fetched:
    the manifest digest its signatures were checked against, "" if the policy asks for none. The
    manifest and its signatures are read with the pull's own credentials ``auth``, from the mirror
    ``endpoint`` (``http(s)://host[:port]``) when the pull goes through one, in plain HTTP from a registry
    on the daemon's ``insecure`` list; the policy judges the name asked for, as containers/image does."""
    image = Image(f"{domain}/{repo}", tag if not digest else "", digest)
    if not policy.needs_signatures(image):
        policy.check(image, list)
        return ""
    reg = _registry(domain, repo, auth, endpoint, insecure)
    try:
        _, image.manifest_digest, _ = reg.manifest(digest or tag)
    except errors.PermissionDenied:
        raise errors.NotFound(f"pull access denied for {domain}/{repo}, repository does not exist or may require "
                              "'docker login'") from None
    policy.check(image, lambda: _attached(reg, image.manifest_digest))
    return image.manifest_digest


def _registry(domain: str, repo: str, auth: Auth, endpoint: str, insecure: Sequence[str] = ()) -> Registry:
    if not endpoint:
        return Registry(domain, repo, auth, insecure)
    url = urllib.parse.urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
    reg = Registry(url.netloc, repo, auth)
    reg.secure = url.scheme != "http"
    return reg


def check_load(policy: Policy, domain: str, repo: str, tag: str, manifest_digest: str,
               insecure: Sequence[str] = ()) -> None:
    """Judge an image ``load`` named ``domain/repo:tag`` whose manifest is ``manifest_digest``: an archive
    carries no signatures, so a scope that asks for them is answered by the signatures attached to that
    digest in the image's registry (as ``trust inspect`` finds them); an unnamed image ("" domain) can be
    judged only by the policy's default. Registries on the daemon's ``insecure`` list are read in plain HTTP."""
    image = Image(f"{domain}/{repo}" if domain else "", tag, "", manifest_digest)
    if not policy.needs_signatures(image):
        policy.check(image, list)
        return
    if not domain:
        raise errors.PermissionDenied(f"image {manifest_digest} is refused by the signature policy (default): an "
                                      "image loaded without a name has no registry to find its signatures in")
    reg = Registry(domain, repo, None, insecure)
    try:
        policy.check(image, lambda: _attached(reg, manifest_digest))
    except (errors.Unavailable, errors.Internal) as err:
        raise errors.PermissionDenied(f"image {image} is refused by the signature policy: its signatures could "
                                      f"not be read from {domain}: {err}") from None
