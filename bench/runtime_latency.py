"""create + start + wait + delete of a busybox ``true`` bundle, for dockyard-runc, runc and crun.

Each cycle is four separate CLI invocations (what a shim pays), timed end to end;
the runtimes alternate within every round so drift hits them equally.  We are a
child subreaper, so the container's init is re-parented to us and "wait" is a
plain ``waitpid``.  ``--in-process`` also times dockyard-runc's library calls
(what the dockyard shim pays, since it runs the built-in runtime in-process).

    sudo .venv/bin/python bench/runtime_latency.py --count 100

Source trees are byte-compiled first (as an installed package is): without
``__pycache__`` every CLI call re-compiles what it imports, which is what a
checkout run with ``PYTHONDONTWRITEBYTECODE=1`` measures.  ``--compare-src``
adds a second dockyard-runc built from another source tree (e.g. ``git archive
HEAD src | tar -x -C /tmp/before``), so before/after land in the same run.
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from dockyard.oci.runtime_spec import default_spec  # noqa: E402
from dockyard.runtime.linux import syscalls as sc  # noqa: E402

DOCKYARD = [str(Path(sys.executable).with_name("dockyard-runc"))]


def make_bundle(path: Path) -> Path:
    rootfs = path / "rootfs"
    for d in ("bin", "proc", "sys", "dev", "tmp", "etc"):
        (rootfs / d).mkdir(parents=True, exist_ok=True)
    shutil.copy2("/bin/busybox", rootfs / "bin" / "busybox")
    os.symlink("busybox", rootfs / "bin" / "true")
    spec = default_spec(["true"], hostname="bench")
    spec["linux"]["cgroupsPath"] = "/dockyard-bench/cycle"
    (path / "config.json").write_text(json.dumps(spec))
    return path




def cycle_cli_nostate(argv: list[str], root: str, bundle: Path, cid: str, pid_file: str,
                      env: dict[str, str] | None = None) -> float:
    """The shim's sequence: create --pid-file, start, wait, delete (no separate ``state`` call)."""
    t0 = time.perf_counter()
    with open(os.devnull, "r+b") as null:
        subprocess.run(argv + ["--root", root, "create", "--bundle", str(bundle), "--pid-file", pid_file, cid],
                       stdin=null, stdout=null, stderr=null, check=True, env=env)
        subprocess.run(argv + ["--root", root, "start", cid], stdin=null, stdout=null, stderr=null, check=True, env=env)
    with open(pid_file) as f:
        os.waitpid(int(f.read()), 0)
    subprocess.run(argv + ["--root", root, "delete", cid], check=True, env=env)
    return time.perf_counter() - t0


def cycle_in_process(root: str, bundle: Path, cid: str) -> float:
    from dockyard.runtime.lifecycle.create import create
    from dockyard.runtime.lifecycle.delete import delete
    from dockyard.runtime.lifecycle.start import start

    t0 = time.perf_counter()
    fd = os.open(os.devnull, os.O_RDWR)
    saved = [os.dup(i) for i in (0, 1, 2)]
    try:
        for i in (0, 1, 2):
            os.dup2(fd, i)
        state = create(root, cid, str(bundle))
    finally:
        for i, s in enumerate(saved):
            os.dup2(s, i)
            os.close(s)
        os.close(fd)
    start(root, cid)
    os.waitpid(state.pid, 0)
    delete(root, cid)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--runtimes", default="dockyard-runc,runc,crun")
    ap.add_argument("--in-process", action="store_true", help="also time dockyard-runc's library calls")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--compare-src", default=None, help="also run dockyard-runc from this src/ tree (PYTHONPATH)")
    ap.add_argument("--no-compile", action="store_true", help="do not byte-compile the source trees first")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("needs root", file=sys.stderr)
        return 2
    sc.prctl(sc.PR_SET_CHILD_SUBREAPER, 1)
    names = [n for n in args.runtimes.split(",") if n == "dockyard-runc" or shutil.which(n)]
    argvs = {n: (DOCKYARD if n == "dockyard-runc" else [n]) for n in names}
    envs: dict[str, dict[str, str] | None] = {n: None for n in names}
    trees = [str(Path(__file__).resolve().parents[1] / "src")]
    if args.compare_src:
        other = f"dockyard-runc ({args.compare_src})"
        names.append(other)
        argvs[other] = DOCKYARD
        envs[other] = {**os.environ, "PYTHONPATH": args.compare_src}
        trees.append(args.compare_src)
    if not args.no_compile:
        import compileall

        for tree in trees:
            compileall.compile_dir(tree, quiet=2)
    times: dict[str, list[float]] = {n: [] for n in names}
    if args.in_process:
        times["dockyard-runc (in-process)"] = []
    with tempfile.TemporaryDirectory(prefix="rtbench-") as tmp:
        bundle = make_bundle(Path(tmp) / "bundle")
        pid_file = str(Path(tmp) / "pid")
        for i in range(args.count):
            order = names[i % len(names):] + names[: i % len(names)]
            for n in order:
                root = f"{tmp}/root-{names.index(n)}"
                times[n].append(cycle_cli_nostate(argvs[n], root, bundle, f"b{i}", pid_file, envs[n]))
            if args.in_process:
                times["dockyard-runc (in-process)"].append(cycle_in_process(f"{tmp}/root-lib", bundle, f"b{i}"))
        for d in Path("/sys/fs/cgroup").glob("*/dockyard-bench"):
            for sub in sorted(d.glob("**/"), reverse=True):
                try:
                    sub.rmdir()
                except OSError:
                    pass
    medians = {n: statistics.median(v) * 1000 for n, v in times.items()}
    ref = medians.get("runc")
    if args.json:
        print(json.dumps({"count": args.count, "median_ms": medians}))
        return 0
    print(f"create+start+wait+delete, busybox true, {args.count} cycles, separate CLI calls (median ms)")
    for n, m in medians.items():
        p90 = sorted(times[n])[int(len(times[n]) * 0.9) - 1] * 1000
        ratio = f"  {m / ref:.2f}x runc" if ref else ""
        print(f"  {n:40s} {m:7.1f}   p90 {p90:7.1f}{ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
