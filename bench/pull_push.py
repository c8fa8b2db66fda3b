#!/usr/bin/env python3
"""Pull, push, save and load: dockyard vs docker, against a local docker-registry.

* A Debian ``docker-registry`` (distribution) is started on 127.0.0.1 on a free
  port with a temp root (stopped by PID at the end). The bench writes two images
  into it over the distribution API: ``bench/big`` (one ~100 MB layer of random,
  incompressible bytes, gzip) and ``bench/multi`` (8 layers of ~12.5 MB each).
* dockyard: a private ``dockyardd`` (its own roots, socket, cgroup parent, as
  tests/conftest.py starts one), driven by the venv's ``dockyard`` CLI.
* docker: a private ``dockerd`` (``PrivateDockerd`` from run_latency.py) driven by
  ``/usr/local/bin/docker``.

Every round removes the image from both engines first (so each pull downloads
and unpacks everything), then times the engines alternately. A push goes to a
fresh registry each round (new root, new port), so neither engine can skip or
cross-mount a blob. Times are wall-clock around the CLI process.
"""

from __future__ import annotations

import argparse
import atexit
import gzip
import hashlib
import http.client
import io
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_latency import BenchError, PrivateDockerd, client_env, ensure_dockerd_installed, log  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
BIN = REPO / ".venv" / "bin"
REGISTRY_BIN = "/usr/bin/docker-registry"
DOCKER_CLI = "/usr/local/bin/docker"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Registry:
    """docker-registry on 127.0.0.1:<free port> with its own temp root."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="dy-bench-reg-"))
        self.host = f"127.0.0.1:{free_port()}"
        (self.base / "config.yml").write_text(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n"
            f"    rootdirectory: {self.base / 'data'}\nhttp:\n  addr: {self.host}\n")
        logf = open(self.base / "registry.log", "ab")
        self.proc = subprocess.Popen([REGISTRY_BIN, "serve", str(self.base / "config.yml")], stdout=logf,
                                     stderr=logf, stdin=subprocess.DEVNULL, start_new_session=True)
        logf.close()
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"http://{self.host}/v2/", timeout=1).read()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise BenchError("docker-registry did not start: "
                                     + (self.base / "registry.log").read_text()[-2000:])
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.base, ignore_errors=True)

    # -- writing images straight over the distribution API ---------------------
    def _conn(self) -> http.client.HTTPConnection:
        h, p = self.host.split(":")
        return http.client.HTTPConnection(h, int(p), timeout=120)

    def put_blob(self, repo: str, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        c = self._conn()
        c.request("POST", f"/v2/{repo}/blobs/uploads/")
        r = c.getresponse()
        r.read()
        loc = r.getheader("Location") or ""
        if r.status != 202:
            raise BenchError(f"POST upload: {r.status}")
        path = loc.split(self.host, 1)[-1]
        c.request("PUT", f"{path}{'&' if '?' in path else '?'}digest={digest}", body=data,
                  headers={"Content-Type": "application/octet-stream", "Content-Length": str(len(data))})
        r = c.getresponse()
        r.read()
        c.close()
        if r.status != 201:
            raise BenchError(f"PUT blob: {r.status}")
        return digest

    def put_image(self, repo: str, tag: str, layer_sizes: list[int], seed: int) -> None:
        import random

        rnd = random.Random(seed)
        layers, diff_ids = [], []
        for i, size in enumerate(layer_sizes):
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
                d = tarfile.TarInfo(f"layer{i}")
                d.type, d.mode = tarfile.DIRTYPE, 0o755
                tf.addfile(d)
                for j in range(4):  # a few files per layer, random (incompressible) bytes
                    body = rnd.randbytes(size // 4)
                    ti = tarfile.TarInfo(f"layer{i}/blob{j}")
                    ti.size, ti.mode = len(body), 0o644
                    tf.addfile(ti, io.BytesIO(body))
            raw = buf.getvalue()
            diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
            gz = gzip.compress(raw, compresslevel=1, mtime=0)
            layers.append({"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                           "digest": self.put_blob(repo, gz), "size": len(gz)})
        config = json.dumps({"architecture": "amd64", "os": "linux",
                             "config": {"Cmd": ["/bin/sh"]},
                             "rootfs": {"type": "layers", "diff_ids": diff_ids},
                             "history": [{"created_by": f"bench layer {i}"} for i in range(len(layers))]}).encode()
        manifest = json.dumps({"schemaVersion": 2,
                               "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                               "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                                          "digest": self.put_blob(repo, config), "size": len(config)},
                               "layers": layers}).encode()
        c = self._conn()
        c.request("PUT", f"/v2/{repo}/manifests/{tag}", body=manifest,
                  headers={"Content-Type": "application/vnd.docker.distribution.manifest.v2+json"})
        r = c.getresponse()
        r.read()
        c.close()
        if r.status != 201:
            raise BenchError(f"PUT manifest: {r.status}")


class PrivateDockyard:
    """A dockyardd on temp roots, as tests/conftest.py starts one."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="dy-bench-dockyard-"))
        self.socket = self.base / "d.sock"
        self.host = f"unix://{self.socket}"
        self.cgroup_parent = f"dockyard-bench-{uuid.uuid4().hex[:8]}"
        logf = open(self.base / "dockyardd.out", "ab")
        self.proc = subprocess.Popen(
            [str(BIN / "dockyardd"), "--data-root", str(self.base / "data"), "--exec-root", str(self.base / "run"),
             "-H", self.host, "--cgroup-parent", self.cgroup_parent, "--bridge-name", "none"],
            stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, start_new_session=True)
        logf.close()
        deadline = time.monotonic() + 30
        while not self._alive():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError("dockyardd did not start: " + (self.base / "dockyardd.out").read_text()[-2000:])
            time.sleep(0.05)

    def _alive(self) -> bool:
        with socket.socket(socket.AF_UNIX) as s:
            try:
                s.connect(str(self.socket))
                return True
            except OSError:
                return False

    def containerd_pid(self) -> int | None:
        try:
            return int((self.base / "run" / "containerd" / "dockyard-containerd.pid").read_text())
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        with open("/proc/self/mounts") as f:
            points = [ln.split()[1] for ln in f if ln.split()[1].startswith(str(self.base))]
        for p in sorted(points, reverse=True):
            subprocess.run(["umount", "-l", p], check=False)
        for top in Path("/sys/fs/cgroup").glob(f"*/{self.cgroup_parent}"):
            try:
                top.rmdir()
            except OSError:
                pass
        shutil.rmtree(self.base, ignore_errors=True)


