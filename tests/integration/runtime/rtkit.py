"""Helpers for the runtime integration suite (bundles, a CLI wrapper); fixtures live in conftest."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import shlex
import shutil
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

from dockyard.oci.runtime_spec import default_spec

BUSYBOX = "/bin/busybox"
APPLETS = ("sh", "echo", "cat", "hostname", "ps", "id", "sleep", "true", "false", "ls", "grep", "touch", "mkdir", "mount", "readlink", "test", "wc")
CGROUP_PARENT = "dockyard-test"
V1_CONTROLLERS = ("memory", "pids", "cpu", "cpuacct", "cpuset", "blkio", "devices", "freezer")
# runc (differential runs) also creates these
EXTRA_HIERARCHIES = ("systemd", "unified")


def _needs() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    if not os.path.exists(BUSYBOX):
        return "needs busybox-static at /bin/busybox"
    return None


def skip_without_root(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = _needs()
    if reason:
        for item in items:
            if "root" in item.keywords:
                item.add_marker(pytest.mark.skip(reason=reason))


def runtime_argv() -> list[str]:
    custom = os.environ.get("DOCKYARD_RUNTIME")
    if custom:
        return shlex.split(custom)
    return [sys.executable, "-m", "dockyard.runtime.cli"]


def reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def make_rootfs(path: Path) -> Path:
    for d in ("bin", "etc", "proc", "sys", "dev", "tmp", "root"):
        (path / d).mkdir(parents=True, exist_ok=True)
    shutil.copy2(BUSYBOX, path / "bin" / "busybox")
    for applet in APPLETS:
        os.symlink("busybox", path / "bin" / applet)
    (path / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
    )
    (path / "etc" / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
    return path


HOST_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty")


def host_device_stats() -> dict[str, tuple[int, int, int, int]]:
    """(uid, gid, mode, ctime_ns) of the host's standard devices: any chown or chmod moves ctime."""
    out = {}
    for path in HOST_DEVICES:
        st = os.stat(path)
        out[path] = (st.st_uid, st.st_gid, st.st_mode, st.st_ctime_ns)
    return out


@contextmanager
def no_input() -> Iterator[int]:
    """An empty stdin that is no host device: the read end of a pipe already closed for writing.

    crun chowns its stdio to the container's root (its ``maybe_chown_std_streams``): given the
    host's /dev/null in a user namespace it made that node 100000:100000 on the host."""
    r, w = os.pipe()
    os.close(w)
    try:
        yield r
    finally:
        os.close(r)


def off_devnull(kw: dict[str, Any], stack: ExitStack) -> None:
    """subprocess.DEVNULL stdio replaced by no host device: a closed pipe in, scratch files out."""
    if kw.get("stdin") is subprocess.DEVNULL:
        kw["stdin"] = stack.enter_context(no_input())
    for name in ("stdout", "stderr"):
        if kw.get(name) is subprocess.DEVNULL:
            kw[name] = stack.enter_context(tempfile.TemporaryFile())


class Bundle:
    def __init__(self, path: Path, cid: str) -> None:
        self.path = path
        self.id = cid
        self.rootfs = make_rootfs(path / "rootfs")
        self.config: dict[str, Any] = default_spec(["true"], hostname="dockyard-test")
        self.config["linux"]["cgroupsPath"] = f"/{CGROUP_PARENT}/{cid}"

    def write(self, args: list[str] | None = None, **process: Any) -> Bundle:
        if args is not None:
            self.config["process"]["args"] = args
        self.config["process"].update(process)
        (self.path / "config.json").write_text(json.dumps(self.config))
        return self

    def cgroup_dirs(self, everything: bool = False) -> list[Path]:
        if everything:  # whatever hierarchies runc/crun also used (systemd, unified, hugetlb, ...)
            return sorted(Path("/sys/fs/cgroup").glob(f"*/{CGROUP_PARENT}/{self.id}"))
        return [Path("/sys/fs/cgroup") / c / CGROUP_PARENT / self.id for c in V1_CONTROLLERS]


REFERENCE_RUNTIMES = ("runc", "crun")
USERNS_HOST_ID = 100000  # container 0-65535 → host 100000-165535 (a typical /etc/subuid range)


