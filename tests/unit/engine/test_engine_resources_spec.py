"""HostConfig resource and isolation fields → OCI spec (engine/spec.py, engine/resources.py), and the
cgroup files the runtime writes for them (runtime/cgroups v1 and v2, on fake cgroup directories)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from dockyard import errors
from dockyard.engine import resources, spec
from dockyard.engine import shm as shm_ipc
from dockyard.engine.container import Container
from dockyard.runtime.cgroups.v1 import CgroupV1
from dockyard.runtime.cgroups.v2 import CgroupV2, blkio_weight_to_io_weight

ID = "0123456789abcdef" * 4
IMAGE: dict[str, Any] = {"Cmd": ["sh"]}


def build(host: dict[str, Any], lookup: Any = None, v2: bool = False) -> dict[str, Any]:
    return spec.build(ID, {}, spec.adapt(host, lookup, cgroup_v2=v2), IMAGE, "dockyard", lookup)


def ns_types(s: dict[str, Any]) -> set[str]:
    return {n["type"] for n in s["linux"]["namespaces"]}


def shm(s: dict[str, Any]) -> dict[str, Any] | None:
    return next((m for m in s["mounts"] if m["destination"] == "/dev/shm"), None)


# -- adapt: dockerd's defaults -----------------------------------------------------------


def test_adapt_gives_swap_twice_memory_and_dockerds_defaults() -> None:
    host = spec.adapt({"Memory": 32 << 20}, cgroup_v2=False)
    assert host["MemorySwap"] == 64 << 20
    assert (host["ShmSize"], host["IpcMode"], host["CgroupnsMode"], host["OomKillDisable"]) == \
        (64 << 20, "private", "host", False)
    assert spec.adapt({}, cgroup_v2=True)["CgroupnsMode"] == "private"


def test_adapt_keeps_what_was_given() -> None:
    host = spec.adapt({"Memory": 32 << 20, "MemorySwap": -1, "ShmSize": 1 << 20, "IpcMode": "host"})
    assert (host["MemorySwap"], host["ShmSize"], host["IpcMode"]) == (-1, 1 << 20, "host")
    assert "MemorySwap" not in {k for k, v in spec.adapt({}).items() if v}


def test_adapt_clamps_cpu_shares_and_names_containers_by_id() -> None:
    assert spec.adapt({"CpuShares": 1})["CpuShares"] == 2
    assert spec.adapt({"CpuShares": 10**6})["CpuShares"] == 262144
    other = Container({"Id": "f" * 64})
    host = spec.adapt({"PidMode": "container:web", "IpcMode": "container:web"}, lambda ref: other)
    assert host["PidMode"] == host["IpcMode"] == f"container:{'f' * 64}"


# -- linux.resources -----------------------------------------------------------------------


def test_memory_fields() -> None:
    r = build({"Memory": 32 << 20, "MemoryReservation": 16 << 20, "MemorySwappiness": 7, "OomKillDisable": True,
               "KernelMemory": 50 << 20})["linux"]["resources"]["memory"]
    assert r == {"limit": 32 << 20, "swap": 64 << 20, "reservation": 16 << 20, "swappiness": 7,
                 "disableOOMKiller": True}


def test_cpu_fields() -> None:
    r = build({"CpuPeriod": 50000, "CpuQuota": 25000, "CpuShares": 512, "CpusetCpus": "0", "CpusetMems": "0",
               "CpuRealtimePeriod": 1000000, "CpuRealtimeRuntime": 950000})["linux"]["resources"]["cpu"]
    assert r == {"period": 50000, "quota": 25000, "shares": 512, "cpus": "0", "mems": "0",
                 "realtimePeriod": 1000000, "realtimeRuntime": 950000}
    assert build({"NanoCpus": 1_500_000_000})["linux"]["resources"]["cpu"] == {"period": 100000, "quota": 150000}


def test_pids_limit() -> None:
    assert build({"PidsLimit": 42})["linux"]["resources"]["pids"] == {"limit": 42}
    assert build({"PidsLimit": -1})["linux"]["resources"]["pids"] == {"limit": -1}
    assert "pids" not in build({"PidsLimit": 0})["linux"]["resources"]


def test_block_io_from_device_paths(tmp_path: Path) -> None:
    dev = next(f"/dev/{n}" for n in sorted(os.listdir("/dev")) if os.path.exists(f"/dev/{n}")
               and stat.S_ISBLK(os.stat(f"/dev/{n}").st_mode))
    rdev = os.stat(dev).st_rdev
    host = {"BlkioWeight": 300, "BlkioWeightDevice": [{"Path": dev, "Weight": 200}],
            "BlkioDeviceReadBps": [{"Path": dev, "Rate": 1024}], "BlkioDeviceWriteIOps": [{"Path": dev, "Rate": 5}]}
    majmin = {"major": os.major(rdev), "minor": os.minor(rdev)}
    out = resources.block_io(host, weight_supported=True)
    assert out == {"weight": 300, "weightDevice": [{**majmin, "weight": 200}],
                   "throttleReadBpsDevice": [{**majmin, "rate": 1024}],
                   "throttleWriteIOPSDevice": [{**majmin, "rate": 5}]}
    assert "weight" not in resources.block_io(host, weight_supported=False)  # discarded, as dockerd does
    with pytest.raises(errors.InvalidArgument, match="not a block device"):
        resources.block_io({"BlkioDeviceReadBps": [{"Path": "/dev/null", "Rate": 1}]})


def test_devices_and_cgroup_rules() -> None:
    nodes, rules = resources.devices({"Devices": [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/mine",
                                                   "CgroupPermissions": "r"}],
                                      "DeviceCgroupRules": ["c 1:3 mr", "b *:* m"]})
    assert [(n["path"], n["type"], n["major"], n["minor"]) for n in nodes] == [("/dev/mine", "c", 1, 3)]
    assert rules == [{"allow": True, "type": "c", "major": 1, "minor": 3, "access": "r"},
                     {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "mr"},
                     {"allow": True, "type": "b", "access": "m"}]
    s = build({"Devices": [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/mine", "CgroupPermissions": "rwm"}]})
    assert s["linux"]["devices"][-1]["path"] == "/dev/mine"
    assert s["linux"]["resources"]["devices"][0] == {"allow": False, "access": "rwm"}  # deny first, then allows


@pytest.mark.parametrize("bad, message", [
    ({"Devices": [{"PathOnHost": "/nope", "PathInContainer": "/dev/x"}]}, "error gathering device information"),
    ({"Devices": [{"PathOnHost": "/etc/hostname", "PathInContainer": "/dev/x"}]}, "not a device node"),
    ({"Devices": [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/x", "CgroupPermissions": "rx"}]},
     "invalid device mode"),
    ({"DeviceCgroupRules": ["c 1:3"]}, "invalid device cgroup rule format"),
])
def test_bad_devices_are_refused(bad: dict[str, Any], message: str) -> None:
    with pytest.raises(errors.InvalidArgument, match=message):
        resources.devices(bad)


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root")
def test_devices_of_a_directory(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    os.mknod(tmp_path / "sub" / "null", 0o620 | stat.S_IFCHR, os.makedev(1, 3))
    os.chmod(tmp_path / "sub" / "null", 0o620)
    (tmp_path / "plain").write_text("")
    nodes = resources.devices_from_path(str(tmp_path), "/dev/host", "rwm")
    assert [(n["path"], n["major"], n["minor"], n["fileMode"]) for n in nodes] == [("/dev/host/sub/null", 1, 3, 0o620)]


def test_cgroup_parent_and_oom_score() -> None:
    s = build({"CgroupParent": "/custom/", "OomScoreAdj": 321})
    assert s["linux"]["cgroupsPath"] == f"/custom/{ID}"
    assert s["process"]["oomScoreAdj"] == 321
    assert build({})["linux"]["cgroupsPath"] == f"/dockyard/{ID}"


# -- namespaces and /dev/shm -----------------------------------------------------------------


def test_shm_size() -> None:
    assert "size=67108864" in shm(build({}))["options"]  # type: ignore[index]
    assert shm(build({"ShmSize": 16 << 20}))["options"][-1] == f"size={16 << 20}"  # type: ignore[index]


def test_host_modes_drop_the_namespaces() -> None:
    s = build({"PidMode": "host", "IpcMode": "host", "UTSMode": "host"})
    assert ns_types(s) == {"network", "mount"}
    assert s["hostname"] == ""
    assert shm(s) == {"destination": "/dev/shm", "type": "bind", "source": "/dev/shm",
                      "options": ["rbind", "nosuid", "noexec", "nodev"]}
    assert shm(build({"IpcMode": "none"})) is None


def test_cgroupns_mode() -> None:
    assert "cgroup" in ns_types(build({"CgroupnsMode": "private"}))
    assert "cgroup" not in ns_types(build({"CgroupnsMode": "host"}, v2=True))
    assert "cgroup" in ns_types(build({}, v2=True))  # dockerd's default: private on v2, the host's on v1
    assert "cgroup" not in ns_types(build({}, v2=False))


def _donor(mode: str = "shareable", running: bool = True) -> Container:
    return Container({"Id": "d" * 64, "State": {"Running": running, "Pid": 4242}, "HostConfig": {"IpcMode": mode}})


def test_container_modes_join_the_donors_namespaces_at_start() -> None:
    s = build({"PidMode": "container:d", "IpcMode": "container:d"}, lambda ref: _donor(running=False))
    assert all("path" not in n for n in s["linux"]["namespaces"])  # created: nothing joined yet
    host = {"PidMode": "container:d", "IpcMode": "container:d"}
    assert spec.join_donors(s, host, lambda ref: _donor())
    paths = {n["type"]: n.get("path") for n in s["linux"]["namespaces"]}
    assert paths["pid"] == "/proc/4242/ns/pid" and paths["ipc"] == "/proc/4242/ns/ipc"
    host_donor = build({"IpcMode": "container:d"}, lambda ref: _donor("host"))
    assert "ipc" not in ns_types(host_donor)
    assert not spec.join_donors(host_donor, {"IpcMode": "container:d"}, lambda ref: _donor("host"))
    assert not spec.join_donors(build({}), {}, lambda ref: _donor())


def test_container_modes_refused() -> None:
    joiner = build({"IpcMode": "container:d"}, lambda ref: _donor("private"))  # created: dockerd checks at start
    record = Container({"Id": "j" * 64, "HostConfig": {"IpcMode": "container:d"}, "Mounts": []})
    with pytest.raises(errors.InvalidArgument, match=f"container {'d' * 64}: non-shareable IPC"):
        shm_ipc.apply(record, joiner, lambda ref: _donor("private"))
    stopped = build({"PidMode": "container:d"}, lambda ref: _donor(running=False))
    with pytest.raises(errors.Internal, match=f"failed to join PID namespace: container {'d' * 64} is not running"):
        spec.join_donors(stopped, {"PidMode": "container:d"}, lambda ref: _donor(running=False))
    with pytest.raises(errors.Conflict, match="non running container"):
        spec.join_donors(stopped, {"IpcMode": "container:d"}, lambda ref: _donor(running=False))


# -- the runtime's cgroup files ----------------------------------------------------------------


def test_v1_writes_every_resource(tmp_path: Path) -> None:
    paths = {c: str(tmp_path / c) for c in ("memory", "cpu", "cpuset", "pids", "blkio", "devices")}
    for p in paths.values():
        os.makedirs(p)
    (tmp_path / "memory" / "memory.memsw.limit_in_bytes").write_text("")
    (tmp_path / "blkio" / "blkio.weight").write_text("")
    CgroupV1.from_paths(paths).apply(build({
        "Memory": 32 << 20, "MemoryReservation": 16 << 20, "MemorySwappiness": 7, "OomKillDisable": True,
        "CpuPeriod": 50000, "CpuQuota": 25000, "CpuRealtimeRuntime": 1000, "CpusetCpus": "0", "PidsLimit": 9,
        "DeviceCgroupRules": ["c 1:3 mr"]})["linux"]["resources"]
        | {"blockIO": {"weight": 300, "weightDevice": [{"major": 8, "minor": 0, "weight": 200}]}})

    def read(ctrl: str, name: str) -> str:
        return (tmp_path / ctrl / name).read_text()

    assert read("memory", "memory.limit_in_bytes") == str(32 << 20)
    assert read("memory", "memory.memsw.limit_in_bytes") == str(64 << 20)
    assert read("memory", "memory.soft_limit_in_bytes") == str(16 << 20)
    assert (read("memory", "memory.swappiness"), read("memory", "memory.oom_control")) == ("7", "1")
    assert (read("cpu", "cpu.cfs_period_us"), read("cpu", "cpu.cfs_quota_us")) == ("50000", "25000")
    assert read("cpu", "cpu.rt_runtime_us") == "1000"
    assert read("cpuset", "cpuset.cpus") == "0" and read("pids", "pids.max") == "9"
    assert read("blkio", "blkio.weight") == "300" and read("blkio", "blkio.weight_device") == "8:0 200"
    assert read("devices", "devices.allow") == "c 1:3 mr"  # each write replaces the fake file: the last rule


def test_v2_writes_every_resource(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dockyard.runtime.cgroups import ebpf

    programs: list[str] = []  # v2's device rules are a BPF program attached to the cgroup, not a file
    monkeypatch.setattr(ebpf, "install", lambda cgroup, program: programs.append(cgroup))
    CgroupV2.from_path(str(tmp_path)).apply(build({
        "Memory": 32 << 20, "MemoryReservation": 16 << 20, "CpuPeriod": 50000, "CpuQuota": 25000,
        "CpuShares": 1024, "CpusetCpus": "0", "PidsLimit": 9})["linux"]["resources"]
        | {"blockIO": {"weight": 300, "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1024}]}})

    def read(name: str) -> str:
        return (tmp_path / name).read_text()

    assert (read("memory.max"), read("memory.low")) == (str(32 << 20), str(16 << 20))
    assert read("memory.swap.max") == str(32 << 20)  # v1's memory+swap → v2's swap alone
    assert read("cpu.max") == "25000 50000" and read("cpu.weight") == "39"
    assert read("cpuset.cpus") == "0" and read("pids.max") == "9"
    assert read("io.weight") == f"default {blkio_weight_to_io_weight(300)}"
    assert read("io.max") == "8:0 rbps=1024"
    assert blkio_weight_to_io_weight(10) == 1 and blkio_weight_to_io_weight(1000) == 10000
    assert programs == [str(tmp_path)]


def test_oom_kill_counter_read_where_the_spec_puts_the_cgroup(tmp_path: Path) -> None:
    from dockyard.runtime.cgroups.stats import oom_killed_in

    v1 = tmp_path / "v1"
    (v1 / "memory" / "parent" / ID).mkdir(parents=True)
    control = v1 / "memory" / "parent" / ID / "memory.oom_control"
    control.write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 0\n")
    assert not oom_killed_in(f"/parent/{ID}", ID, root=str(v1))
    control.write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    assert oom_killed_in(f"/parent/{ID}", ID, root=str(v1))
    v2 = tmp_path / "v2"
    (v2 / "parent" / ID).mkdir(parents=True)
    (v2 / "cgroup.controllers").write_text("memory pids\n")
    (v2 / "parent" / ID / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert oom_killed_in(f"/parent/{ID}", ID, root=str(v2))
