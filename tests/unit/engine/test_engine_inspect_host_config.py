"""Container inspect's ``HostConfig`` as dockerd renders it (moby's api/types/container/hostconfig.go, API
1.51/1.56): every field of the struct, the ones the client did not send as Go's zero value, except the
``omitempty`` ones; the stored record is not changed (issue 14, session 7)."""

from __future__ import annotations

from dockyard.engine.api.render import inspect_host_config
from dockyard.engine.records import HostConfig

# every field dockerd shows for a HostConfig nobody filled, in its struct's order, with its value
DOCKERD_ZERO = {
    "Binds": None, "ContainerIDFile": "", "LogConfig": {"Type": "", "Config": None}, "NetworkMode": "",
    "PortBindings": None, "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}, "AutoRemove": False,
    "VolumeDriver": "", "VolumesFrom": None, "ConsoleSize": [0, 0], "CapAdd": None, "CapDrop": None,
    "CgroupnsMode": "", "Dns": None, "DnsOptions": None, "DnsSearch": None, "ExtraHosts": None, "GroupAdd": None,
    "IpcMode": "", "Cgroup": "", "Links": None, "OomScoreAdj": 0, "PidMode": "", "Privileged": False,
    "PublishAllPorts": False, "ReadonlyRootfs": False, "SecurityOpt": None, "UTSMode": "", "UsernsMode": "",
    "ShmSize": 0, "Isolation": "",
    "CpuShares": 0, "Memory": 0, "NanoCpus": 0, "CgroupParent": "", "BlkioWeight": 0, "BlkioWeightDevice": None,
    "BlkioDeviceReadBps": None, "BlkioDeviceWriteBps": None, "BlkioDeviceReadIOps": None,
    "BlkioDeviceWriteIOps": None, "CpuPeriod": 0, "CpuQuota": 0, "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0,
    "CpusetCpus": "", "CpusetMems": "", "Devices": None, "DeviceCgroupRules": None, "DeviceRequests": None,
    "MemoryReservation": 0, "MemorySwap": 0, "MemorySwappiness": None, "OomKillDisable": None, "PidsLimit": None,
    "Ulimits": None, "CpuCount": 0, "CpuPercent": 0, "IOMaximumIOps": 0, "IOMaximumBandwidth": 0,
    "MaskedPaths": None, "ReadonlyPaths": None,
}
OMITEMPTY = ("Annotations", "StorageOpt", "Tmpfs", "Sysctls", "Runtime", "Mounts", "Init", "KernelMemory",
             "KernelMemoryTCP")


def test_every_field_nobody_sent_is_shown_as_dockerd_shows_it() -> None:
    out = inspect_host_config(HostConfig())
    assert list(out) == list(DOCKERD_ZERO)  # dockerd's order too
    assert out == DOCKERD_ZERO
    assert not set(OMITEMPTY) & set(out)


def test_what_was_sent_is_shown_and_the_record_is_not_changed() -> None:
    sent = {"Memory": 8 << 20, "Runtime": "runc", "Tmpfs": {"/t": ""}, "NetworkMode": "bridge",
            "RestartPolicy": {"Name": "always", "MaximumRetryCount": 0}, "NewerApiField": {"x": 1}}
    host = HostConfig(sent)
    out = inspect_host_config(host)
    assert host.to_json() == sent  # the store's JSON keeps only what came
    assert {k: out[k] for k in sent} == sent
    assert out["CpuShares"] == 0 and out["Ulimits"] is None and out["ConsoleSize"] == [0, 0]
    assert list(out)[-1] == "NewerApiField"


def test_zero_values_are_fresh_per_answer() -> None:
    first = inspect_host_config(HostConfig())
    first["LogConfig"]["Type"] = "changed"
    first["ConsoleSize"][0] = 9
    second = inspect_host_config(HostConfig())
    assert second["LogConfig"] == {"Type": "", "Config": None} and second["ConsoleSize"] == [0, 0]
