#!/usr/bin/env python3
"""Build benchmark: cold, fully cached and one-file-changed builds, Dockyard vs Docker (classic and BuildKit).

The Dockerfile (FROM busybox; ENV, WORKDIR, COPY of 200 small files, RUN, COPY of one
``--big-mb`` file, RUN, CMD) and its context are written to a temp dir. Both engines are
private: a dockyardd on temp roots (the test suite's ``Daemon``) and a dockerd (Debian's
docker.io, ``DOCKER_BUILDKIT=0``) started through ``run_latency.PrivateDockerd``; both get
the same busybox rootfs with ``import``. Docker is measured twice on the same dockerd: the
classic builder (``DOCKER_BUILDKIT=0``) and BuildKit (``DOCKER_BUILDKIT=1``; Debian's docker 20.10
CLI drives dockerd's built-in BuildKit itself, no buildx plugin needed, and Debian bookworm has no
``docker-buildx`` package). Every round, rotating the order of the engines:

* cold: ``build --no-cache``;
* cached: the same build again (every step a cache hit);
* incremental: one small file rewritten (new content), then build: the COPY of the small
  files and every step after it rebuild.

Timed with ``time.perf_counter()`` around the CLI process (``build -q``). Prints medians and
ratios (Dockyard / Docker) and a JSON line with every sample.
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
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from run_latency import PrivateDockerd, client_env, ensure_dockerd_installed  # noqa: E402

DOCKERFILE = """FROM busybox
ENV APP_HOME=/app MODE=bench
WORKDIR /app
COPY small/ ./small/
RUN cat small/* | wc -c > /app/small.size
COPY big.bin ./
RUN md5sum big.bin > big.md5
CMD ["cat", "/app/small.size"]
"""

# The private dockerd runs with ``--bridge none``: BuildKit's RUN then needs ``--network none``
# (the classic builder and Dockyard run RUN without a network there already).
BUILD_FLAGS = {"buildkit": ["--network", "none"]}


def _remove_child_cgroups(parent: str) -> None:
    """BuildKit runs its RUN steps in ``<cgroup-parent>/buildkit``, which PrivateDockerd's clean-up
    does not know about; removed (empty once the builds are done) so the parent can go too."""
    if not parent:
        return
    for child in Path("/sys/fs/cgroup").glob(f"*/{parent}/*/"):
        try:
            child.rmdir()
        except OSError:
            pass


def make_context(root: Path, big_mb: int) -> None:
    (root / "small").mkdir(parents=True)
    (root / "Dockerfile").write_text(DOCKERFILE)
    for i in range(200):
        (root / "small" / f"f{i:03}.txt").write_text(f"file {i}\n" * 20)
    (root / "big.bin").write_bytes(os.urandom(big_mb << 20))


def timed(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return dt


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--big-mb", type=int, default=20)
    ap.add_argument("--no-docker", action="store_true", help="measure Dockyard only")
    ap.add_argument("--no-buildkit", action="store_true", help="skip Docker's BuildKit")
    ap.add_argument("--record", action="store_true", help="append the result to docs/benchmarks.md")
    a = ap.parse_args(argv)

    from tests.conftest import Daemon

    work = Path(tempfile.mkdtemp(prefix="dy-bb-", dir="/tmp"))
    ctx = work / "ctx"
    make_context(ctx, a.big_mb)
    tar = work / "busybox.tar"
    subprocess.run([str(REPO / "scripts" / "make-busybox-rootfs"), str(tar)], check=True)
    dy = Daemon(work / "dy")
    dy.base.mkdir()
    dockerd: PrivateDockerd | None = None
    try:
        dy.start()
        r = dy.cli("import", "-c", 'CMD ["sh"]', str(tar), "busybox:latest")
        assert r.returncode == 0, r.stderr
        engines: dict[str, tuple[list[str], dict[str, str]]] = {
            "dockyard": ([str(Path(sys.executable).parent / "dockyard"), "-H", dy.host], dict(os.environ))}
        if not a.no_docker:
            docker = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker"
            dockerd = PrivateDockerd(ensure_dockerd_installed(), docker)
            dockerd.start()
            dockerd.import_image(tar)
            env = {**client_env(), "DOCKER_BUILDKIT": "0"}
            engines["docker"] = ([docker, "-H", dockerd.host], env)
            if not a.no_buildkit:
                engines["buildkit"] = ([docker, "-H", dockerd.host], {**env, "DOCKER_BUILDKIT": "1"})
        samples: dict[str, dict[str, list[float]]] = {e: {"cold": [], "cached": [], "incremental": []}
                                                      for e in engines}
        changed = ctx / "small" / "f100.txt"
        for rnd in range(a.rounds):
            names = list(engines)
            order = names[rnd % len(names):] + names[:rnd % len(names)]
            for name in order:
                cli, env = engines[name]
                flags = BUILD_FLAGS.get(name, [])
                build = cli + ["build", "-q", *flags, "-t", "bench-build", str(ctx)]
                changed.write_text(f"round {rnd} base\n")
                samples[name]["cold"].append(timed(cli + ["build", "-q", "--no-cache", *flags, "-t", "bench-build",
                                                          str(ctx)], env))
                samples[name]["cached"].append(timed(build, env))
                changed.write_text(f"round {rnd} changed {time.time()}\n")
                samples[name]["incremental"].append(timed(build, env))
        med = {e: {k: statistics.median(v) for k, v in s.items()} for e, s in samples.items()}
        others = [e for e in engines if e != "dockyard"]
        lines = ["| case | " + " | ".join(f"{e} (s)" for e in engines) + " |" +
                 "".join(f" dockyard/{e} |" for e in others),
                 "|---|" + "---|" * (len(engines) + len(others))]
        for case in ("cold", "cached", "incremental"):
            row = f"| {case} | " + " | ".join(f"{med[e][case]:.3f}" for e in engines) + " |"
            row += "".join(f" {med['dockyard'][case] / med[e][case]:.2f} |" for e in others)
            lines.append(row)
        table = "\n".join(lines)
        print(table)
        print(json.dumps({"rounds": a.rounds, "big_mb": a.big_mb, "samples": samples}))
        if a.record:
            with open(REPO / "docs" / "benchmarks.md", "a") as f:
                f.write(f"\n## Dockerfile builds ({date.today().isoformat()})\n\n"
                        f"`python bench/build_bench.py --rounds {a.rounds} --big-mb {a.big_mb} --record`: "
                        "FROM busybox, ENV, WORKDIR, COPY of 200 small files, RUN, COPY of one "
                        f"{a.big_mb} MB file, RUN, CMD. Private dockyardd and private dockerd (Debian docker.io, "
                        "classic builder `DOCKER_BUILDKIT=0`, and BuildKit `DOCKER_BUILDKIT=1` through the docker 20.10 CLI) "
                        "in the same run, order rotating each round; medians of "
                        f"{a.rounds} rounds, wall time of the CLI process (`build -q`). cold = `--no-cache`, "
                        "cached = unchanged rebuild, incremental = one small file changed (its COPY and every "
                        "later step rebuild). 2 CPUs.\n\n" + table + "\n")
    finally:
        if dockerd is not None:
            _remove_child_cgroups(dockerd._cgroup_parent)
            dockerd.stop()
        dy.cleanup()
        shutil.rmtree(work, ignore_errors=True)  # the context and the busybox tar
    return 0


if __name__ == "__main__":
    sys.exit(main())
