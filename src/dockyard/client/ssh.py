"""``ssh://[user@]host[:port]`` daemons: the Engine API over ``ssh ... -- dockyard system dial-stdio``.

As the docker CLI does, each connection runs one ``ssh`` process whose stdin and
stdout carry the HTTP bytes; on the remote side ``dockyard system dial-stdio``
joins them to the daemon's socket there (its own ``DOCKER_HOST``/``DOCKYARD_HOST``
or the default socket). ssh is given one end of a socketpair as both stdin and
stdout, so the rest of the client keeps using a socket: half-closes (``shutdown``)
travel as ssh channel EOFs, and hijacked streams (attach, exec, ``logs -f``) need
nothing special.

Options: ``~/.ssh/config`` applies as for any ssh; extra options go in
``DOCKYARD_SSH_OPTS`` (shell-split, put before the host), e.g.
``-i key -o StrictHostKeyChecking=no``.
"""

from __future__ import annotations

import os
import socket

from dockyard import errors
from dockyard.client.errors import TransportError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import subprocess

REMOTE_COMMAND = ("dockyard", "system", "dial-stdio")


class SSHSocket(socket.socket):
    """Our end of the socketpair; holds the ssh process so that it is reaped when the connection closes."""

    proc: subprocess.Popen[bytes] | None = None

    def close(self) -> None:
        super().close()
        if self.proc is not None:
            self.proc.poll()  # reaped now if ssh is done; otherwise subprocess reaps it at the next Popen


class SSHTarget:
    """Where ``ssh://`` points, and how to open one connection there."""

    def __init__(self, url: str) -> None:
        from urllib.parse import urlsplit

        u = urlsplit(url)
        if u.scheme != "ssh" or not u.hostname:
            raise errors.InvalidArgument(f"invalid ssh host {url!r}: ssh://[user@]host[:port]")
        if u.path not in ("", "/") or u.query or u.fragment:
            raise errors.InvalidArgument(f"invalid ssh host {url!r}: no path, query or fragment allowed")
        if u.password is not None:
            raise errors.InvalidArgument(f"invalid ssh host {url!r}: plain-text password is not supported")
        try:
            self.port = u.port
        except ValueError as err:
            raise errors.InvalidArgument(f"invalid ssh host {url!r}: {err}") from err
        self.user = u.username
        self.host = u.hostname
        self.url = url

    def argv(self) -> list[str]:
        """``ssh -o ConnectTimeout=30 -T [-l user] [-p port] [$DOCKYARD_SSH_OPTS] -- host dockyard system dial-stdio``."""
        import shlex

        args = ["ssh", "-o", "ConnectTimeout=30", "-T"]
        if self.user:
            args += ["-l", self.user]
        if self.port:
            args += ["-p", str(self.port)]
        args += shlex.split(os.environ.get("DOCKYARD_SSH_OPTS", ""))
        return [*args, "--", self.host, *REMOTE_COMMAND]

    def connect(self) -> socket.socket:
        """A socket whose other end is a fresh ssh's stdin and stdout; ssh's stderr is ours (its errors show)."""
        import subprocess

        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            # typeshed: stdin/stdout as int or IO; Popen takes any object with fileno(), as a socket
            proc = subprocess.Popen(self.argv(), stdin=theirs, stdout=theirs, close_fds=True)  # type: ignore[call-overload]
        except OSError as err:
            ours.close()
            raise TransportError(f"Cannot connect to the Dockyard daemon at {self.url}: ssh: {err}") from err
        finally:
            theirs.close()
        sock = SSHSocket(ours.family, ours.type, fileno=ours.detach())
        sock.proc = proc
        return sock


def dial_stdio(sock: socket.socket) -> None:
    """Copy stdin to ``sock`` and ``sock`` to stdout (the remote side of ``ssh://``).

    Stdin's EOF becomes a half-close, so the daemon still answers; the daemon
    closing its side ends the command, as ``docker system dial-stdio`` does."""
    import threading

    def upstream() -> None:
        try:
            while data := os.read(0, 65536):
                sock.sendall(data)
        except OSError:
            return  # the daemon side is gone: the main loop ends too
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # already closed by the daemon

    threading.Thread(target=upstream, daemon=True).start()
    try:
        while data := sock.recv(65536):
            view = memoryview(data)
            while view:
                view = view[os.write(1, view):]
    except (BrokenPipeError, ConnectionResetError):
        pass  # the ssh client went away: nothing left to copy to
    finally:
        sock.close()
