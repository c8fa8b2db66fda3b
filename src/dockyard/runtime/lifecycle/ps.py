"""``ps``: the processes of a container, found through its cgroup (not its pid namespace)."""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

from ..container import State


def pids(root: str, container_id: str) -> list[int]:
    from ..cgroups.detect import manager_from_paths

    state = State.load(root, container_id)
    return sorted(manager_from_paths(state.cgroup_paths, state.cgroup_version).pids())


def _proc_row(pid: int) -> dict[str, Any] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
        st = os.stat(f"/proc/{pid}")
    except OSError:
        return None
    comm = raw[raw.index(b"(") + 1 : raw.rindex(b")")].decode(errors="replace")
    rest = raw[raw.rindex(b")") + 2 :].split()
    hz = os.sysconf("SC_CLK_TCK") or 100
    cpu_s = (int(rest[11]) + int(rest[12])) // hz
    cmd = cmdline.rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace") or f"[{comm}]"
    return {
        "UID": str(st.st_uid),
        "PID": str(pid),
        "PPID": rest[1].decode(),
        "STAT": rest[0].decode(),
        "TIME": f"{cpu_s // 3600:02d}:{cpu_s // 60 % 60:02d}:{cpu_s % 60:02d}",
        "CMD": cmd,
    }


def table(root: str, container_id: str) -> str:
    """A ``ps -ef``-like table read from /proc (host pids, as runc prints them)."""
    cols = ("UID", "PID", "PPID", "STAT", "TIME", "CMD")
    rows: list[dict[str, Any]] = [dict(zip(cols, cols))]
    rows += [r for r in (_proc_row(p) for p in pids(root, container_id)) if r]
    widths = {c: max(len(r[c]) for r in rows) for c in cols[:-1]}
    lines = ["  ".join(r[c].ljust(widths[c]) for c in cols[:-1]) + "  " + r["CMD"] for r in rows]
    return "\n".join(lines) + "\n"