def userns_config(bundle: Bundle, volume: Path) -> None:
    """Add a user namespace and a bind mount of ``volume`` (owned by the mapped root) on /mnt."""
    (bundle.rootfs / "mnt").mkdir(exist_ok=True)  # the mapped root may not create it in a root-owned rootfs
    volume.mkdir(exist_ok=True)
    os.chown(volume, USERNS_HOST_ID, USERNS_HOST_ID)
    linux = bundle.config["linux"]
    linux["namespaces"].append({"type": "user"})
    linux["uidMappings"] = [{"containerID": 0, "hostID": USERNS_HOST_ID, "size": 65536}]
    linux["gidMappings"] = [{"containerID": 0, "hostID": USERNS_HOST_ID, "size": 65536}]
    bundle.config["mounts"].append({"destination": "/mnt", "type": "bind", "source": str(volume),
                                    "options": ["rbind", "rw"]})


def argv_for(name: str) -> list[str]:
    """``dockyard-runc`` is our CLI (or DOCKYARD_RUNTIME); ``runc``/``crun`` the Debian binaries."""
    if name == "dockyard-runc":
        return runtime_argv()
    if name == "crun":
        return CRUN_ARGV
    return [name]


# crun refuses this cgroup v1 hybrid host unless hugetlb has its own v1 mount. Each crun call gets it
# in a mount namespace of its own (slave: host mounts still propagate in, nothing leaks out), so no
# shared mount is made on the host that another test run could be using or unmounting.
CRUN_ARGV = ["unshare", "--mount", "--propagation", "slave", "sh", "-c",
             "mountpoint -q /sys/fs/cgroup/hugetlb || mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb"
             ' && exec crun "$@"', "crun"]


class Runtime:
    def __init__(self, root: Path, name: str = "dockyard-runc") -> None:
        self.root = root
        self.name = name
        self.argv = argv_for(name)
        self.ids: list[str] = []

    def __call__(self, *args: str, check: bool = False, timeout: float = 30, **kw: Any) -> subprocess.CompletedProcess[str]:
        argv = self.argv + ["--root", str(self.root), *args]
        kw.setdefault("capture_output", "stdout" not in kw and "stderr" not in kw)
        with ExitStack() as stack:
            off_devnull(kw, stack)
            proc = subprocess.run(argv, text=True, timeout=timeout, check=False, **kw)
        if check and proc.returncode != 0:
            raise AssertionError(f"{argv} exited {proc.returncode}: {proc.stderr}")
        return proc

    def create(self, bundle: Bundle, *extra: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        """create with stdio on files: the container inherits them, so pipes would block the reader."""
        self.ids.append(bundle.id)
        out = bundle.path / "stdout"
        err = bundle.path / "stderr"
        with open(out, "w") as o, open(err, "w") as e, no_input() as i:
            proc = subprocess.run(
                self.argv + ["--root", str(self.root), "create", "--bundle", str(bundle.path), *extra, bundle.id],
                stdin=i, stdout=o, stderr=e, text=True, timeout=30, **kw,
            )
        proc.stderr = err.read_text()
        return proc

    def run(self, bundle: Bundle, *extra: str) -> subprocess.CompletedProcess[str]:
        self.ids.append(bundle.id)
        return self("run", "--bundle", str(bundle.path), *extra, bundle.id, input="")

    def state(self, cid: str) -> dict[str, Any]:
        proc = self("state", cid, check=True)
        result: dict[str, Any] = json.loads(proc.stdout)
        return result


def run_on_pty(argv: list[str], rows: int = 33, cols: int = 101, timeout: float = 20) -> tuple[int, bytes, list]:
    """Run ``argv`` with a fresh pty as its stdio and controlling terminal.

    Returns (exit code, bytes read from the master, the slave's termios after the exit)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    before = termios.tcgetattr(slave)
    try:
        proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
        out = b""
        deadline = time.monotonic() + timeout
        while proc.poll() is None and time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                out += os.read(master, 65536)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
            raise AssertionError(f"{argv} did not exit in {timeout}s; output so far {out!r}")
        while select.select([master], [], [], 0.2)[0]:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        after = termios.tcgetattr(slave)
        assert after[3] == before[3], "the runtime left our terminal's local modes changed (raw)"
        return proc.returncode, out, after
    finally:
        os.close(master)
        os.close(slave)
