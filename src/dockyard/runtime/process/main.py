"""Parent side of container creation: fork → (intermediate: namespaces) → fork → init.

The CLI process is single-threaded, so plain ``os.fork`` is safe and far
cheaper than re-exec'ing an interpreter.  The intermediate makes itself
non-dumpable (CVE-2019-5736 class), joins/creates namespaces, forks init (PID
1 of a new pid namespace), reports init's host pid and exits, so init is
re-parented to the caller's subreaper (the shim) and ``create`` keeps no
process alive.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn

from ..linux import syscalls as sc
from ..linux.namespaces import NamespacePlan, join_all
from .channel import Channel, InitError
from .init import InitOptions, run_init

SYNC_TIMEOUT = 60.0


def _intermediate(ch: Channel, config: dict[str, Any], plan: NamespacePlan, opts: InitOptions) -> NoReturn:
    try:
        sc.prctl(sc.PR_SET_DUMPABLE, 0)
        if "user" in plan.new:
            raise OSError(95, "user namespaces are not supported by dockyard-runc yet")
        join_all(plan.join)
        flags = plan.unshare_flags
        if flags:
            sc.unshare(flags)
        pid = os.fork()
        if pid == 0:
            run_init(ch, config, plan, opts)
        ch.send("pid", pid=pid)
    except BaseException as err:  # noqa: BLE001
        try:
            ch.send("error", message=getattr(err, "strerror", None) or str(err))
        finally:
            os._exit(1)
    os._exit(0)


def spawn_init(
    config: dict[str, Any],
    plan: NamespacePlan,
    opts: InitOptions,
    on_pid: Callable[[int], None],
    on_hooks: Callable[[int], None],
) -> int:
    """Start init and drive it to ``ready``; returns init's host pid.

    ``on_pid`` runs once init exists and before it continues (cgroup join);
    ``on_hooks`` runs the runtime-namespace hooks when init asks for them.
    On failure init is killed and InitError carries init's own message.
    """
    parent, child = Channel.pair()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        try:
            parent.close()
            _intermediate(child, config, plan, opts)
        finally:
            os._exit(1)
    child.close()
    init_pid = 0
    try:
        init_pid = int(parent.expect("pid", SYNC_TIMEOUT)["pid"])
        os.waitpid(pid, 0)
        pid = 0
        on_pid(init_pid)
        parent.send("go")
        while True:
            msg = parent.recv(SYNC_TIMEOUT)
            if msg["type"] == "hooks":
                on_hooks(init_pid)
                parent.send("hooks-done")
                continue
            if msg["type"] == "ready":
                return init_pid
            if msg["type"] == "error":
                raise InitError(msg.get("message", "unknown error"), msg.get("kind", "internal"))
            if msg["type"] == "eof":
                raise InitError("container init exited before it was ready")
            raise InitError(f"unexpected sync message {msg['type']!r}")
    except BaseException:
        if init_pid:
            try:
                os.kill(init_pid, 9)
            except ProcessLookupError:
                pass
        raise
    finally:
        if pid:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        parent.close()
