"""Why an exec failed, asked of the container rather than read from a runtime's message.

An external runtime (runc, crun) exits 1 whatever went wrong with an exec and says why only
in its own words; Docker's exit code for the exec (127: no such program, 126: cannot run it)
needs the kind. So after such a failure the shim looks the program up the way the runtime
did: inside the container's root (``/proc/<init>/root``, in a forked child that chroots
there, so absolute symlinks resolve in the container), from the process's ``cwd`` and the
``PATH`` of its environment.
"""

from __future__ import annotations

import os
from typing import Any

MISSING, PRESENT, UNKNOWN = 0, 1, 2


def program_missing(init_pid: int, process: dict[str, Any]) -> bool:
    """Whether the exec's program is absent from the container of ``init_pid`` (False when
    that cannot be told: the container is gone, the spec names no program). The lookup is the
    built-in runtime's own (``lookup_executable``: runc's rules, the exec bit included)."""
    args = process.get("args") or []
    if init_pid <= 0 or not args:
        return False
    from dockyard.runtime.process.init import ExecNotFound, lookup_executable  # only on a failed exec

    pid = os.fork()
    if pid == 0:
        code = UNKNOWN
        try:
            os.chroot(f"/proc/{init_pid}/root")
            os.chdir(process.get("cwd") or "/")
            try:
                lookup_executable(str(args[0]), process.get("env") or [])
                code = PRESENT
            except ExecNotFound as err:
                code = PRESENT if err.kind == "permission_denied" else MISSING
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == MISSING
