#!/usr/bin/env python3
"""Registry throughput: push and pull of a ~100 MB image, Dockyard's registry vs Debian's docker-registry.

Both servers run here on 127.0.0.1 (own temp roots, own ports, no auth, no
TLS) and are stopped by PID at the end. The client is the same for both:
``skopeo copy --preserve-digests`` from/to an OCI layout on local disk (one
uncompressed 100 MB layer of random bytes + config), so the numbers measure
the registries, not compression. Each round pushes to a fresh repository and
pulls back into a fresh directory; every round uses a new random layer (skopeo's blob-info
cache would otherwise turn later pushes into cross-repository mounts); within a round the
registries take turns going first;
the median and best of ``--runs`` rounds are printed (MB/s = 1e6 bytes/s).

    .venv/bin/python bench/registry_bench.py [--size-mb 100] [--runs 5] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOCKYARD = Path(sys.executable).parent / "dockyard"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def make_layout(dest: Path, size: int) -> int:
    """An OCI layout with one uncompressed layer of ``size`` random bytes; returns the image size."""
    blobs = dest / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def put(b: bytes) -> str:
        h = hashlib.sha256(b).hexdigest()
        (blobs / h).write_bytes(b)
        return "sha256:" + h

    layer = os.urandom(size)
    ld = put(layer)
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [ld]}}).encode()
    man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                      "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(cfg), "size": len(cfg)},
                      "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": size}]}).encode()
    md = put(man)
    (dest / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (dest / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": len(man),
         "annotations": {"org.opencontainers.image.ref.name": "v1"}}]}))
    return size + len(cfg) + len(man)


class Server:
    def __init__(self, name: str, work: Path) -> None:
        self.name, self.port = name, free_port()
        root = work / name
        root.mkdir()
        if name == "dockyard":
            cmd = [str(DOCKYARD), "registry", "serve", "--addr", f"127.0.0.1:{self.port}", "--root", str(root / "data")]
        else:
            cfg = root / "config.yml"
            cfg.write_text(f"version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
                           f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n  delete:\n    enabled: true\n"
                           f"http:\n  addr: 127.0.0.1:{self.port}\n")
            cmd = ["docker-registry", "serve", str(cfg)]
        self.log = open(root / "server.log", "wb")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_port(self.port, self.proc)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)}: {r.stderr}")
    return dt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=100)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    for tool in ("skopeo", "docker-registry"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} missing: apt-get install -y skopeo docker-registry")
    work = Path(tempfile.mkdtemp(prefix="dockyard-regbench."))
    servers: list[Server] = []
    try:
        servers = [Server("dockyard", work), Server("docker-registry", work)]
        times: dict[str, dict[str, list[float]]] = {s.name: {"push": [], "pull": []} for s in servers}
        total = 0
        for i in range(args.runs):
            # a new layer every round: skopeo remembers where blobs are and would mount instead of upload
            shutil.rmtree(work / "src", ignore_errors=True)
            total = make_layout(work / "src", args.size_mb * 1_000_000)
            # alternate who goes first: the second one may profit from a warmer page cache
            for s in (servers if i % 2 == 0 else servers[::-1]):
                ref = f"docker://127.0.0.1:{s.port}/bench/img{i}:v1"
                times[s.name]["push"].append(timed(["skopeo", "copy", "--preserve-digests", "--dest-tls-verify=false",
                                                    f"oci:{work / 'src'}:v1", ref]))
                out = work / f"pull-{s.name}-{i}"
                times[s.name]["pull"].append(timed(["skopeo", "copy", "--preserve-digests", "--src-tls-verify=false",
                                                    ref, f"oci:{out}:v1"]))
                shutil.rmtree(out)
        result = {"image_bytes": total, "runs": args.runs, "client": "skopeo copy --preserve-digests",
                  "results": {n: {op: {"median_s": statistics.median(v), "best_s": min(v),
                                       "median_MBps": total / 1e6 / statistics.median(v)} for op, v in ops.items()}
                              for n, ops in times.items()}}
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            print(f"image {total / 1e6:.1f} MB, {args.runs} rounds, client: skopeo copy (same for both)")
            print(f"{'registry':<16} {'push median':>12} {'push MB/s':>10} {'pull median':>12} {'pull MB/s':>10}")
            for n, ops in result["results"].items():
                print(f"{n:<16} {ops['push']['median_s']:>11.2f}s {ops['push']['median_MBps']:>10.0f} "
                      f"{ops['pull']['median_s']:>11.2f}s {ops['pull']['median_MBps']:>10.0f}")
        return 0
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
