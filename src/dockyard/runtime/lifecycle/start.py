"""``start``: release init by opening the exec fifo for reading, then run poststart hooks."""

from __future__ import annotations

import os
import select

from ..container import EXEC_FIFO, State, WrongStatus


def start(root: str, container_id: str) -> State:
    state = State.load(root, container_id)
    status = state.status(root)
    if not status.can_start():
        raise WrongStatus(f"cannot start a container that has {status.value}" if status.value == "stopped"
                          else f"cannot start an already {status.value} container")
    fifo = os.path.join(State.dir_for(root, container_id), EXEC_FIFO)
    # O_NONBLOCK: opening never hangs even if init died; then poll for its byte while it lives
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        while True:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                data = os.read(fd, 1)
                if data:
                    break
            if not state.init_alive():
                raise WrongStatus(f"container {container_id} init exited before start")
    finally:
        os.close(fd)
    os.unlink(fifo)
    hooks = state.config_hooks.get("poststart")
    if hooks:
        from ..hooks import run_hooks

        try:
            run_hooks("poststart", hooks, state.oci_state(root))
        except Exception:
            # runtime-spec: a poststart failure is logged, the container keeps running
            import logging

            logging.getLogger("dockyard.runtime").warning("poststart hook failed", exc_info=True)
    return state
