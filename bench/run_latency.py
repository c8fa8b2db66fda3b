#!/usr/bin/env python3
"""Latency benchmark: ``dockyard run --rm busybox true`` vs ``docker run --rm busybox true``.

* dockyard: an EXISTING dockyard daemon (``--dockyard-host``, default
  unix:///run/dockyard/dockyard.sock), driven by the dockyard CLI from the venv
  (or by the real docker CLI with ``--dockyard-client docker``).  If the daemon
  has no ``busybox:latest`` the rootfs from scripts/make-busybox-rootfs is
  imported through the Engine API (POST /images/create?fromSrc=-).
* docker: a PRIVATE dockerd (Debian's docker.io) started by this script on its
  own socket/data-root/exec-root under a temp dir, with no bridge, no iptables,
  no ip forwarding, and its own cgroup parent; busybox:latest is loaded with
  ``docker import``.  It is stopped (by PID) and its temp dir unmounted and
  removed at the end, also on errors/signals.  ``--docker-host`` uses an
  already running dockerd instead (nothing is started or stopped then).

Each engine gets ``--warmup`` untimed runs, then ``--runs`` timed runs are
done alternately (dockyard, docker, dockyard, docker, ...), each timed with
time.perf_counter() around subprocess.run().
"""

from __future__ import annotations

import argparse
import atexit
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MAKE_ROOTFS = REPO / "scripts" / "make-busybox-rootfs"
DEFAULT_DOCKYARD_HOST = "unix:///run/dockyard/dockyard.sock"
IMAGE = "busybox:latest"
RUN_ARGS = ["run", "--rm", "busybox", "true"]

# Host paths dockerd/containerd create with hard-coded names regardless of
# --exec-root; removed at the end if (and only if) this script created them
# and they are empty.
HARDCODED_DIRS = ["/run/docker/plugins", "/run/docker",
                  "/run/containerd/s", "/run/containerd"]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


# --------------------------------------------------------------------------
# Minimal Engine API client over a unix socket (independent of any CLI)


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 10.0):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self._path)
        self.sock = s


def socket_path(host: str) -> str:
    if not host.startswith("unix://"):
        raise BenchError("only unix:// hosts are supported, got %r" % host)
    return host[len("unix://"):]


