#!/usr/bin/env python3
"""Client start-up: the dockyard CLI against the Go docker CLI, on one private dockyardd.

Both CLIs talk to the same daemon (its own roots and socket, started and stopped here, with
busybox imported and one container created so ``ps -a`` has a row). Each command is run by the
two CLIs interleaved (dockyard, docker, dockyard, docker, ...), so load from other work on the
machine falls on both alike; the ratio of the medians is the number to read.

    .venv/bin/python bench/cli_startup.py [--runs 40] [--docker /usr/bin/docker] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.conftest import Daemon  # noqa: E402

DOCKYARD = str(REPO / ".venv" / "bin" / "dockyard")
COMMANDS = (("ps",), ("ps", "-a"), ("images",), ("version",), ("network", "ls"), ("volume", "ls"))


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "DOCKYARD_"))}
    env["DOCKER_CONFIG"] = tempfile.mkdtemp(prefix="cli-bench-cfg-")
    return env


def _once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system, all threads) of one run, in ms."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    dt = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {r.returncode}: {r.stderr.decode()[-300:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return dt * 1000, cpu * 1000


def measure(host: str, docker: str, command: tuple[str, ...], runs: int, env: dict[str, str]) -> dict[str, float]:
    clients = {"dockyard": [DOCKYARD, "-H", host, *command], "docker": [docker, "-H", host, *command]}
    times: dict[str, list[float]] = {name: [] for name in clients}
    cpus: dict[str, list[float]] = {name: [] for name in clients}
    for argv in clients.values():  # warm the page cache
        for _ in range(3):
            _once(argv, env)
    for _ in range(runs):
        for name, argv in clients.items():
            wall, cpu = _once(argv, env)
            times[name].append(wall)
            cpus[name].append(cpu)
    med = {name: statistics.median(t) for name, t in times.items()}
    cpu_med = {name: statistics.median(t) for name, t in cpus.items()}
    return {"dockyard_ms": round(med["dockyard"], 1), "docker_ms": round(med["docker"], 1),
            "dockyard_min_ms": round(min(times["dockyard"]), 1), "docker_min_ms": round(min(times["docker"]), 1),
            "ratio": round(med["dockyard"] / med["docker"], 2),
            "dockyard_cpu_ms": round(cpu_med["dockyard"], 1), "docker_cpu_ms": round(cpu_med["docker"], 1),
            "cpu_ratio": round(cpu_med["dockyard"] / cpu_med["docker"], 2)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--docker", default="/usr/bin/docker")
    ap.add_argument("--json", action="store_true")
    opts = ap.parse_args()
    if os.geteuid() != 0:
        print("needs root (starts a private dockyardd)", file=sys.stderr)
        return 2
    # PYTHONDONTWRITEBYTECODE is set here: a module edited since the last compile would be
    # compiled again on every run, which is not what a user's installed CLI does.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "src")], check=True)
    d = Daemon(Path(tempfile.mkdtemp(prefix="dy-cb-", dir="/tmp")))
    env = _env()
    results = {}
    try:
        d.start()
        tar = d.base / "busybox.tar"
        subprocess.run([str(REPO / "scripts" / "make-busybox-rootfs"), str(tar)], check=True,
                       stdout=subprocess.DEVNULL)
        for args in (("import", "-c", 'CMD ["sh"]', str(tar), "busybox:latest"), ("create", "--name", "c1", "busybox")):
            r = d.cli(*args)
            if r.returncode != 0:
                raise RuntimeError(r.stderr.decode())
        for command in COMMANDS:
            results[" ".join(command)] = measure(d.host, opts.docker, command, opts.runs, env)
    finally:
        d.cleanup()
    if opts.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"medians of {opts.runs} interleaved runs; wall ms (min) and CPU ms (user+sys)")
    print(f"{'command':<11} {'dockyard':>15} {'docker':>15} {'ratio':>6} {'cpu dockyard':>13} {'cpu docker':>11} "
          f"{'ratio':>6}")
    for command, r in results.items():
        print(f"{command:<11} {r['dockyard_ms']:>7} ({r['dockyard_min_ms']:>5}) {r['docker_ms']:>7} "
              f"({r['docker_min_ms']:>5}) {r['ratio']:>6} {r['dockyard_cpu_ms']:>13} {r['docker_cpu_ms']:>11} "
              f"{r['cpu_ratio']:>6}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
