"""``spec``: write runc's example config.json, byte for byte as ``runc spec`` writes it.

Not Docker's default spec (``oci.runtime_spec``, what the engine hands the runtime):
a bundle made by ``dockyard-runc spec`` is the one runc's users and runc's own test
suite start from — a read-only root, three capabilities, ``sh`` on a terminal.
"""

from __future__ import annotations

import json
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

from dockyard.errors import AlreadyExists

_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
_NO_EXEC = ["nosuid", "noexec", "nodev"]


def example() -> dict[str, Any]:
    """runc's ``specconv.Example()`` (keys in the order runc marshals them)."""
    return {
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": True,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {key: list(_CAPS) for key in ("bounding", "effective", "permitted", "ambient")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "runc",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": [*_NO_EXEC, "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": list(_NO_EXEC)},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": [*_NO_EXEC, "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": [*_NO_EXEC, "relatime", "ro"]},
        ],
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                            "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                            "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
        },
    }


def to_rootless(spec: dict[str, Any]) -> dict[str, Any]:
    """runc's ``spec --rootless``: a user namespace mapping the caller to root, no network
    namespace, /sys bound from the host, no uid=/gid= mount options, no resources."""
    linux = spec["linux"]
    namespaces = [ns for ns in linux["namespaces"] if ns["type"] not in ("network", "user")]
    linux["namespaces"] = [*namespaces, {"type": "user"}]
    linux["uidMappings"] = [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]
    linux["gidMappings"] = [{"containerID": 0, "hostID": os.getegid(), "size": 1}]
    mounts = []
    for m in spec["mounts"]:
        if os.path.normpath(m["destination"]) == "/sys":
            m = {"destination": "/sys", "type": "none", "source": "/sys",
                 "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}
        elif "options" in m:
            m = dict(m, options=[o for o in m["options"] if not o.startswith(("gid=", "uid="))])
        mounts.append(m)
    spec["mounts"] = mounts
    linux.pop("resources", None)
    return spec


def write_spec(bundle: str, rootless: bool = False) -> None:
    spec = example()
    if rootless:
        spec = to_rootless(spec)
    path = os.path.join(bundle, "config.json")
    if os.path.lexists(path):
        raise AlreadyExists("File config.json exists. Remove it first")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(spec, indent="\t"))
