"""Docker's default OCI runtime spec (config.json), as pure data.

Both the engine (``docker run`` → config.json) and ``dockyard-runc spec`` start
from this shape, so the runtime is exercised with exactly what Docker would
hand to runc: 14 default capabilities, the masked/read-only proc paths, a
deny-all device cgroup with Docker's allow list.  No I/O except the one
``os.path.exists`` that tells cgroup v2 (where Docker uses a private cgroupns).
"""

from __future__ import annotations

import os
from typing import Any

OCI_VERSION = "1.0.2-dev"

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

DEFAULT_CAPABILITIES: tuple[str, ...] = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
)

MASKED_PATHS: tuple[str, ...] = (
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
)

READONLY_PATHS: tuple[str, ...] = (
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
)


def _dev(kind: str, major: int | None, minor: int | None, access: str = "rwm") -> dict[str, Any]:
    rule: dict[str, Any] = {"allow": True, "type": kind, "access": access}
    if major is not None:
        rule["major"] = major
    if minor is not None:
        rule["minor"] = minor
    return rule


def default_device_rules() -> list[dict[str, Any]]:
    """Deny everything, then Docker's allow list (mknod anywhere, std char devices, pts, tun)."""
    return [
        {"allow": False, "access": "rwm"},
        _dev("c", None, None, "m"),
        _dev("b", None, None, "m"),
        _dev("c", 1, 3),  # null
        _dev("c", 1, 8),  # random
        _dev("c", 1, 7),  # full
        _dev("c", 5, 0),  # tty
        _dev("c", 1, 5),  # zero
        _dev("c", 1, 9),  # urandom
        _dev("c", 136, None),  # /dev/pts/*
        _dev("c", 5, 2),  # ptmx
        _dev("c", 10, 200),  # tun
    ]


def default_mounts() -> list[dict[str, Any]]:
    return [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {
            "destination": "/dev",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
        },
        {
            "destination": "/dev/pts",
            "type": "devpts",
            "source": "devpts",
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        },
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
        {
            "destination": "/sys/fs/cgroup",
            "type": "cgroup",
            "source": "cgroup",
            "options": ["ro", "nosuid", "noexec", "nodev"],
        },
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {
            "destination": "/dev/shm",
            "type": "tmpfs",
            "source": "shm",
            "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        },
    ]


def is_cgroup_v2(root: str = "/sys/fs/cgroup") -> bool:
    """Unified hierarchy mounted at the canonical place (the check runc and Docker use)."""
    return os.path.exists(os.path.join(root, "cgroup.controllers"))


def default_spec(
    args: list[str] | None = None,
    *,
    rootfs: str = "rootfs",
    hostname: str | None = None,
    terminal: bool = False,
    cgroup_v2: bool | None = None,
) -> dict[str, Any]:
    """Return a fresh config.json dict shaped like the one dockerd gives runc."""
    if cgroup_v2 is None:
        cgroup_v2 = is_cgroup_v2()
    env = [f"PATH={DEFAULT_PATH}"]
    if terminal:
        env.append("TERM=xterm")
    caps = list(DEFAULT_CAPABILITIES)
    namespaces = [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")]
    if cgroup_v2:
        namespaces.append({"type": "cgroup"})
    spec: dict[str, Any] = {
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": terminal,
            "user": {"uid": 0, "gid": 0},
            "args": list(args) if args is not None else ["sh"],
            "env": env,
            "cwd": "/",
            "capabilities": {"bounding": list(caps), "effective": list(caps), "permitted": list(caps)},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": False,
        },
        "root": {"path": rootfs, "readonly": False},
        "mounts": default_mounts(),
        "linux": {
            "resources": {"devices": default_device_rules()},
            "namespaces": namespaces,
            "maskedPaths": list(MASKED_PATHS),
            "readonlyPaths": list(READONLY_PATHS),
        },
    }
    if hostname is not None:
        spec["hostname"] = hostname
    return spec


def rootless_spec(spec: dict[str, Any], uid: int | None = None, gid: int | None = None) -> dict[str, Any]:
    """Turn ``spec`` into runc's rootless variant: a user namespace mapping the caller to root.

    Without real root there is no cgroup control, no mknod, no sysfs of a foreign
    netns, and /sys/fs/cgroup cannot be mounted: follow ``runc spec --rootless``.
    """
    uid = os.getuid() if uid is None else uid
    gid = os.getgid() if gid is None else gid
    linux = spec.setdefault("linux", {})
    linux["uidMappings"] = [{"containerID": 0, "hostID": uid, "size": 1}]
    linux["gidMappings"] = [{"containerID": 0, "hostID": gid, "size": 1}]
    namespaces = [ns for ns in linux.get("namespaces", []) if ns.get("type") not in ("network", "cgroup")]
    namespaces.append({"type": "user"})
    linux["namespaces"] = namespaces
    linux.pop("resources", None)
    mounts = []
    for m in spec.get("mounts", []):
        if m["destination"] == "/sys/fs/cgroup":
            continue
        if m["destination"] == "/sys":
            m = {"destination": "/sys", "type": "none", "source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}
        if m["type"] == "devpts":
            m = dict(m, options=[o for o in m["options"] if o != "gid=5"])
        if m["type"] == "mqueue":
            continue
        mounts.append(m)
    spec["mounts"] = mounts
    spec["process"].pop("rlimits", None)
    return spec
