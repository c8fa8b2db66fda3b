#!/usr/bin/env python3
"""TCP throughput: container to container on a user network, and host to a published port; Dockyard and Docker.

Both engines run the same busybox image and are driven by the same docker CLI,
so only the data path differs (veth + bridge; DNAT on Dockyard, docker-proxy on
Docker with --iptables=false, which is also Docker's path for 127.0.0.1).

- ``c2c``: a server container loops ``nc -l`` into ``wc -c``; a client container
  on the same user network pipes ``dd if=/dev/zero`` (``--mb`` MiB) into ``nc``,
  timed inside the client with busybox ``time`` (10 ms resolution), so container
  start-up is not counted.
- ``pub``: the same server published on 127.0.0.1:<free port>; the host sends
  ``--mb`` MiB from Python and the clock stops when the server closes (it has
  read everything).

Rounds alternate between the engines. Dockyard must be running
(``--dockyard-host``, with networking on); Docker is a private dockerd started
here (bench/run_latency.py's PrivateDockerd: own sockets, data root,
``--bridge none``, no iptables) unless ``--no-docker``. Every network, container
and the dockerd made here are removed at the end. Traffic stays on loopback and
the bridges made here (subnets under 10.214.0.0/16 by default).

    sudo .venv/bin/python bench/network_throughput.py --dockyard-host unix:///tmp/x/d.sock --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run_latency as rl  # PrivateDockerd, image import helpers (after the sys.path insert)

SERVER_SH = "mkfifo /f; while true; do echo ready; nc -l -p 5001 0<>/f | wc -c; done"


class Side:
    """One engine, driven through the docker CLI."""

    def __init__(self, name: str, docker: str, host: str, subnet: str) -> None:
        self.name, self.docker, self.host, self.subnet = name, docker, host, subnet
        tag = uuid.uuid4().hex[:6]
        self.net = f"ntbench-{tag}"
        self.server = f"ntbench-srv-{tag}"
        self.published = f"ntbench-pub-{tag}"
        self.port = 0
        self.server_ip = ""
        self.results: dict[str, list[float]] = {"c2c": [], "pub": []}

    def d(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.docker, "-H", self.host, *args], capture_output=True, text=True,
                              timeout=timeout, env=rl.client_env())

    def must(self, *args: str, timeout: float = 120) -> str:
        r = self.d(*args, timeout=timeout)
        if r.returncode != 0:
            raise rl.BenchError(f"{self.name}: docker {' '.join(args)}: {r.stderr.strip()}")
        return r.stdout.strip()

    def _wait_ready(self, name: str, count: int = 1) -> None:
        deadline = time.monotonic() + 30
        while self.d("logs", name).stdout.count("ready") < count:
            if time.monotonic() > deadline:
                raise rl.BenchError(f"{self.name}: server {name} never became ready")
            time.sleep(0.05)
        time.sleep(0.1)  # "ready" is printed just before nc binds

    def setup(self) -> None:
        self.must("network", "create", "--subnet", self.subnet, self.net)
        self.must("run", "-d", "--pull", "never", "--name", self.server, "--network", self.net, rl.IMAGE,
                  "sh", "-c", SERVER_SH)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.must("run", "-d", "--pull", "never", "--name", self.published, "--network", self.net,
                  "-p", f"127.0.0.1:{self.port}:5001", rl.IMAGE, "sh", "-c", SERVER_SH)
        self.server_ip = self.must("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                                   self.server)
        self._wait_ready(self.server)
        self._wait_ready(self.published)

    def c2c(self, mb: int) -> float:
        before = self.d("logs", self.server).stdout.count("ready")
        script = f"time sh -c 'dd if=/dev/zero bs=1048576 count={mb} 2>/dev/null | nc {self.server_ip} 5001'"
        r = self.d("run", "--rm", "--pull", "never", "--network", self.net, rl.IMAGE, "sh", "-c", script)
        m = re.search(r"real\s+(\d+)m\s*([\d.]+)s", r.stderr + r.stdout)
        if r.returncode != 0 or not m:
            raise rl.BenchError(f"{self.name}: c2c client failed: {r.stderr.strip()[-300:]}")
        self._wait_ready(self.server, before + 1)
        if f"{mb * 1048576}" not in self.d("logs", self.server).stdout:
            raise rl.BenchError(f"{self.name}: c2c server did not receive {mb} MiB")
        return int(m.group(1)) * 60 + float(m.group(2))

    def pub(self, mb: int) -> float:
        before = self.d("logs", self.published).stdout.count("ready")
        chunk = b"\0" * 1048576
        start = time.perf_counter()
        with socket.create_connection(("127.0.0.1", self.port), timeout=60) as s:
            for _ in range(mb):
                s.sendall(chunk)
            s.shutdown(socket.SHUT_WR)
            while s.recv(65536):
                pass
        elapsed = time.perf_counter() - start
        self._wait_ready(self.published, before + 1)
        if f"{mb * 1048576}" not in self.d("logs", self.published).stdout:
            raise rl.BenchError(f"{self.name}: published server did not receive {mb} MiB")
        return elapsed

    def teardown(self) -> None:
        self.d("rm", "-f", self.server, self.published)
        self.d("network", "rm", self.net)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dockyard-host", default=rl.DEFAULT_DOCKYARD_HOST)
    ap.add_argument("--docker-bin", default=rl.shutil.which("docker") or "/usr/local/bin/docker")
    ap.add_argument("--no-docker", action="store_true")
    ap.add_argument("--mb", type=int, default=200, help="MiB per transfer (default 200)")
    ap.add_argument("--rounds", type=int, default=5, help="timed transfers per engine and scenario (default 5)")
    ap.add_argument("--subnets", default="10.214.61.0/24,10.214.62.0/24",
                    help="user-network subnets for dockyard,docker (must be free)")
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args(argv)
    sub_dy, sub_dk = args.subnets.split(",")
    sides: list[Side] = []
    dockerd = None
    try:
        if rl.ping(args.dockyard_host) is not None:
            raise rl.BenchError(f"dockyard not reachable at {args.dockyard_host}")
        sides.append(Side("dockyard", args.docker_bin, args.dockyard_host, sub_dy))
        with tempfile.TemporaryDirectory(prefix="ntbench.") as work:
            tar = Path(work) / "busybox.tar"
            if not rl.has_image(args.dockyard_host, rl.IMAGE):
                rl.build_rootfs(tar)
                rl.api_import(args.dockyard_host, tar, rl.IMAGE)
            if not args.no_docker:
                dockerd = rl.PrivateDockerd(rl.ensure_dockerd_installed(), args.docker_bin)
                dockerd.start()
                if not tar.exists():
                    rl.build_rootfs(tar)
                dockerd.import_image(tar)
                sides.append(Side("docker", args.docker_bin, dockerd.host, sub_dk))
        for side in sides:
            side.setup()
        for side in sides:  # warm-up, untimed
            side.c2c(min(args.mb, 20))
            side.pub(min(args.mb, 20))
        for _ in range(args.rounds):
            for side in sides:
                side.results["c2c"].append(side.c2c(args.mb))
                side.results["pub"].append(side.pub(args.mb))
        print(f"TCP throughput, {args.mb} MiB per transfer, {args.rounds} rounds, median (min..max) MiB/s")
        print(f"{'engine':10} {'container->container':>28} {'host->published port':>28}")
        report = {}
        for side in sides:
            row = {}
            cells = []
            for key in ("c2c", "pub"):
                rates = [args.mb / t for t in side.results[key] if t > 0]
                row[key] = {"median_mib_s": statistics.median(rates), "min": min(rates), "max": max(rates),
                            "seconds": side.results[key]}
                cells.append(f"{statistics.median(rates):8.1f} ({min(rates):6.1f}..{max(rates):6.1f})")
            report[side.name] = row
            print(f"{side.name:10} {cells[0]:>28} {cells[1]:>28}")
        if len(sides) == 2:
            for key in ("c2c", "pub"):
                ratio = report["dockyard"][key]["median_mib_s"] / report["docker"][key]["median_mib_s"]
                print(f"dockyard/docker {key}: {ratio:.2f}x (above 1.0 = dockyard faster)")
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=2))
        return 0
    except rl.BenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    finally:
        for side in sides:
            try:
                side.teardown()
            except (OSError, subprocess.SubprocessError) as err:
                print(f"warning: cleanup of {side.name}: {err}", file=sys.stderr)
        if dockerd is not None:
            dockerd.stop()


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("needs root (a private dockerd)", file=sys.stderr)
    sys.exit(main())