class Engine:
    def __init__(self, name: str, argv: list[str]) -> None:
        self.name = name
        self.argv = argv
        self.times: dict[str, list[float]] = {}

    def run(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[bytes]:
        r = subprocess.run([*self.argv, *args], stdin=subprocess.DEVNULL, capture_output=True, env=client_env(),
                           timeout=timeout)
        if check and r.returncode != 0:
            raise BenchError(f"{self.name} {' '.join(args)}: {r.stderr.decode(errors='replace')[-2000:]}")
        return r

    def timed(self, op: str, *args: str) -> float:
        t0 = time.perf_counter()
        self.run(*args)
        dt = time.perf_counter() - t0
        self.times.setdefault(op, []).append(dt)
        return dt

    def clean(self, *refs: str) -> None:
        self.run("rmi", "-f", *refs, check=False)
        self.run("image", "prune", "-af", check=False)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--size-mb", type=int, default=100)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--json", help="write the raw timings here")
    ap.add_argument("--no-docker", action="store_true")
    ap.add_argument("--ops", default="pull,push,save,load")
    a = ap.parse_args(argv)
    ops = set(a.ops.split(","))
    if os.geteuid() != 0:
        raise SystemExit("run as root")
    cleanups: list = []

    def cleanup() -> None:
        while cleanups:
            try:
                cleanups.pop()()
            except Exception as err:  # cleanup of one part must not stop the others
                log(f"cleanup: {err}")

    atexit.register(cleanup)
    for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(s, lambda *_: sys.exit(130))

    reg = Registry()
    cleanups.append(reg.stop)
    log(f"registry on {reg.host}; writing images")
    size = a.size_mb << 20
    reg.put_image("bench/big", "1", [size], seed=1)
    reg.put_image("bench/multi", "1", [size // a.layers] * a.layers, seed=2)
    images = {"big": f"{reg.host}/bench/big:1", "multi": f"{reg.host}/bench/multi:1"}

    dy = PrivateDockyard()
    cleanups.append(dy.stop)
    engines = [Engine("dockyard", [str(BIN / "dockyard"), "-H", dy.host])]
    if not a.no_docker:
        dockerd = PrivateDockerd(ensure_dockerd_installed(), DOCKER_CLI)
        cleanups.append(dockerd.stop)
        dockerd.start()
        engines.append(Engine("docker", [DOCKER_CLI, "-H", dockerd.host]))
    tmp = Path(tempfile.mkdtemp(prefix="dy-bench-tar-"))
    cleanups.append(lambda: shutil.rmtree(tmp, ignore_errors=True))

    for rnd in range(a.rounds):
        order = engines if rnd % 2 == 0 else engines[::-1]
        for kind, ref in images.items():
            if "pull" in ops:
                for e in order:
                    e.clean(ref)
                for e in order:
                    log(f"round {rnd} pull {kind} {e.name}: {e.timed(f'pull {kind}', 'pull', ref):.2f}s")
            if "push" in ops:
                for e in order:
                    dst = Registry()
                    try:
                        target = f"{dst.host}/bench/{kind}:pushed"
                        e.run("tag", ref, target)
                        log(f"round {rnd} push {kind} {e.name}: {e.timed(f'push {kind}', 'push', target):.2f}s")
                        e.run("rmi", target)
                    finally:
                        dst.stop()
            if "save" in ops or "load" in ops:
                for e in order:
                    out = tmp / f"{e.name}-{kind}.tar"
                    log(f"round {rnd} save {kind} {e.name}: {e.timed(f'save {kind}', 'save', '-o', str(out), ref):.2f}s")
                    if "load" in ops:
                        e.clean(ref)
                        log(f"round {rnd} load {kind} {e.name}: {e.timed(f'load {kind}', 'load', '-i', str(out)):.2f}s")
                    out.unlink()

    print(f"\n{a.size_mb} MB random content; big = 1 layer, multi = {a.layers} layers; "
          f"median of {a.rounds} rounds, wall seconds")
    opnames = list(engines[0].times)
    print(f"{'operation':<14}" + "".join(f"{e.name:>12}" for e in engines) + ("   ratio dy/docker" if len(engines) > 1 else ""))
    for op in opnames:
        meds = [statistics.median(e.times.get(op) or [float('nan')]) for e in engines]
        line = f"{op:<14}" + "".join(f"{m:>12.2f}" for m in meds)
        if len(engines) > 1:
            line += f"   {meds[0] / meds[1]:.2f}x"
        print(line)
    if a.json:
        Path(a.json).write_text(json.dumps({e.name: e.times for e in engines}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
