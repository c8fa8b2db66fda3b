"""runc-compatible logging: stderr for humans, ``--log`` file for the shim.

containerd's shim reads the runtime's ``--log`` file (``--log-format json``)
and surfaces the last ``"level":"error"`` line, so the shape matches runc:
``{"level":"error","msg":...,"time":...}``.

With ``--debug`` the steps of container setup are logged as runc logs them (its
own test suite looks for them): to the ``--log`` file, else to stderr.  The
processes forked on the way (intermediate, init, exec'd process) write through
an inherited close-on-exec descriptor, since after ``pivot_root`` no host path
is reachable and their own stderr may already be the container's.
"""

from __future__ import annotations

import fcntl
import os
import sys

_ACTIVE: RuntimeLog | None = None
_HIGH_FD = 256  # above any --preserve-fds range init keeps open


class RuntimeLog:
    def __init__(self, path: str | None, fmt: str = "text", debug: bool = False) -> None:
        global _ACTIVE
        self.path = path
        self.fmt = fmt
        self.debug_enabled = debug
        self.debug_fd = -1
        if debug:
            import datetime  # noqa: F401 - imported now: forked children log after pivot_root
            import json  # noqa: F401

            self.debug_fd = self._open_debug()
        _ACTIVE = self

    def _open_debug(self) -> int:
        try:
            if self.path:
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            else:
                fd = os.dup(2)
        except OSError:
            return -1
        high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, _HIGH_FD)
        os.close(fd)
        return high

    def _line(self, level: str, msg: str) -> str:
        import datetime
        import json

        now = datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")
        if self.fmt == "json":
            return json.dumps({"level": level, "msg": msg, "time": now}, separators=(",", ":")) + "\n"
        return f"time={json.dumps(now)} level={level} msg={json.dumps(msg)}\n"

    def write(self, level: str, msg: str) -> None:
        if not self.path:
            return
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                os.write(fd, self._line(level, msg).encode())
            finally:
                os.close(fd)
        except OSError:
            pass

    def debug(self, msg: str) -> None:
        if self.debug_fd < 0:
            return
        try:
            os.write(self.debug_fd, self._line("debug", msg).encode())
        except OSError:
            pass

    def error(self, msg: str) -> None:
        self.write("error", msg)
        try:
            sys.stderr.write(f"dockyard-runc: {msg}\n")
            sys.stderr.flush()
        except OSError:
            pass


def debug(msg: str) -> None:
    """Log one setup step when ``--debug`` is on (a no-op otherwise, and in the shim)."""
    if _ACTIVE is not None and _ACTIVE.debug_fd >= 0:
        _ACTIVE.debug(msg)
