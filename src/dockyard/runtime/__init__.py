"""dockyard-runc: the built-in OCI runtime (runc's command line, youki's layout).

``cli.py`` parses; ``lifecycle/<verb>.py`` implements one verb each;
``container.py`` owns state.json and the computed status; ``process/`` is the
fork → namespaces → init chain with its typed sync channel; ``linux/`` wraps
syscalls (ctypes), mounts, devices, capabilities, seccomp; ``cgroups/`` holds
the CgroupManager protocol with v1 and v2 implementations.  It knows only the
OCI runtime spec, never images or the engine.
"""
