"""The engine's ``GET /events`` for one project's containers, as a counter that waiters block on.

``up`` waits for ``service_healthy``, ``service_completed_successfully`` and ``--wait`` by
reading the state once, then again only after an event of the project (``start``, ``die``,
``health_status: …``) arrived: no polling loop. The stream is opened before the first read
of the state, so a change between the read and the wait is never missed.
"""

from __future__ import annotations

import json
import socket
import threading
from typing import Any

from dockyard import errors

PROJECT_LABEL = "com.docker.compose.project"
# what can change a condition: not the exec_* events of health probes
STATE_CHANGES = ("start", "die", "health_status", "destroy", "oom")


class EventStreamEnded(errors.Unavailable):
    pass


class ProjectEvents:
    def __init__(self, client: Any, project: str) -> None:
        filters = {"type": ["container"], "label": [f"{PROJECT_LABEL}={project}"], "event": list(STATE_CHANGES)}
        self._resp = client.request("GET", "/events", {"filters": json.dumps(filters)})
        self._cond = threading.Condition()
        self._seq = 0
        self._ended = False
        self._closing = False
        self._thread = threading.Thread(target=self._pump, name=f"compose-events-{project}", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        try:
            for line in self._resp:
                if line.strip():
                    with self._cond:
                        self._seq += 1
                        self._cond.notify_all()
        except OSError:
            if not self._closing:
                raise
        finally:
            with self._cond:
                self._ended = True
                self._cond.notify_all()

    def mark(self) -> int:
        """The count of events so far: take it before reading the state."""
        with self._cond:
            return self._seq

    def wait_after(self, mark: int, timeout: float) -> bool:
        """Block until an event after ``mark`` arrived (True) or ``timeout`` passed (False)."""
        with self._cond:
            self._cond.wait_for(lambda: self._seq != mark or self._ended, max(timeout, 0))
            if self._seq != mark:
                return True
            if self._ended:
                raise EventStreamEnded("the engine's event stream ended while waiting")
            return False

    def close(self) -> None:
        self._closing = True
        try:
            self._resp.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed by the engine: the pump has ended too
        self._resp.sock.close()
        self._thread.join(timeout=5)