def api(host: str, method: str, url: str, body=None, headers=None,
        timeout: float = 10.0) -> tuple[int, bytes]:
    conn = _UnixHTTPConnection(socket_path(host), timeout=timeout)
    try:
        conn.request(method, url, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def ping(host: str, timeout: float = 3.0) -> str | None:
    """None if GET /_ping answers 200 'OK', else a description of the problem."""
    try:
        status, body = api(host, "GET", "/_ping", timeout=timeout)
    except FileNotFoundError:
        return "socket %s does not exist" % socket_path(host)
    except OSError as e:
        return "%s: %s" % (socket_path(host), e)
    except http.client.HTTPException as e:
        return "bad HTTP answer: %r" % e
    if status != 200:
        return "GET /_ping -> %d %r" % (status, body[:200])
    return None


def count_containers(host: str) -> int | None:
    try:
        status, body = api(host, "GET", "/containers/json?all=1")
        if status == 200:
            return len(json.loads(body))
    except Exception:
        pass
    return None


def has_image(host: str, ref: str) -> bool:
    try:
        status, _ = api(host, "GET", "/images/%s/json" % urllib.parse.quote(ref, safe=""))
        return status == 200
    except Exception:
        return False


def api_import(host: str, tar: Path, ref: str) -> None:
    repo, _, tag = ref.partition(":")
    q = urllib.parse.urlencode({"fromSrc": "-", "repo": repo, "tag": tag or "latest"})
    data = tar.read_bytes()
    status, body = api(host, "POST", "/images/create?" + q, body=data,
                       headers={"Content-Type": "application/x-tar",
                                "Content-Length": str(len(data))},
                       timeout=300)
    if status != 200:
        raise BenchError("import into %s failed: %d %s" % (host, status, body[:500]))
    # the stream may carry {"error": ...} with status 200
    for line in body.splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if isinstance(msg, dict) and msg.get("error"):
            raise BenchError("import into %s failed: %s" % (host, msg["error"]))


# --------------------------------------------------------------------------
# Private dockerd


def _children(pid: int) -> list[int]:
    out = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def _pids_mentioning(needle: str) -> list[int]:
    """PIDs whose command line mentions our private temp dir (our dockerd,
    its containerd, shims...)."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if needle.encode() in cmd:
            pids.append(int(d))
    return pids


def _alive(pid: int) -> bool:
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _mounts_under(root: str) -> list[str]:
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].encode().decode("unicode_escape")
            if mp == root or mp.startswith(root + "/"):
                out.append(mp)
    return out


class PrivateDockerd:
    def __init__(self, dockerd: str, docker: str):
        self.dockerd = dockerd
        self.docker = docker
        self.tmp: str | None = None
        self.proc: subprocess.Popen | None = None
        self.host = ""
        self.info: dict = {}
        self._created_dirs: list[str] = []
        self._cgroup_parent = ""
        self._cleaned = False

    # -- start ---------------------------------------------------------------
    def start(self, timeout: float = 60.0) -> None:
        pre_existing = {d for d in HARDCODED_DIRS if os.path.lexists(d)}
        self._created_dirs = [d for d in HARDCODED_DIRS if d not in pre_existing]
        self.tmp = tempfile.mkdtemp(prefix="dockyard-bench-dockerd.")
        os.chmod(self.tmp, 0o711)
        t = self.tmp
        self.host = "unix://%s/docker.sock" % t
        self._cgroup_parent = "dockyard-bench-" + os.path.basename(t).split(".", 1)[1]
        # own config file: never read the host's /etc/docker/daemon.json and
        # keep the libtrust key out of /etc/docker/key.json
        with open(os.path.join(t, "daemon.json"), "w") as f:
            json.dump({"deprecated-key-path": os.path.join(t, "key.json")}, f)
        cmd = [self.dockerd,
               "--host", self.host,
               "--data-root", os.path.join(t, "root"),
               "--exec-root", os.path.join(t, "exec"),
               "--pidfile", os.path.join(t, "docker.pid"),
               "--config-file", os.path.join(t, "daemon.json"),
               "--bridge", "none",
               "--iptables=false", "--ip6tables=false",
               "--ip-forward=false", "--ip-masq=false",
               "--cgroup-parent", "/" + self._cgroup_parent,
               "--log-level", "warn"]
        self.cmd = cmd
        logf = open(os.path.join(t, "dockerd.log"), "wb")
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                         stdout=logf, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        finally:
            logf.close()
        deadline = time.monotonic() + timeout
        err = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError("dockerd exited with status %d" % self.proc.returncode)
            err = ping(self.host, timeout=2)
            if err is None:
                break
            time.sleep(0.2)
        else:
            raise BenchError("dockerd did not answer /_ping within %.0fs (%s)" % (timeout, err))
        try:
            status, body = api(self.host, "GET", "/info")
            if status == 200:
                self.info = json.loads(body)
        except Exception:
            pass

    def log_tail(self, n: int = 30) -> str:
        if not self.tmp:
            return ""
        try:
            with open(os.path.join(self.tmp, "dockerd.log"), errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def import_image(self, tar: Path) -> None:
        r = subprocess.run([self.docker, "-H", self.host, "import", str(tar), IMAGE],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=client_env(), timeout=300)
        if r.returncode != 0:
            raise BenchError("docker import failed: %s" % r.stderr.strip())

    # -- stop ----------------------------------------------------------------
    def stop(self) -> None:
        if self._cleaned:
            return
        self._cleaned = True
        if self.proc is not None:
            pid = self.proc.pid
            kids = _children(pid)  # its containerd
            if self.proc.poll() is None:
                try:
                    self.proc.send_signal(signal.SIGTERM)
                    self.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    log("dockerd (pid %d) ignored SIGTERM, killing it" % pid)
                    self.proc.kill()
                    self.proc.wait(timeout=10)
                except ProcessLookupError:
                    pass
            # its containerd and any shim still around (identified by our
            # private temp dir in their command line), by PID
            stragglers = [p for p in kids if _alive(p)]
            if self.tmp:
                stragglers += [p for p in _pids_mentioning(self.tmp)
                               if p not in stragglers and _alive(p)]
            for sig in (signal.SIGTERM, signal.SIGKILL):
                for p in stragglers:
                    try:
                        os.kill(p, sig)
                    except ProcessLookupError:
                        pass
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline and any(_alive(p) for p in stragglers):
                    time.sleep(0.1)
                stragglers = [p for p in stragglers if _alive(p)]
                if not stragglers:
                    break
        if self.tmp:
            for mp in sorted(_mounts_under(self.tmp), key=lambda m: m.count("/"),
                             reverse=True):
                if subprocess.run(["umount", mp], stderr=subprocess.DEVNULL).returncode:
                    subprocess.run(["umount", "-l", mp], stderr=subprocess.DEVNULL)
            left = _mounts_under(self.tmp)
            if left:
                log("warning: still mounted, not removing %s: %s" % (self.tmp, left))
            else:
                shutil.rmtree(self.tmp, ignore_errors=True)
        # cgroup parent dirs (one per v1 hierarchy + the v2 one), if empty
        if self._cgroup_parent:
            base = "/sys/fs/cgroup"
            try:
                hier = [os.path.join(base, h) for h in os.listdir(base)] + [base]
            except OSError:
                hier = []
            for h in hier:
                d = os.path.join(h, self._cgroup_parent)
                if os.path.isdir(d):
                    try:
                        os.rmdir(d)
                    except OSError as e:
                        log("warning: could not remove cgroup %s: %s" % (d, e))
        for d in self._created_dirs:
            try:
                os.rmdir(d)  # only if empty
            except OSError:
                pass


# --------------------------------------------------------------------------


def client_env() -> dict:
    env = dict(os.environ)
    for k in ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"):
        env.pop(k, None)
    env["DOCKER_CLI_HINTS"] = "false"
    return env


def ensure_dockerd_installed() -> str:
    p = shutil.which("dockerd") or ("/usr/sbin/dockerd" if os.path.exists("/usr/sbin/dockerd") else None)
    if p:
        return p
    log("dockerd not found: apt-get install -y docker.io")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    r = subprocess.run(["apt-get", "install", "-y", "-q", "docker.io"], env=env)
    if r.returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env)
        subprocess.run(["apt-get", "install", "-y", "-q", "docker.io"], env=env)
    p = shutil.which("dockerd") or ("/usr/sbin/dockerd" if os.path.exists("/usr/sbin/dockerd") else None)
    if not p:
        raise BenchError("dockerd still missing after apt-get install docker.io")
    return p


def default_dockyard_bin() -> str:
    for cand in (Path(sys.executable).parent / "dockyard", REPO / ".venv" / "bin" / "dockyard"):
        if cand.exists():
            return str(cand)
    return shutil.which("dockyard") or str(REPO / ".venv" / "bin" / "dockyard")


def percentile(xs: list[float], q: float) -> float:
    s = sorted(xs)
    if len(s) == 1:
        return s[0]
    k = (len(s) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


class Engine:
    def __init__(self, name: str, argv: list[str], host: str):
        self.name = name
        self.argv = argv
        self.host = host
        self.times_ms: list[float] = []
        self.failures = 0
        self.first_error = ""
        self.containers_before: int | None = None

    def run_once(self, timeout: float) -> float | None:
        t0 = time.perf_counter()
        try:
            r = subprocess.run(self.argv, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env=client_env(), timeout=timeout)
        except subprocess.TimeoutExpired:
            rc, err = None, "timed out after %.0fs" % timeout
        else:
            rc, err = r.returncode, r.stderr.decode(errors="replace").strip()
        dt = (time.perf_counter() - t0) * 1000.0
        if rc != 0:
            self.failures += 1
            if not self.first_error:
                self.first_error = "exit %s: %s" % (rc, err[-2000:])
            return None
        return dt

    def stats(self) -> dict:
        d = {"engine": self.name, "command": self.argv, "host": self.host,
             "runs": len(self.times_ms), "failures": self.failures,
             "times_ms": [round(x, 3) for x in self.times_ms]}
        if self.times_ms:
            d.update(median_ms=statistics.median(self.times_ms),
                     p90_ms=percentile(self.times_ms, 0.9),
                     min_ms=min(self.times_ms),
                     mean_ms=statistics.fmean(self.times_ms))
        if self.first_error:
            d["first_error"] = self.first_error
        return d


def build_rootfs(dest: Path) -> None:
    r = subprocess.run([sys.executable, str(MAKE_ROOTFS), str(dest)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise BenchError("make-busybox-rootfs failed: %s" % r.stderr.strip())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=20, help="timed runs per engine (default 20)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed runs per engine first (default 3)")
    ap.add_argument("--dockyard-host", default=DEFAULT_DOCKYARD_HOST,
                    help="existing dockyard daemon (default %s)" % DEFAULT_DOCKYARD_HOST)
    ap.add_argument("--dockyard-client", choices=("dockyard", "docker"), default="dockyard",
                    help="CLI used to talk to dockyard (default dockyard)")
    ap.add_argument("--dockyard-bin", default=None, help="dockyard CLI (default: the venv's)")
    ap.add_argument("--docker-bin", default=shutil.which("docker") or "/usr/local/bin/docker",
                    help="docker CLI (default: %(default)s)")
    ap.add_argument("--docker-host", default=None,
                    help="use this already running dockerd instead of starting a private one")
    ap.add_argument("--no-docker", action="store_true", help="benchmark dockyard only")
    ap.add_argument("--no-dockyard", action="store_true",
                    help="benchmark docker only (baseline; no dockyard daemon needed)")
    ap.add_argument("--timeout", type=float, default=120.0, help="per-run timeout in seconds")
    ap.add_argument("--json", metavar="FILE", help="write the results as JSON to FILE")
    args = ap.parse_args(argv)
    if args.runs < 1 or args.warmup < 0:
        ap.error("--runs must be >= 1 and --warmup >= 0")
    if args.no_docker and args.no_dockyard:
        ap.error("nothing to benchmark")

    dockerd: PrivateDockerd | None = None

    def cleanup() -> None:
        if dockerd is not None:
            dockerd.stop()

    atexit.register(cleanup)

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)

    for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(s, on_signal)

    engines: list[Engine] = []
    notes: list[str] = []
    try:
        with tempfile.TemporaryDirectory(prefix="dockyard-bench.") as work:
            tar = Path(work) / "busybox-rootfs.tar"

            # ---- dockyard: must already be running -----------------------
            dockyard = None
            if not args.no_dockyard:
                err = ping(args.dockyard_host)
                if err is not None:
                    raise BenchError(
                        "dockyard daemon not reachable at %s: %s\n"
                        "Start it first (e.g. `make demo`) or pass --dockyard-host."
                        % (args.dockyard_host, err))
                if args.dockyard_client == "dockyard":
                    cli = args.dockyard_bin or default_dockyard_bin()
                    if not os.path.exists(cli):
                        raise BenchError("dockyard CLI not found at %s" % cli)
                else:
                    cli = args.docker_bin
                if not has_image(args.dockyard_host, IMAGE):
                    log("dockyard has no %s: importing the busybox rootfs via the Engine API" % IMAGE)
                    build_rootfs(tar)
                    api_import(args.dockyard_host, tar, IMAGE)
                dockyard = Engine("dockyard", [cli, "-H", args.dockyard_host] + RUN_ARGS,
                                  args.dockyard_host)
                engines.append(dockyard)

            # ---- docker ----------------------------------------------------
            docker = None
            if not args.no_docker:
                try:
                    if args.docker_host:
                        err = ping(args.docker_host)
                        if err is not None:
                            raise BenchError("dockerd at %s not reachable: %s" % (args.docker_host, err))
                        dhost = args.docker_host
                        if not has_image(dhost, IMAGE):
                            if not tar.exists():
                                build_rootfs(tar)
                            r = subprocess.run([args.docker_bin, "-H", dhost, "import", str(tar), IMAGE],
                                               capture_output=True, text=True, env=client_env())
                            if r.returncode != 0:
                                raise BenchError("docker import failed: %s" % r.stderr.strip())
                    else:
                        dockerd = PrivateDockerd(ensure_dockerd_installed(), args.docker_bin)
                        try:
                            dockerd.start()
                        except BenchError as e:
                            tail = dockerd.log_tail()
                            raise BenchError("%s\n--- dockerd log tail ---\n%s" % (e, tail))
                        log("started dockerd pid %d on %s (storage driver %s, cgroup v%s)"
                            % (dockerd.proc.pid, dockerd.host,
                               dockerd.info.get("Driver", "?"),
                               dockerd.info.get("CgroupVersion", "?")))
                        if not tar.exists():
                            build_rootfs(tar)
                        dockerd.import_image(tar)
                        dhost = dockerd.host
                    docker = Engine("docker", [args.docker_bin, "-H", dhost] + RUN_ARGS, dhost)
                    engines.append(docker)
                except (BenchError, OSError, subprocess.SubprocessError) as e:
                    msg = "docker unavailable: %s" % e
                    log(msg)
                    notes.append(msg.splitlines()[0])
                    if dockerd is not None:
                        dockerd.stop()
                    if dockyard is None:
                        raise BenchError("docker unavailable and dockyard disabled")

            for e in engines:
                e.containers_before = count_containers(e.host)

            # ---- warmup ------------------------------------------------------
            for e in engines:
                for _ in range(args.warmup):
                    e.run_once(args.timeout)
                if e.failures and e.failures == args.warmup:
                    raise BenchError("%s: every warmup run failed: %s" % (e.name, e.first_error))
                e.failures = 0  # warmup failures are not counted

            # ---- timed, alternating -------------------------------------------
            for _ in range(args.runs):
                for e in engines:
                    dt = e.run_once(args.timeout)
                    if dt is not None:
                        e.times_ms.append(dt)

            for e in engines:
                after = count_containers(e.host)
                if e.containers_before is not None and after is not None and after > e.containers_before:
                    msg = "%s: %d container(s) left behind by --rm runs" % (
                        e.name, after - e.containers_before)
                    log("warning: " + msg)
                    notes.append(msg)
    except BenchError as e:
        log("error: %s" % e)
        return 1
    finally:
        cleanup()

    # ---- report -------------------------------------------------------------
    results = [e.stats() for e in engines]
    print("`run --rm busybox true`: %d timed runs per engine (alternating), %d warmup"
          % (args.runs, args.warmup))
    print("%-10s %6s %6s %10s %10s %10s" % ("engine", "runs", "fail", "median ms", "p90 ms", "min ms"))
    for d in results:
        if d["runs"]:
            print("%-10s %6d %6d %10.1f %10.1f %10.1f" % (d["engine"], d["runs"], d["failures"],
                                                         d["median_ms"], d["p90_ms"], d["min_ms"]))
        else:
            print("%-10s %6d %6d %10s %10s %10s" % (d["engine"], 0, d["failures"], "-", "-", "-"))
    by = {d["engine"]: d for d in results}
    ratio = None
    if "median_ms" in by.get("dockyard", {}) and "median_ms" in by.get("docker", {}):
        ratio = by["dockyard"]["median_ms"] / by["docker"]["median_ms"]
        print("ratio dockyard/docker (median): %.2fx" % ratio)
    elif not args.no_docker and "docker" not in by:
        print("docker: unavailable")
    for d in results:
        if d.get("first_error"):
            print("%s: first failure: %s" % (d["engine"], d["first_error"].splitlines()[0] if d["first_error"] else ""))
    for n in notes:
        print("note: %s" % n)

    if args.json:
        out = {
            "benchmark": "run --rm busybox true",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "host": {"kernel": platform.release(), "machine": platform.machine(),
                     "cpus": os.cpu_count()},
            "runs": args.runs, "warmup": args.warmup,
            "dockyard_client": args.dockyard_client,
            "docker_daemon": ({"private": True, "command": dockerd.cmd,
                               "server_version": dockerd.info.get("ServerVersion"),
                               "storage_driver": dockerd.info.get("Driver"),
                               "cgroup_version": dockerd.info.get("CgroupVersion")}
                              if dockerd is not None and dockerd.info else
                              {"private": False, "host": args.docker_host}),
            "results": results,
            "ratio_dockyard_over_docker_median": ratio,
            "notes": notes,
        }
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
            f.write("\n")

    failed = any(d["failures"] or not d["runs"] for d in results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
