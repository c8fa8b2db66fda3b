"""``run``: create + start + wait + delete, exiting with the container's status.

The runtime becomes a child subreaper first, so when the intermediate exits
init is re-parented to *us* and can be waited for.  SIGINT/SIGTERM/SIGHUP/...
received meanwhile are forwarded to init.
"""

from __future__ import annotations

import os
import signal

from ..linux import syscalls as sc
from .create import create
from .delete import delete
from .start import start

_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH)


def run(
    root: str,
    container_id: str,
    bundle: str,
    *,
    pid_file: str | None = None,
    console_socket: str | None = None,
    no_pivot: bool = False,
    preserve_fds: int = 0,
    detach: bool = False,
    keep: bool = False,
) -> int:
    if not detach:
        sc.prctl(sc.PR_SET_CHILD_SUBREAPER, 1)
    state = create(
        root,
        container_id,
        bundle,
        pid_file=pid_file,
        console_socket=console_socket,
        no_pivot=no_pivot,
        preserve_fds=preserve_fds,
    )
    pid = state.pid
    try:
        start(root, container_id)
    except BaseException:
        delete(root, container_id, force=True)
        raise
    if detach:
        return 0

    def forward(signum: int, _frame: object) -> None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for sig in _FORWARDED:
        signal.signal(sig, forward)
    status = 0
    while True:
        try:
            wpid, wstatus = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        if wpid == pid:
            status = os.waitstatus_to_exitcode(wstatus)
            break  # orphans re-parented to us are reaped by delete's kill below
    if not keep:
        delete(root, container_id, force=True)
    return 128 - status if status < 0 else status
