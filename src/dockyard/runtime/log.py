"""runc-compatible error logging: stderr for humans, ``--log`` file for the shim.

containerd's shim reads the runtime's ``--log`` file (``--log-format json``)
and surfaces the last ``"level":"error"`` line, so the shape matches runc:
``{"level":"error","msg":...,"time":...}``.
"""

from __future__ import annotations

import os
import sys


class RuntimeLog:
    def __init__(self, path: str | None, fmt: str = "text", debug: bool = False) -> None:
        self.path = path
        self.fmt = fmt
        self.debug_enabled = debug

    def _line(self, level: str, msg: str) -> str:
        import datetime
        import json

        now = datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")
        if self.fmt == "json":
            return json.dumps({"level": level, "msg": msg, "time": now}) + "\n"
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
        if self.debug_enabled:
            self.write("debug", msg)
            sys.stderr.write(f"dockyard-runc: debug: {msg}\n")

    def error(self, msg: str) -> None:
        self.write("error", msg)
        try:
            sys.stderr.write(f"dockyard-runc: {msg}\n")
            sys.stderr.flush()
        except OSError:
            pass
