"""Build progress as buildx prints it. ``rawjson``: BuildKit's ``SolveStatus`` JSON, one object a
line on stderr (what Compose v2 decodes and displays), made from the classic builder's text: each
``Step i/n : INSTR`` a vertex named ``[target i/n] INSTR``, completed at the next step (``cached``
after ``---> Using cache``), the step's other lines its logs. ``plain``: the daemon's text as it
comes; ``tty``: ``dockyard build``'s one line per step; ``quiet``: nothing."""

from __future__ import annotations

import base64
import json
import os
import threading
from typing import IO, Any

from dockyard.timefmt import rfc3339_nano


def _step(line: str) -> tuple[str, str] | None:
    """``Step 2/4 : RUN x`` -> ``("2/4", "RUN x")``."""
    if not line.startswith("Step "):
        return None
    count, sep, instruction = line[5:].partition(" : ")
    i, slash, n = count.partition("/")
    return (count, instruction) if sep and slash and i.isdigit() and n.isdigit() else None


class Progress:
    """Receives one target's build text (``feed``) and its end (``done``), writes it in ``mode``."""

    def __init__(self, mode: str, out: IO[str], target: str, lock: threading.Lock | None = None) -> None:
        self.mode = mode
        self.out = out
        self.lock = lock or threading.Lock()  # targets build at once: one line is written whole
        self.target = target
        self.pending = ""
        self.vertex: dict[str, Any] | None = None
        self.previous = ""
        self.display: Any = None
        if mode == "tty":  # one target on a terminal: `dockyard build`'s one line per step
            from dockyard.cli.build import Display

            self.display = Display(True, out)

    def feed(self, text: str) -> None:
        if self.mode == "quiet":
            return
        if self.display is not None:
            self.display.feed(text)
            return
        if self.mode != "rawjson":
            with self.lock:
                self.out.write(text)
                self.out.flush()
            return
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            self._line(line + "\n")

    def done(self, error: str = "") -> None:
        """The build ended: the open step completes (with ``error`` when it failed)."""
        if self.display is not None and not error:
            self.display.finish()
        if self.mode != "rawjson":
            return
        if self.pending:
            self._line(self.pending)
            self.pending = ""
        if self.vertex is not None:
            self._complete(error=error)
        elif error:
            self._start(f"[{self.target}] build")
            self._complete(error=error)

    def _line(self, line: str) -> None:
        step = _step(line.rstrip("\n"))
        if step:
            if self.vertex is not None:
                self._complete()
            self._start(f"[{self.target} {step[0]}] {step[1]}")
            return
        text = line.strip()
        if text == "---> Using cache" and self.vertex is not None:
            self.vertex["cached"] = True
            return
        if text.startswith("---> ") or text.startswith("Successfully ") or self.vertex is None:
            return
        self._emit({"logs": [{"vertex": self.vertex["digest"], "stream": 1,
                              "data": base64.b64encode(line.encode()).decode(), "timestamp": rfc3339_nano()}]})

    def _start(self, name: str) -> None:
        digest = "sha256:" + os.urandom(32).hex()  # a vertex's name: any digest, unique in the build
        self.vertex = {"digest": digest, "name": name, "started": rfc3339_nano()}
        if self.previous:
            self.vertex["inputs"] = [self.previous]
        self._emit({"vertexes": [self.vertex]})

    def _complete(self, error: str = "") -> None:
        assert self.vertex is not None
        self.vertex["completed"] = rfc3339_nano()
        if error:
            self.vertex["error"] = error
        self._emit({"vertexes": [self.vertex]})
        self.previous = self.vertex["digest"]
        self.vertex = None

    def _emit(self, status: dict[str, Any]) -> None:
        with self.lock:
            self.out.write(json.dumps(status) + "\n")
            self.out.flush()
