"""SCMP_ACT_NOTIFY: the listener fd of a container process's filter goes to the seccomp agent.

The process that installs the filter (init, or an exec'd process) sends the listener over
its sync channel at once (``hand_over``: any syscall the profile notifies would block until
an agent answers) and waits for ``seccomp-done``; the runtime connects to
``linux.seccomp.listenerPath`` and sends the OCI ``containerProcessState`` JSON with the fd
in one SCM_RIGHTS message (``send_to_agent``), as the runtime spec describes, then closes
its copy: once the agent is gone too, notified syscalls fail with ENOSYS.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..process.channel import Channel

OCI_VERSION = "1.0.2"
SECCOMP_FD_NAME = "seccompFd"


def hand_over(ch: Channel, listener: int) -> None:
    """Child side: give the runtime ``listener`` and wait until the agent has it."""
    if listener < 0:
        return
    try:
        ch.send_fd("seccomp", listener)
        ch.expect("seccomp-done")
    finally:
        os.close(listener)


def process_state(seccomp: dict[str, Any], pid: int, state: dict[str, Any]) -> dict[str, Any]:
    """The runtime spec's ``containerProcessState`` for the process ``pid``."""
    return {
        "ociVersion": OCI_VERSION,
        "fds": [SECCOMP_FD_NAME],
        "pid": pid,
        "metadata": seccomp.get("listenerMetadata") or "",
        "state": state,
    }


def send_to_agent(listener_path: str, message: dict[str, Any], fd: int) -> None:
    """Runtime side: one message to the agent at ``listener_path``: the state JSON and ``fd``."""
    import _socket
    import sys

    from ..fastjson import dumps

    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        try:
            sock.connect(listener_path)
        except OSError as err:
            raise OSError(err.errno, "failed to connect with seccomp agent specified in the seccomp "
                          f"profile: dial unix {listener_path}: connect: {os.strerror(err.errno or 0)}") from err
        rights = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fd.to_bytes(4, sys.byteorder))]
        try:
            sock.sendmsg([dumps(message).encode()], rights)
        except OSError as err:
            raise OSError(err.errno, f"cannot send seccomp fd to {listener_path}: {os.strerror(err.errno or 0)}") from err
    finally:
        sock.close()


def deliver(ch: Channel, msg: dict[str, Any], seccomp: dict[str, Any], pid: int, state: dict[str, Any]) -> None:
    """Runtime side of a ``seccomp`` sync message: the fd to the agent, then ``seccomp-done``."""
    fd = msg.get("fd")
    if fd is None:
        raise OSError(22, "seccomp sync message without a listener fd")
    try:
        send_to_agent(seccomp.get("listenerPath") or "", process_state(seccomp, pid, state), fd)
    finally:
        os.close(fd)
    ch.send("seccomp-done")
