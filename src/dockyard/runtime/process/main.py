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

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, NoReturn

from ..linux import syscalls as sc
from ..linux.namespaces import NamespacePlan, join_all
from ..log import debug
from .channel import Channel, InitError, expect_type
from .init import InitOptions, preload, run_init, set_oom_score_adj

SYNC_TIMEOUT = 60.0


def _intermediate(ch: Channel, config: dict[str, Any], plan: NamespacePlan, opts: InitOptions) -> NoReturn:
    try:
        debug("nsexec container setup")
        sc.prctl(sc.PR_SET_DUMPABLE, 0)
        unprivileged = os.geteuid() != 0
        set_oom_score_adj((config.get("process") or {}).get("oomScoreAdj"))  # before any user namespace
        # joins first: after a new user namespace we would lack the rights over host-owned ones
        join_all(plan.join)
        if "user" in plan.new:
            sc.unshare(sc.CLONE_NEWUSER)
            if unprivileged:
                sc.prctl(sc.PR_SET_DUMPABLE, 1)  # else /proc/<pid>/uid_map is root's, not the caller's
            ch.send("userns")
            ch.expect("userns-done", SYNC_TIMEOUT)
            if unprivileged:
                sc.prctl(sc.PR_SET_DUMPABLE, 0)
        if plan.has("user") and unprivileged:
            from ..linux.userns import become_root

            become_root()
        # privileged: init becomes root of the namespace once it holds its rootfs and bind
        # sources (rootfs.prepare): the daemons' 0700 state directories on the way to the bundle
        # are host root's, whom the namespace's root is not
        # the other namespaces are created after the user namespace, so it owns them
        # (proc, sysfs, mqueue and sethostname inside need that ownership)
        flags = plan.unshare_flags & ~sc.CLONE_NEWUSER
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


def _deliver_listener(ch: Channel, msg: dict[str, Any], config: dict[str, Any], opts: InitOptions, pid: int) -> None:
    """init's seccomp listener to the profile's agent, with the state runc sends for a creating init."""
    from ..linux.seccomp_notify import deliver

    state = {"ociVersion": "1.0.2", "id": opts.container_id, "status": "creating", "pid": pid,
             "bundle": opts.bundle}
    if config.get("annotations"):
        state["annotations"] = config["annotations"]
    try:
        deliver(ch, msg, (config.get("linux") or {}).get("seccomp") or {}, pid, state)
    except OSError as err:
        raise InitError(err.strerror or str(err)) from err


def spawn_init(
    config: dict[str, Any],
    plan: NamespacePlan,
    opts: InitOptions,
    on_pid: Callable[[int], None],
    on_hooks: Callable[[int], None],
) -> int:
    """Start init and drive it to ``ready``; returns init's host pid.

    ``on_pid`` runs once init exists (cgroup join), while init prepares its rootfs;
    ``on_hooks`` runs the runtime-namespace hooks when init asks for them.
    On failure init is killed and InitError carries init's own message.
    """
    preload(config)
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
        msg = parent.recv(SYNC_TIMEOUT)
        if msg["type"] == "userns":
            from ..linux.userns import write_maps

            linux = config.get("linux") or {}
            write_maps(pid, linux.get("uidMappings") or [], linux.get("gidMappings") or [])
            parent.send("userns-done")
            msg = parent.recv(SYNC_TIMEOUT)
        init_pid = int(expect_type(msg, "pid")["pid"])
        os.waitpid(pid, 0)
        pid = 0
        # init prepares its rootfs while we move it into its cgroups: on cgroup v1 the first
        # cgroup.procs write after a quiet spell waits for an RCU grace period (~10-15 ms here),
        # which used to be spent before init could start. init waits for "joined" before any
        # hook or container code runs (and before it unshares a cgroup namespace).
        try:
            parent.send("go")
        except OSError:
            expect_type(parent.recv(1.0), "go")  # init died early: raise with its own message
            raise
        on_pid(init_pid)
        try:
            parent.send("joined")
        except OSError:
            expect_type(parent.recv(1.0), "joined")
            raise
        while True:
            msg = parent.recv(SYNC_TIMEOUT)
            if msg["type"] == "hooks":
                on_hooks(init_pid)
                parent.send("hooks-done")
                continue
            if msg["type"] == "seccomp":
                _deliver_listener(parent, msg, config, opts, init_pid)
                continue
            if msg["type"] == "ready":
                return init_pid
            if msg["type"] == "error":
                raise InitError(msg.get("message", "unknown error"), msg.get("kind", "internal"))
            if msg["type"] == "eof":
                raise InitError("container init exited before it was ready")
            raise InitError(f"unexpected sync message {msg['type']!r}")
    except BaseException:
        for victim in (init_pid, pid):  # the intermediate may still wait for its maps: not yet reaped, safe
            if victim:
                try:
                    os.kill(victim, 9)
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
