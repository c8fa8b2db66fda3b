"""dockyard-containerd: serves content, images, snapshots, containers and tasks over gRPC."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from dockyard import errors
from dockyard.containerd.server import Services, build_server
from dockyard.daemon import PidFile, setup_logging, stop_event
from dockyard.fsmode import private_dir

log = logging.getLogger("dockyard.containerd")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="dockyard-containerd", description=__doc__)
    p.add_argument("--root", default="/var/lib/dockyard/containerd", help="persistent data (content, snapshots, metadata)")
    p.add_argument("--state", default="/run/dockyard/containerd", help="runtime state (task bundles, shim sockets)")
    p.add_argument("--address", default="/run/dockyard/containerd.sock", help="UNIX socket of the gRPC API")
    p.add_argument("--log-level", default="info")
    return p.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    root, state, address = Path(args.root), Path(args.state), Path(args.address)
    services = Services(root, state)
    address.parent.mkdir(parents=True, exist_ok=True)
    if address.exists():
        address.unlink()
    server = build_server(services, f"unix://{address}")
    await server.start()
    os.chmod(address, 0o600)
    log.info("dockyard-containerd serving on %s (root %s, state %s)", address, root, state)
    await stop_event().wait()
    log.info("shutting down (running tasks keep running under their shims)")
    await server.stop(grace=2)
    await services.tasks.close()
    try:
        address.unlink()
    except FileNotFoundError:
        pass
    services.meta.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    state = Path(args.state)
    # 0700 (containerd's plugin directories since CVE-2021-41103): bundles, rootfs mounts,
    # snapshots and metadata are for root alone, also on a root made by an older daemon
    private_dir(Path(args.root))
    private_dir(state)
    setup_logging(state / "containerd.log", args.log_level)
    try:
        with PidFile(state / "dockyard-containerd.pid", "dockyard-containerd"):
            asyncio.run(serve(args))
    except errors.DockyardError as err:
        log.error("%s", err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
