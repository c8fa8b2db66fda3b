#!/usr/bin/env python3
"""``dockyard compose`` against Compose v2 (the real binary) on one private dockyardd.

Projects of 10 and 50 services (busybox ``sleep``, one network on a free subnet). Per size and
round, each tool runs ``up -d``, ``ps`` and ``down -t 0`` of its own project, the tools
interleaved (dockyard, v2, dockyard, v2, ...) so other load on the machine falls on both alike;
the ratio of the medians (dockyard / v2, below 1 is faster) is the number to read.

    .venv/bin/python bench/compose_bench.py [--sizes 10,50] [--runs 3] [--compose-v2 PATH] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.conftest import Daemon, free_subnet  # noqa: E402

DOCKYARD = str(REPO / ".venv" / "bin" / "dockyard")
COMPOSE_V2 = os.environ.get("COMPOSE_V2") or str(REPO / ".venv" / "libexec" / "docker-compose")
STEPS = (("up", "-d"), ("ps",), ("down", "-t", "0"))


def compose_file(services: int, subnet: str) -> str:
    body = "".join(f"  s{i}:\n    image: busybox\n    command: [\"sleep\", \"100000\"]\n" for i in range(services))
    return f"services:\n{body}networks:\n  default:\n    ipam:\n      config: [{{subnet: \"{subnet}\"}}]\n"


def _env(host: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "DOCKYARD_", "COMPOSE_"))}
    env.update(DOCKER_HOST=host, DOCKER_CONFIG=tempfile.mkdtemp(prefix="compose-bench-cfg-"),
               COMPOSE_BAKE="false", DOCKER_BUILDKIT="0")
    return env


def _timed(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {r.returncode}: {r.stderr.decode()[-500:]}")
    return dt * 1000


def measure(d: Daemon, workdir: Path, size: int, runs: int, compose_v2: str) -> dict[str, dict[str, float]]:
    env = _env(d.host)
    (workdir / "compose.yaml").write_text(compose_file(size, free_subnet("10.217")))
    tools = {"dockyard": [DOCKYARD, "-H", d.host, "compose", "-p", f"dyb{size}"],
             "v2": [compose_v2, "-p", f"v2b{size}"]}
    times: dict[str, dict[str, list[float]]] = {t: {s[0]: [] for s in STEPS} for t in tools}
    for _ in range(runs):
        for tool, argv in tools.items():
            for step in STEPS:
                times[tool][step[0]].append(_timed([*argv, *step], workdir, env))
    out: dict[str, dict[str, float]] = {}
    for step in STEPS:
        dy, v2 = statistics.median(times["dockyard"][step[0]]), statistics.median(times["v2"][step[0]])
        out[step[0]] = {"dockyard_ms": round(dy), "v2_ms": round(v2), "ratio": round(dy / v2, 2)}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10,50")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--compose-v2", default=COMPOSE_V2)
    ap.add_argument("--json", action="store_true")
    opts = ap.parse_args()
    if os.geteuid() != 0:
        print("needs root (starts a private dockyardd)", file=sys.stderr)
        return 2
    if not os.access(opts.compose_v2, os.X_OK):
        print(f"Compose v2 not found at {opts.compose_v2} (make deps installs it)", file=sys.stderr)
        return 2
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "src")], check=True)
    d = Daemon(Path(tempfile.mkdtemp(prefix="dy-compb-", dir="/tmp")))
    results: dict[str, dict[str, dict[str, float]]] = {}
    try:
        d.start()
        tar = d.base / "busybox.tar"
        subprocess.run([str(REPO / "scripts" / "make-busybox-rootfs"), str(tar)], check=True, stdout=subprocess.DEVNULL)
        r = d.cli("import", "-c", 'CMD ["sh"]', str(tar), "busybox:latest")
        if r.returncode != 0:
            raise RuntimeError(r.stderr.decode())
        for size in (int(s) for s in opts.sizes.split(",")):
            results[str(size)] = measure(d, d.base, size, opts.runs, opts.compose_v2)
    finally:
        d.cleanup()
    if opts.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"medians of {opts.runs} interleaved rounds, wall ms; ratio dockyard/v2 (below 1: dockyard faster)")
    print(f"{'services':>8} {'step':<6} {'dockyard':>9} {'v2':>9} {'ratio':>6}")
    for size, steps in results.items():
        for step, m in steps.items():
            print(f"{size:>8} {step:<6} {m['dockyard_ms']:>9} {m['v2_ms']:>9} {m['ratio']:>6}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
