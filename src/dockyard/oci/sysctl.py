"""Which sysctls a container may set: only those its own namespaces scope (runc's rules).

Pure: the engine refuses the rest at create, the runtime again before it writes any.
A sysctl outside a namespace the container owns is the host's (``kernel.core_pattern``
would run a program as host root).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # the runtime imports this on create's path: no typing import at run time
    from typing import Any

IPC_SYSCTLS = frozenset({
    "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
    "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced",
})


def refusal(key: str, namespaces: set[str], host_net: bool) -> str | None:
    """Why ``key`` may not be set, or None when it is namespaced.

    ``namespaces``: the container's namespace types (new or joined); ``host_net``: its network
    namespace is the host's (no ``network`` entry, or a path to the host's)."""
    if any(part in ("", ".", "..") for part in proc_path(key).split("/")):
        return f'sysctl "{key}" is not a valid sysctl name'
    if key in IPC_SYSCTLS or key.startswith("fs.mqueue."):
        return None if "ipc" in namespaces else f'sysctl "{key}" is not allowed in the hosts ipc namespace'
    if key.startswith("net."):
        return f'sysctl "{key}" not allowed in host network namespace' if host_net else None
    if "uts" in namespaces:
        if key == "kernel.domainname":
            return None
        if key == "kernel.hostname":
            return f'sysctl "{key}" is not allowed as it conflicts with the OCI "hostname" field'
    return f'sysctl "{key}" is not in a separate kernel namespace'


def proc_path(key: str) -> str:
    """``net.ipv4.conf.eth0/100.forwarding`` -> ``net/ipv4/conf/eth0.100/forwarding`` (sysctl(8)'s notation)."""
    return key.translate(_SWAP)


_SWAP = str.maketrans("./", "/.")


def refusals(sysctl: dict[str, Any], namespaces: list[dict[str, Any]], host_net: bool | None = None) -> list[str]:
    """Every refusal for a spec's ``linux.sysctl`` under its ``linux.namespaces``.

    ``host_net`` None: a ``network`` entry (new, or joined by path) is not the host's."""
    types = {ns.get("type", "") for ns in namespaces}
    if host_net is None:
        host_net = "network" not in types
    return [r for key in sysctl if (r := refusal(str(key), types, host_net))]
