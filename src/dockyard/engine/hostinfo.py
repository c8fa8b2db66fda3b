"""What the engine reports of the host it runs on (``/info``'s ``MemTotal``, the swarm node's resources)."""

from __future__ import annotations


def memory_total() -> int:
    """The host's memory in bytes (``/proc/meminfo``'s first line, MemTotal), 0 when it cannot be read."""
    try:
        with open("/proc/meminfo") as f:
            return int(f.readline().split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return 0
