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
    # O_NONBLOCK: opening never hangs even if init died; then wait for its byte while it lives.
    # A pidfd wakes us the moment init dies, so the select needs no short timeout.
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    pidfd = _pidfd(state.pid)
    try:
        watch = [fd] if pidfd is None else [fd, pidfd]
        while True:
            ready, _, _ = select.select(watch, [], [], 1.0)
            if fd in ready and _read_byte(fd):
                break
            # init may have written, exec'd and exited already (`true`): its byte still counts
            if not state.init_alive():
                if _read_byte(fd):
                    break
                raise WrongStatus(f"container {container_id} init exited before start")
        os.unlink(fifo)
        _wait_exec(fd, watch, state)
    finally:
        os.close(fd)
        if pidfd is not None:
            os.close(pidfd)
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


def _wait_exec(fd: int, watch: list[int], state: State) -> None:
    """Until init's exec: it holds the fifo open (close-on-exec) past its byte, so EOF means the
    container's program runs (or init died); a kill sent after ``start`` then reaches the program."""
    while True:
        ready, _, _ = select.select(watch, [], [], 1.0)
        if fd in ready:
            try:
                if not os.read(fd, 1):
                    return
            except BlockingIOError:
                pass
        if not state.init_alive():
            return


def _read_byte(fd: int) -> bytes:
    try:
        return os.read(fd, 1)
    except BlockingIOError:
        return b""


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None  # old kernel or already reaped: the 1 s select timeout still notices
