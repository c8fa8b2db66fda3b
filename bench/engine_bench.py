#!/usr/bin/env python3
"""Engine benchmarks, Dockyard and Docker (docker.io) in the same run.

* 50 detached containers started (``run -d busybox sleep 600``, one after another),
* ``ps`` with those 50 running,
* ``stats --no-stream`` for the 50 in one call,
* client start-up (``ps`` and ``version`` on an idle daemon; dockyard's Python CLI vs the Go docker CLI),
* a container writing 100 MB to stdout (``run`` with output to /dev/null), then ``logs`` of it,
* memory per running container: PSS of every shim (smaps_rollup) / number of containers.

Dockyard: a private dockyardd (tests/conftest.py's Daemon, own roots) driven by the dockyard CLI.
Docker: a private dockerd from bench/run_latency.py (PrivateDockerd), driven by the docker CLI.
Both get busybox imported from scripts/make-busybox-rootfs. Results are printed as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from run_latency import PrivateDockerd, build_rootfs, client_env, ensure_dockerd_installed  # noqa: E402

from tests.conftest import Daemon  # noqa: E402

DOCKER = "/usr/local/bin/docker" if os.path.exists("/usr/local/bin/docker") else "docker"
DOCKYARD = str(REPO / ".venv" / "bin" / "dockyard")


def timed(argv: list[str], timeout: float = 600) -> tuple[float, subprocess.CompletedProcess[bytes]]:
    t0 = time.perf_counter()
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       env=client_env(), timeout=timeout)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {r.returncode}: {r.stderr.decode()[-500:]}")
    return dt, r


def median_of(argv: list[str], n: int) -> float:
    return statistics.median(timed(argv)[0] for _ in range(n)) * 1000


def pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _parent_is_containerd(pid: int) -> bool:
    """dockyard's shim template (and nothing else of ours) is a child of containerd; shims are re-parented."""
    try:
        ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        return b"containerd" in Path(f"/proc/{ppid}/cmdline").read_bytes() and ppid != 1
    except (OSError, ValueError, IndexError):
        return False


def shim_pids(name_part: str, containerd_children: bool = False) -> list[int]:
    """Processes whose command line names ``name_part``; with ``containerd_children`` also containerd's
    own children (the shim template and its spare)."""
    out = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            cmd = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if name_part in cmd and (containerd_children or not _parent_is_containerd(int(p.name))):
            out.append(int(p.name))
    return out


def bench(cli: list[str], stats_cli: list[str], n: int, find_shims: Callable[[], list[int]]) -> dict[str, float]:
    res: dict[str, float] = {}
    res["client_version_ms"] = median_of([*cli, "version"], 7)
    res["client_ps_empty_ms"] = median_of([*cli, "ps"], 7)
    t0 = time.perf_counter()
    for i in range(n):
        timed([*cli, "run", "-d", "--name", f"bench-{i}", "busybox", "sleep", "600"])
    res["start_50_detached_s"] = time.perf_counter() - t0
    res["ps_50_ms"] = median_of([*cli, "ps"], 5)
    res["stats_50_no_stream_s"] = timed([*stats_cli, "stats", "--no-stream", *[f"bench-{i}" for i in range(n)]])[0]
    pids = find_shims()
    res["shim_pss_kb_per_container"] = sum(pss_kb(p) for p in pids) / max(1, n)
    res["shims_counted"] = len(pids)
    subprocess.run([*cli, "rm", "-f", *[f"bench-{i}" for i in range(n)]], capture_output=True, env=client_env())
    res["write_100mb_s"] = timed([*cli, "run", "--name", "bench-big", "busybox", "sh", "-c",
                                  "head -c 104857600 /dev/zero | tr '\\0' 'x' | fold -w 1023"])[0]
    res["logs_100mb_s"] = timed([*cli, "logs", "bench-big"])[0]
    subprocess.run([*cli, "rm", "-f", "bench-big"], capture_output=True, env=client_env())
    return res


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-n", type=int, default=50)
    p.add_argument("--skip-docker", action="store_true")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="dy-bench-", dir="/tmp"))
    tar = work / "busybox.tar"
    build_rootfs(tar)
    results: dict[str, object] = {"date": time.strftime("%Y-%m-%d"), "n": args.n}
    d = Daemon(work / "dy")
    d.base.mkdir()
    try:
        d.start()
        r = d.cli("import", "-c", 'CMD ["sh"]', str(tar), "busybox:latest")
        assert r.returncode == 0, r.stderr
        # stats through the docker CLI on both sides: dockyard's CLI has no stats command yet
        # our shims from their pid files (a forked shim's cmdline no longer names the daemon's paths)
        results["dockyard"] = bench([DOCKYARD, "-H", d.host], [DOCKER, "-H", d.host], args.n, d.shim_pids)
    finally:
        d.cleanup()
    try:
        if not args.skip_docker:
            dockerd = PrivateDockerd(ensure_dockerd_installed(), DOCKER)
            try:
                dockerd.start()
                dockerd.import_image(tar)
                results["docker"] = bench([DOCKER, "-H", dockerd.host], [DOCKER, "-H", dockerd.host], args.n,
                                          lambda: [p for p in shim_pids("containerd-shim") if b"moby" in
                                                   Path(f"/proc/{p}/cmdline").read_bytes()])
            finally:
                dockerd.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)  # the busybox tar
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
