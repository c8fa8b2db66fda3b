"""cgroup v2: one unified directory; controllers enabled top-down via cgroup.subtree_control."""

from __future__ import annotations

import os
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

from .fs import join_cgroup, own_cgroups, read, read_pids, remove_tree, write


def cpu_shares_to_weight(shares: int) -> int:
    """The conversion runc and crun agree on: [2, 262144] shares → [1, 10000] weight."""
    if shares == 0:
        return 0
    return 1 + ((shares - 2) * 9999) // 262142


def blkio_weight_to_io_weight(weight: int) -> int:
    """runc's conversion: blkio's [10, 1000] → io.weight's [1, 10000]."""
    return 1 + (weight - 10) * 9999 // 990


def _in_user_namespace() -> bool:
    try:
        return read("/proc/self/uid_map").split() != ["0", "0", "4294967295"]
    except OSError:
        return False


class CgroupV2:
    version = 2

    def __init__(self, path: str, root: str = "/sys/fs/cgroup", *, _abs: str | None = None) -> None:
        self.root = root
        if _abs is not None:
            self.dir = _abs
        else:
            own = own_cgroups().get("", "/")
            self.dir = join_cgroup(root, own, path)

    @classmethod
    def from_path(cls, path: str) -> CgroupV2:
        return cls("", _abs=path)

    def paths(self) -> dict[str, str]:
        return {"": self.dir}

    def create(self) -> None:
        os.makedirs(self.dir, exist_ok=True)
        # enable every available controller on the way down, so limits can be written
        rel = os.path.relpath(self.dir, self.root)
        cur = self.root
        for part in rel.split("/"):
            try:
                avail = read(os.path.join(cur, "cgroup.controllers")).split()
                if avail:
                    write(os.path.join(cur, "cgroup.subtree_control"), " ".join("+" + c for c in avail))
            except OSError:
                pass  # best effort: a controller busy in a parent must not block creation
            cur = os.path.join(cur, part)

    def apply(self, resources: dict[str, Any]) -> None:
        d = self.dir
        mem = resources.get("memory") or {}
        if mem.get("limit") is not None:
            write(os.path.join(d, "memory.max"), "max" if mem["limit"] < 0 else mem["limit"])
        if mem.get("reservation") is not None:
            write(os.path.join(d, "memory.low"), mem["reservation"])
        if mem.get("swap") is not None:
            swap = mem["swap"]
            if swap >= 0 and mem.get("limit") is not None and mem["limit"] >= 0:
                swap = max(0, swap - mem["limit"])  # v1 memsw semantics → v2 swap-only
            write(os.path.join(d, "memory.swap.max"), "max" if swap < 0 else swap)
        cpu = resources.get("cpu") or {}
        if cpu.get("shares"):
            write(os.path.join(d, "cpu.weight"), cpu_shares_to_weight(int(cpu["shares"])))
        if cpu.get("quota") or cpu.get("period"):
            quota = cpu.get("quota")
            quota_s = "max" if quota is None or quota <= 0 else str(quota)
            write(os.path.join(d, "cpu.max"), f"{quota_s} {cpu.get('period') or 100000}")
        if cpu.get("cpus"):
            write(os.path.join(d, "cpuset.cpus"), cpu["cpus"])
        if cpu.get("mems"):
            write(os.path.join(d, "cpuset.mems"), cpu["mems"])
        pids = resources.get("pids") or {}
        if "limit" in pids:
            limit = int(pids["limit"])
            write(os.path.join(d, "pids.max"), "max" if limit <= 0 else limit)
        blkio = resources.get("blockIO") or {}
        self._apply_io_weight(blkio)
        for key, fmt in (
            ("throttleReadBpsDevice", "rbps"),
            ("throttleWriteBpsDevice", "wbps"),
            ("throttleReadIOPSDevice", "riops"),
            ("throttleWriteIOPSDevice", "wiops"),
        ):
            for dev in blkio.get(key) or []:
                write(os.path.join(d, "io.max"), f"{dev['major']}:{dev['minor']} {fmt}={dev['rate']}")
        for key, value in (resources.get("unified") or {}).items():
            if "/" in key or key.startswith("."):
                raise OSError(22, f"invalid unified cgroup key {key!r}")
            write(os.path.join(d, key), value)
        if resources.get("devices") is not None:
            self._apply_devices(resources["devices"])

    def _apply_devices(self, rules: list[dict[str, Any]]) -> None:
        """v2 has no devices.allow: the rules become a BPF_CGROUP_DEVICE program attached to the
        cgroup, replacing the one there. As runc, a failure is ignored in a user namespace only."""
        from . import devfilter, ebpf

        program = devfilter.encode(devfilter.device_filter(rules))
        try:
            ebpf.install(self.dir, program)
        except OSError:
            if not _in_user_namespace():
                raise

    def _apply_io_weight(self, blkio: dict[str, Any]) -> None:
        """BFQ takes blkio's weights as they are (``io.bfq.weight``); ``io.weight`` wants them scaled."""
        bfq = os.path.exists(os.path.join(self.dir, "io.bfq.weight"))
        name = "io.bfq.weight" if bfq else "io.weight"
        scale = (lambda w: w) if bfq else blkio_weight_to_io_weight
        if blkio.get("weight"):
            write(os.path.join(self.dir, name), f"default {scale(int(blkio['weight']))}")
        for dev in blkio.get("weightDevice") or []:
            if dev.get("weight"):
                write(os.path.join(self.dir, name), f"{dev['major']}:{dev['minor']} {scale(int(dev['weight']))}")

    def add_task(self, pid: int) -> None:
        write(os.path.join(self.dir, "cgroup.procs"), pid)

    def pids(self) -> list[int]:
        return read_pids(os.path.join(self.dir, "cgroup.procs"))

    def freeze(self, frozen: bool) -> None:
        write(os.path.join(self.dir, "cgroup.freeze"), "1" if frozen else "0")
        want = "frozen 1" if frozen else "frozen 0"
        for _ in range(1000):
            if want in read(os.path.join(self.dir, "cgroup.events")):
                return
            time.sleep(0.001)

    def remove(self) -> None:
        remove_tree(self.dir)

    def wait_empty(self, timeout: float) -> bool:
        """Block on ``cgroup.events`` (kernfs notifies POLLPRI on change) until ``populated 0``."""
        import select

        events = os.path.join(self.dir, "cgroup.events")
        try:
            fd = os.open(events, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return True
        try:
            poller = select.poll()
            poller.register(fd, select.POLLPRI | select.POLLERR)
            deadline = time.monotonic() + timeout
            while True:
                os.lseek(fd, 0, os.SEEK_SET)
                if b"populated 0" in os.read(fd, 4096):
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                poller.poll(int(left * 1000) + 1)
        finally:
            os.close(fd)

    def kill_all(self, sig: int) -> None:
        """SIGKILL through ``cgroup.kill`` (5.14+: atomic, no fork escapes); other signals per task."""
        kill_file = os.path.join(self.dir, "cgroup.kill")
        if sig == 9 and os.path.exists(kill_file):
            write(kill_file, "1")
            return
        for pid in self.pids():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
