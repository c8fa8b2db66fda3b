"""``dockyard [OPTIONS] desktop [--addr HOST:PORT] [--no-browser]``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from dockyard import errors

DEFAULT_CRI = "unix:///run/dockyard/cri.sock"  # dockyard-cri's socket (as `make start` runs it)
DEFAULT_ADDR = "127.0.0.1:0"  # loopback, a free port: the URL printed carries the port and the token


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dockyard desktop", description="Serve the Dockyard dashboard in a browser")
    p.add_argument("--addr", default=DEFAULT_ADDR, help=f"address to serve on (default {DEFAULT_ADDR}: a free port)")
    p.add_argument("--no-browser", action="store_true", help="do not open the default browser")
    p.add_argument("--cri", default=DEFAULT_CRI, help=f"the Kubernetes CRI for the pods view (default {DEFAULT_CRI})")
    return p


def engine_of(client: Any) -> Any:
    """The dashboard's async client for the daemon the global options chose (a unix or plain tcp host)."""
    # lazy: 230 ms of CPU (aiohttp's client, measured) that `dockyard desktop --help` and a bad option need not pay
    from dockyard.desktop.engine import Engine

    if getattr(client, "ssh", None) is not None or (client.tcp and client.tls.enabled):
        raise errors.InvalidArgument("dockyard desktop reaches the daemon over unix:// or tcp:// without TLS only")
    return Engine(socket_path=client.socket_path, tcp=client.tcp)


def main(argv: list[str], client_factory: Callable[[], Any]) -> int:
    args = parser().parse_args(argv)
    # lazy: 290 ms of CPU (aiohttp's server, measured) that `dockyard desktop --help` and a bad option need not
    # pay; also a cycle: desktop.server imports DEFAULT_CRI from here
    from dockyard.desktop.server import serve

    try:
        return serve(engine_of(client_factory()), args.addr, not args.no_browser, args.cri)
    except errors.DockyardError as err:
        print(f"dockyard desktop: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
