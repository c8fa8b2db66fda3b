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
    sign.set_defaults(fn=_sign)
    ins = sub.add_parser("inspect", help="list IMAGE's signatures; with --key, which keys verify them")
    ins.add_argument("image", nargs="+")
    ins.add_argument("--key", action="append", default=[], help="a public key to verify with (repeatable)")
    ins.set_defaults(fn=_inspect)


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

    done = api.sign(args.image, Path(args.key), keys.passphrase(args.passphrase_file))
    print(f"Signed {done['reference']} ({done['digest']}): {done['tag']}")
    return 0


def _inspect(_client: Any, args: argparse.Namespace) -> int:
    from dockyard.trust import api

    out = [api.inspect(ref, [Path(k) for k in args.key]) for ref in args.image]
    print(json.dumps(out, indent=4))
    return 0
