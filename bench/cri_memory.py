#!/usr/bin/env python3
"""Memory per container in a pod: dockyard-cri's shims against Docker's, in one run.

* Dockyard: a private dockyardd (tests/conftest.py's Daemon, own roots) and a dockyard-cri on its
  containerd; busybox (scripts/make-busybox-rootfs) imported through the engine, and again with
  ``sleep`` as its command as the sandbox image, both adopted by the CRI by name. One pod in the
  host's network namespace (no CNI needed), ``-n`` containers of ``sleep 600`` created and
  started through the CRI gRPC API; after ``--settle`` seconds the PSS (smaps_rollup) of every
  distinct shim of the pod's tasks (their bundles' ``shim.pid``) is summed: per container is
  that sum / n, the pause's share included. The shim template and its spare (one per containerd,
  not per pod; shims are forked from it and share its pages) are reported apart,
  ``template_pss_kb``.
* Docker: a private dockerd (bench/run_latency.py's PrivateDockerd), ``-n`` × ``docker run -d
  busybox sleep 600``, the PSS of its containerd-shim-runc-v2 processes / n (one shim per container).

Prints JSON. As root.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from engine_bench import DOCKER, pss_kb, shim_pids  # noqa: E402
from run_latency import PrivateDockerd, build_rootfs, client_env, ensure_dockerd_installed  # noqa: E402

from dockyard.cri.api import api_pb2 as cri  # noqa: E402
from tests.conftest import Daemon  # noqa: E402
from tests.integration.cri.conftest import Cri  # noqa: E402

PAUSE = "dockyard-bench/pause:1"


def dockyard_pod(d: Daemon, base: Path, n: int, settle: float) -> dict[str, float]:
    (base / "net.d").mkdir(parents=True)
    server = Cri(d, base, base / "cri.sock", subnet="", bridge="", registry="", sandbox_image=PAUSE)
    host_net = cri.LinuxPodSandboxConfig(security_context=cri.LinuxSandboxSecurityContext(
        namespace_options=cri.NamespaceOption(network=cri.NODE)))
    config = cri.PodSandboxConfig(metadata=cri.PodSandboxMetadata(name="bench", namespace="default",
                                                                  uid=uuid.uuid4().hex), linux=host_net)
    pod = ""
    try:
        server.start()
        rt = server.runtime
        pod = rt.RunPodSandbox(cri.RunPodSandboxRequest(config=config), timeout=120).pod_sandbox_id
        ids = [pod]
        t0 = time.perf_counter()
        for i in range(n):
            cc = cri.ContainerConfig(metadata=cri.ContainerMetadata(name=f"c{i}"),
                                     image=cri.ImageSpec(image="busybox:latest"), command=["sleep", "600"])
            cid = rt.CreateContainer(cri.CreateContainerRequest(pod_sandbox_id=pod, config=cc, sandbox_config=config),
                                     timeout=60).container_id
            rt.StartContainer(cri.StartContainerRequest(container_id=cid), timeout=60)
            ids.append(cid)
        started = time.perf_counter() - t0
        time.sleep(settle)
        bundles = d.exec_root / "containerd" / "tasks" / "k8s.io"
        shims = {int((bundles / id / "shim.pid").read_text()) for id in ids}
        total = sum(pss_kb(p) for p in shims)
        template = shim_pids(str(d.exec_root / "containerd" / "shim-template.sock"), containerd_children=True)
        return {"containers": n, "shims": len(shims), "shim_pss_kb_total": total,
                "shim_pss_kb_per_container": total / n, "create_start_s": started,
                "template_pss_kb": sum(pss_kb(p) for p in template)}
    finally:
        if pod:
            rt.StopPodSandbox(cri.StopPodSandboxRequest(pod_sandbox_id=pod), timeout=120)
            rt.RemovePodSandbox(cri.RemovePodSandboxRequest(pod_sandbox_id=pod), timeout=120)
        server.stop()


def docker_containers(tar: Path, n: int, settle: float) -> dict[str, float]:
    dockerd = PrivateDockerd(ensure_dockerd_installed(), DOCKER)
    try:
        dockerd.start()
        dockerd.import_image(tar)
        cli = [DOCKER, "-H", dockerd.host]
        for i in range(n):
            subprocess.run([*cli, "run", "-d", "--name", f"bench-{i}", "busybox", "sleep", "600"], check=True,
                           capture_output=True, env=client_env())
        time.sleep(settle)
        pids = [p for p in shim_pids("containerd-shim") if b"moby" in Path(f"/proc/{p}/cmdline").read_bytes()]
        total = sum(pss_kb(p) for p in pids)
        subprocess.run([*cli, "rm", "-f", *[f"bench-{i}" for i in range(n)]], capture_output=True, env=client_env())
        return {"containers": n, "shims": len(pids), "shim_pss_kb_total": total, "shim_pss_kb_per_container": total / n}
    finally:
        dockerd.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-n", type=int, default=10, help="containers in the pod (default 10)")
    p.add_argument("--settle", type=float, default=3.0, help="seconds between the last start and the reading")
    p.add_argument("--skip-docker", action="store_true")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="dy-cri-mem-", dir="/tmp"))
    tar = work / "busybox.tar"
    build_rootfs(tar)
    results: dict[str, object] = {"date": time.strftime("%Y-%m-%d"), "n": args.n}
    d = Daemon(work / "dy")
    d.base.mkdir()
    try:
        d.start()
        for cmd, name in ((["sh"], "busybox:latest"), (["sleep", "2147483647"], PAUSE)):
            r = d.cli("import", "-c", f"CMD {json.dumps(cmd)}", str(tar), name)
            assert r.returncode == 0, r.stderr
        results["dockyard"] = dockyard_pod(d, work / "cri", args.n, args.settle)
    finally:
        d.cleanup()
    try:
        if not args.skip_docker:
            results["docker"] = docker_containers(tar, args.n, args.settle)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
