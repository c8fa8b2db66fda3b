"""``dockyard trust``: sigstore keys and signatures of images in a registry (no daemon needed).

Passphrases come from ``--passphrase-file`` or ``DOCKYARD_TRUST_PASSPHRASE``, never from argv."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def register(cmd: Any) -> None:
    p = cmd("trust", _usage, "Sign images and inspect their signatures (sigstore)")
    sub = p.add_subparsers(dest="trust_cmd", metavar="COMMAND")
    key = sub.add_parser("key", help="manage signing keys")
    key_sub = key.add_subparsers(dest="trust_key_cmd", metavar="COMMAND")
    gen = key_sub.add_parser("generate", help="generate NAME.key (encrypted) and NAME.pub")
    gen.add_argument("name")
    gen.add_argument("--dir", default=".", help="directory to write the key pair into")
    gen.add_argument("--passphrase-file", default="", help="the passphrase's file (else $DOCKYARD_TRUST_PASSPHRASE)")
    gen.set_defaults(fn=_generate)
    sign = sub.add_parser("sign", help="sign IMAGE (host/repository:tag) in its registry")
    sign.add_argument("image")
    sign.add_argument("--key", required=True, help="the encrypted sigstore private key")
    sign.add_argument("--passphrase-file", default="", help="the passphrase's file (else $DOCKYARD_TRUST_PASSPHRASE)")
    sign.add_argument("--sign-identity", default="", help="the reference the signature claims (default: IMAGE)")
    sign.set_defaults(fn=_sign)
    ins = sub.add_parser("inspect", help="list IMAGE's signatures; with --key, which keys verify them")
    ins.add_argument("image", nargs="+")
    ins.add_argument("--key", action="append", default=[], help="a public key to verify with (repeatable)")
    ins.set_defaults(fn=_inspect)


def _stored_auth(image: str) -> dict[str, str]:
    """The credentials ``login`` stored for the registry ``image`` names, as docker's trust commands use."""
    from dockyard.cli import credentials

    return credentials.get(image.split("/", 1)[0])


def _usage(_client: Any, args: argparse.Namespace) -> int:
    print("usage: dockyard trust {key generate,sign,inspect} ...", file=sys.stderr)
    return 1


def _generate(_client: Any, args: argparse.Namespace) -> int:
    from dockyard.trust import keys

    priv, pub = keys.generate(Path(args.dir) / args.name, keys.passphrase(args.passphrase_file))
    print(f"Successfully generated and loaded private key. Corresponding public key available: {pub}")
    print(f"Private key: {priv}")
    return 0


def _sign(_client: Any, args: argparse.Namespace) -> int:
    from dockyard.trust import api, keys

    done = api.sign(args.image, Path(args.key), keys.passphrase(args.passphrase_file), _stored_auth(args.image),
                    args.sign_identity)
    print(f"Signed {done['reference']} ({done['digest']}): {done['tag']}")
    return 0


def _inspect(_client: Any, args: argparse.Namespace) -> int:
    from dockyard.trust import api

    out = [api.inspect(ref, [Path(k) for k in args.key], _stored_auth(ref)) for ref in args.image]
    print(json.dumps(out, indent=4))
    return 0


POLICY_PATHS = ("~/.config/containers/policy.json", "/etc/containers/policy.json")  # containers/image's own


def content_trust() -> bool:
    """``DOCKER_CONTENT_TRUST`` set to a true value, as the docker CLI reads it."""
    import os

    return os.environ.get("DOCKER_CONTENT_TRUST", "").lower() in ("1", "true", "yes")


def _policy_file() -> Path:
    import os

    from dockyard import errors

    named = os.environ.get("DOCKYARD_SIGNATURE_POLICY", "")
    candidates = [Path(named)] if named else [Path(p).expanduser() for p in POLICY_PATHS]
    for path in candidates:
        if path.is_file():
            return path
    raise errors.InvalidArgument("content trust: no signature policy (set DOCKYARD_SIGNATURE_POLICY or write "
                                 f"{POLICY_PATHS[1]})")


def trusted_pull(c: Any, ref: str, pull: Any) -> None:
    """``DOCKER_CONTENT_TRUST=1`` pull: the policy must ask for signatures on ``ref`` and they must hold;
    then the signed digest is pulled and tagged (docker's trusted pull: resolve, pull by digest, tag).
    A reference by digest is pulled as it is, as docker does."""
    from dockyard import errors
    from dockyard.oci import reference
    from dockyard.trust.api import check_pull
    from dockyard.trust.policy import Image, Policy

    r = reference.parse(ref)
    policy = Policy.load(_policy_file())
    image = Image(r.name, r.tag, "")
    if not policy.needs_signatures(image):
        where, reqs = policy.scope(image)
        raise errors.PermissionDenied(f"content trust: image {image} is not required to be signed by the signature "
                                      f"policy ({where}: {', '.join(q.describe() for q in reqs)}): refusing to pull")
    digest = check_pull(policy, r.domain, r.path, r.tag, "", _stored_auth(r.name))
    print(f"Pull (1 of 1): {r.familiar()}@{digest}", file=sys.stderr)
    pull(f"{r.name}@{digest}")
    c.request("POST", f"/images/{r.name}@{digest}/tag", {"repo": r.name, "tag": r.tag}).read()
    print(f"Tagging {r.familiar_name()}@{digest} as {r.familiar()}", file=sys.stderr)
