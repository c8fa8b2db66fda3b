"""Warm-up for long-lived callers of the runtime library (the dockyard shim template).

The verbs import their helpers lazily so that each ``dockyard-runc`` command pays
only for what it uses. A process that forks one shim per container wants the
opposite: import and open everything once, before the fork, so no shim pays
for it again (measured: a shim's first ``create`` took 20–45 ms cold against
8.5 ms warm, the difference being imports, dlopen of libc/libseccomp and
OpenSSL's hashlib).
"""

from __future__ import annotations


def warm() -> None:
    """Import every module the verbs (create, start, kill, delete, exec) and init need, and dlopen the libraries."""
    import resource  # noqa: F401 - init's rlimits

    from . import console, hooks  # noqa: F401
    from .cgroups import detect, fs, stats, v1, v2  # noqa: F401
    from .lifecycle import create, delete, exec, kill, start, state  # noqa: F401
    from .linux import capabilities, namespaces, rootfs, syscalls  # noqa: F401
    from .linux.network import link_up  # noqa: F401
    from .process import init, main  # noqa: F401

    syscalls.libc()
    try:
        v1.host_mountpoints()  # the cgroup hierarchies, read once for every shim forked from here
    except OSError:
        pass
    try:
        from .linux import seccomp

        seccomp._lib()
        import hashlib

        hashlib.sha256()
    except OSError:
        pass  # no libseccomp here: a container that asks for seccomp gets the error then
