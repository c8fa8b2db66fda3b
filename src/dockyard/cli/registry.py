"""``dockyard registry serve|gc|htpasswd``: run an OCI registry in this process (no daemon needed)."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(cmd: Any) -> None:
    p = cmd("registry", _usage, "Run an OCI distribution registry (no daemon needed)")
    sub = p.add_subparsers(dest="registry_cmd", metavar="COMMAND")
    s = sub.add_parser("serve", help="serve the registry API")
    s.add_argument("--addr", default=None, help="HOST:PORT to listen on (127.0.0.1:5000)")
    s.add_argument("--root", default=None, help="storage root (/var/lib/dockyard/registry)")
    s.add_argument("--tls-cert", default=None)
    s.add_argument("--tls-key", default=None)
    s.add_argument("--htpasswd", default=None, help="bcrypt htpasswd file: Basic auth (or token-server users)")
    s.add_argument("--token-realm", default=None,
                   help="enable token auth with the built-in token server at this URL ('builtin': <scheme>://ADDR/token)")
    s.add_argument("--token-service", default=None)
    s.add_argument("--anonymous-pull", action="store_true", default=None)
    # dest apart from the global --config (the docker CLI's config directory)
    s.add_argument("--config", dest="registry_config", default=None, help="JSON or TOML config file (flags win)")
    s.add_argument("--read-only", action="store_true", default=None)
    s.add_argument("--proxy-remote", default=None, help="pull-through cache of this upstream registry URL")
    s.add_argument("--proxy-username", default=None)
    s.add_argument("--proxy-password", default=None)
    s.add_argument("--upload-ttl", default=None,
                   help="remove upload sessions idle this long, with their bytes (seconds or 30m, 1h: the default)")
    s.add_argument("--sparse-manifests", action="store_true", default=None,
                   help="accept image manifests whose layers were never pushed (indexes are always accepted sparse)")
    s.set_defaults(fn=_serve)
    g = sub.add_parser("gc", help="delete blobs no manifest references")
    g.add_argument("--root", default=None)
    g.add_argument("--config", dest="registry_config", default=None)
    g.add_argument("--dry-run", action="store_true")
    g.set_defaults(fn=_gc)
    h = sub.add_parser("htpasswd", help="print an htpasswd line (bcrypt) for USER, password on stdin")
    h.add_argument("user")
    h.set_defaults(fn=_htpasswd)


def _usage(_client: Any, args: argparse.Namespace) -> int:
    print("usage: dockyard registry {serve,gc,htpasswd} ...", file=sys.stderr)
    return 1


def _config(args: argparse.Namespace) -> Any:
    from dockyard.registry.config import load

    return load(args.registry_config, {k: v for k, v in vars(args).items() if k not in ("fn", "registry_config")})


def _serve(_client: Any, args: argparse.Namespace) -> int:
    import asyncio

    from dockyard.registry.server import serve

    cfg = _config(args)
    print(f"dockyard registry: serving {cfg.scheme}://{cfg.addr} from {cfg.root}", file=sys.stderr, flush=True)
    asyncio.run(serve(cfg))
    return 0


def _gc(_client: Any, args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from dockyard.registry.gc import collect
    from dockyard.registry.server import write_lock

    cfg = _config(args)
    fd = write_lock(Path(cfg.root))
    try:
        res = collect(Path(cfg.root), dry_run=args.dry_run)
    finally:
        os.close(fd)
    verb = "would delete" if args.dry_run else "deleted"
    for d in res.swept:
        print(f"{verb} {d}")
    print(f"marked {res.marked}, {verb} {len(res.swept)} blobs ({res.bytes_freed} bytes), "
          f"aborted {res.uploads_aborted} stale uploads")
    return 0


def _htpasswd(_client: Any, args: argparse.Namespace) -> int:
    from dockyard.registry.auth import hash_password

    password = sys.stdin.readline().rstrip("\n")
    print(f"{args.user}:{hash_password(password)}")
    return 0
