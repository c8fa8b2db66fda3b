"""dockyard-cri: the Kubernetes Container Runtime Interface (runtime.v1) on dockyard-containerd.

A kubelet, critest or crictl speaks gRPC to ``--listen``; everything runs through
dockyard-containerd's API in its ``k8s.io`` namespace. Registry mirrors are given per
registry host: ``--registry-mirror registry.k8s.io=http://127.0.0.1:5000`` (repeatable).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

import grpc

from dockyard import errors
from dockyard.containerd.client import ContainerdClient
from dockyard.cri import cni
from dockyard.cri.api import api_pb2_grpc as cri_grpc
from dockyard.cri.images import CriImages
from dockyard.cri.runtime import Runtime, Settings
from dockyard.cri.service import ImageServicer, RuntimeServicer
from dockyard.cri.streaming import StreamServer
from dockyard.daemon import PidFile, setup_logging, stop_event
from dockyard.fsmode import private_dir

log = logging.getLogger("dockyard.cri")

NAMESPACE = "k8s.io"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="dockyard-cri", description=__doc__)
    p.add_argument("--listen", default="/run/dockyard/cri.sock", help="UNIX socket of the CRI")
    p.add_argument("--containerd", default="/run/dockyard/containerd.sock", help="dockyard-containerd's socket")
    p.add_argument("--containerd-root", default="/var/lib/dockyard/containerd",
                   help="containerd's root (ImageFsInfo reports its filesystem)")
    p.add_argument("--root", default="/var/lib/dockyard/cri", help="records of pods and containers")
    p.add_argument("--state", default="/run/dockyard/cri", help="network namespaces, FIFOs, pod files")
    p.add_argument("--sandbox-image", default="registry.k8s.io/pause:3.10-dockyard",
                   help="the pause image of every pod (pulled when missing)")
    p.add_argument("--cni-conf-dir", default="/etc/cni/net.d")
    p.add_argument("--cni-bin-dir", action="append", default=[], help="default /usr/lib/cni and /opt/cni/bin")
    p.add_argument("--cgroup-parent", default="dockyard-cri", help="for pods that name none")
    p.add_argument("--registry-mirror", action="append", default=[], metavar="HOST=ENDPOINT",
                   help="pull HOST's images from ENDPOINT first (http:// for plain http)")
    p.add_argument("--insecure-registry", action="append", default=[])
    p.add_argument("--signature-policy", default="",
                   help="containers-policy.json(5) file every image pull must satisfy (as dockyardd's)")
    p.add_argument("--engine-namespace", default="moby",
                   help="containerd namespace of the engine's images, adopted by name when asked for ('': none)")
    p.add_argument("--stream-address", default="127.0.0.1:0",
                   help="HOST:PORT of the streaming server (Exec/Attach/PortForward URLs); port 0: any free one")
    p.add_argument("--log-level", default="info")
    return p.parse_args(argv)


def mirrors_of(entries: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for entry in entries:
        host, sep, url = entry.partition("=")
        if not sep or not host or "://" not in url:
            raise errors.InvalidArgument(f"--registry-mirror {entry!r}: expected HOST=http(s)://ENDPOINT")
        out.setdefault(host, []).append(url)
    return out


async def serve(args: argparse.Namespace) -> None:
    cd = ContainerdClient(args.containerd, NAMESPACE)
    engine = ContainerdClient(args.containerd, args.engine_namespace) if args.engine_namespace else None
    images = CriImages(cd, mirrors_of(args.registry_mirror), args.insecure_registry,
                       str(Path(args.containerd_root) / "snapshots"), engine)
    if args.signature_policy:
        # lazy: 26 ms of CPU on every dockyard-cri start (trust.policy's import, measured); a policy is optional
        from dockyard.trust.policy import Policy

        images.signature_policy = Policy.load(Path(args.signature_policy))
    network = cni.Network(Path(args.cni_conf_dir), args.cni_bin_dir or ["/usr/lib/cni", "/opt/cni/bin"])
    rt = Runtime(Settings(Path(args.root), Path(args.state), args.sandbox_image, network, args.cgroup_parent),
                 cd, images)
    await rt.recover()
    streams = StreamServer(rt, args.stream_address)
    await streams.start()
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 16 << 20),
                                      ("grpc.max_send_message_length", 16 << 20)])
    cri_grpc.add_RuntimeServiceServicer_to_server(RuntimeServicer(rt, streams), server)
    cri_grpc.add_ImageServiceServicer_to_server(ImageServicer(images), server)
    listen = Path(args.listen)
    listen.parent.mkdir(parents=True, exist_ok=True)
    listen.unlink(missing_ok=True)
    server.add_insecure_port(f"unix://{listen}")
    await server.start()
    os.chmod(listen, 0o600)
    log.info("dockyard-cri serving on %s (containerd %s, namespace %s)", listen, args.containerd, NAMESPACE)
    await stop_event().wait()
    log.info("shutting down (pods keep running under their shims)")
    await server.stop(grace=2)
    await streams.stop()
    listen.unlink(missing_ok=True)
    await cd.close()
    if engine is not None:
        await engine.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    state = private_dir(Path(args.state))
    private_dir(Path(args.root))
    setup_logging(state / "cri.log", args.log_level)
    try:
        with PidFile(state / "dockyard-cri.pid", "dockyard-cri"):
            asyncio.run(serve(args))
    except errors.DockyardError as err:
        log.error("%s", err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
