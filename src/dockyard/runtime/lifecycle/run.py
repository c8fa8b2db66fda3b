"""``run``: create + start + wait + delete, exiting with the container's status.

The runtime becomes a child subreaper first, so when the intermediate exits
init is re-parented to *us* and can be waited for.  SIGINT/SIGTERM/SIGHUP/...
received meanwhile are forwarded to init.  A foreground ``process.terminal``
gets its pty copied to our own stdio (``console.ForegroundTerminal``), SIGWINCH
then resizes it instead of being forwarded, as runc does.
"""

from __future__ import annotations

import os
import signal

from ..console import ForegroundTerminal
from ..linux import syscalls as sc
from .create import check_terminal, create, load_config
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
    terminal = bool((load_config(bundle).get("process") or {}).get("terminal"))
    check_terminal(terminal, detach, console_socket)
    if not detach:
        sc.prctl(sc.PR_SET_CHILD_SUBREAPER, 1)
    tty = ForegroundTerminal() if terminal and not detach else None
    try:
        return _run(root, container_id, bundle, tty, pid_file=pid_file, console_socket=console_socket,
                    no_pivot=no_pivot, preserve_fds=preserve_fds, detach=detach, keep=keep)
    finally:
        if tty is not None:
            tty.close()


def _run(root: str, container_id: str, bundle: str, tty: ForegroundTerminal | None, *, pid_file: str | None,
         console_socket: str | None, no_pivot: bool, preserve_fds: int, detach: bool, keep: bool) -> int:
    state = create(
        root,
        container_id,
        bundle,
        pid_file=pid_file,
        console_socket=console_socket,
        console=tty.child if tty else None,
        no_pivot=no_pivot,
        preserve_fds=preserve_fds,
    )
    pid = state.pid
    try:
        if tty is not None:
            tty.child.close()  # init holds its own copy: EOF, not a hang, if it never sends
            tty.attach()
        start(root, container_id)
    except BaseException:
        delete(root, container_id, force=True)
        raise
    if detach:
        return 0
    status = wait_forwarding(pid, tty)
    if not keep:
        delete(root, container_id, force=True)
    return status


def wait_forwarding(pid: int, tty: ForegroundTerminal | None) -> int:
    """Wait for ``pid`` (we are its subreaper), forwarding signals; its status as runc exits with it."""

    def forward(signum: int, _frame: object) -> None:
        if signum == signal.SIGWINCH:
            if tty is not None:
                tty.resize()
            return  # runc never forwards it
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for sig in _FORWARDED:
        signal.signal(sig, forward)
    status = 255  # what runc exits with when it lost its process
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
    return 128 - status if status < 0 else status
