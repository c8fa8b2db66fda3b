"""``ps``: the processes of a container, found through its cgroup (not its pid namespace).

The table is the host's ``ps`` (``-ef`` unless the caller passes its own options, as
runc passes them on), filtered to the rows whose PID is one of the container's.
"""

from __future__ import annotations

from dockyard.errors import InvalidArgument

from ..container import State


def pids(root: str, container_id: str) -> list[int]:
    from ..cgroups.detect import manager_from_paths

    state = State.load(root, container_id)
    return sorted(manager_from_paths(state.cgroup_paths, state.cgroup_version).pids())


def table(root: str, container_id: str, ps_args: list[str] | None = None) -> str:
    import subprocess

    members = set(pids(root, container_id))
    proc = subprocess.run(["ps", *(ps_args or ["-ef"])], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          check=False)
    output = proc.stdout.decode(errors="replace")
    if proc.returncode != 0:
        raise InvalidArgument(f"exit status {proc.returncode}: {output}")
    return filter_rows(output, members)


def filter_rows(output: str, members: set[int]) -> str:
    """The header and the rows of ``ps`` output whose PID column names a member."""
    lines = output.split("\n")
    titles = lines[0].split()
    if "PID" not in titles:
        raise InvalidArgument("couldn't find PID field in ps output")
    col = titles.index("PID")
    keep = [lines[0]]
    for line in lines[1:]:
        fields = line.split()
        if not fields:
            continue
        try:
            pid = int(fields[col])
        except (IndexError, ValueError) as err:
            raise InvalidArgument(f"unable to parse pid: {line!r}") from err
        if pid in members:
            keep.append(line)
    return "\n".join(keep) + "\n"
