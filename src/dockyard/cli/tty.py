"""Attached streams as the docker CLI runs them (``hijack.go``): stdin copied in (through the
detach-key proxy on a terminal), output copied out (demultiplexed unless TTY); on a terminal
raw mode, the window size sent at start and again on every SIGWINCH, and the terminal restored
on every way out."""

from __future__ import annotations

import os
import signal
import sys
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any

DEFAULT_DETACH = b"\x10\x11"  # ctrl-p, ctrl-q
_CTRL = ["ctrl-@", *[f"ctrl-{chr(c)}" for c in range(ord("a"), ord("z") + 1)], "ctrl-[", "ctrl-\\", "ctrl-]",
         "ctrl-^", "ctrl-_"]


class Detached(Exception):
    """The user typed the detach keys: the container keeps running."""


def detach_keys(spec: str) -> bytes:
    """term.ToBytes: ``ctrl-p,ctrl-q`` -> b"\\x10\\x11"; a single character stands for itself."""
    if not spec:
        return DEFAULT_DETACH
    out = bytearray()
    for key in spec.split(","):
        if len(key) == 1:
            out += key.encode()
        elif key in _CTRL:
            out.append(_CTRL.index(key))
        elif key == "DEL":
            out.append(127)
        else:
            raise ValueError(f"Unknown character: '{key}'")
    return bytes(out)


class EscapeProxy:
    """term.NewEscapeProxy: passes input through, holds back what may be the start of the
    detach sequence, raises Detached when all of it was typed."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self.held = b""

    def feed(self, data: bytes) -> bytes:
        out = bytearray()
        for b in data:
            candidate = self.held + bytes([b])
            if self.keys.startswith(candidate):
                self.held = candidate
                if candidate == self.keys:
                    raise Detached
                continue
            out += candidate
            self.held = b""
        return bytes(out)


def terminal_size(fd: int = 0) -> tuple[int, int] | None:
    """(rows, columns) of the terminal on ``fd`` (or stdout's), None without one."""
    for f in (fd, 1):
        try:
            if os.isatty(f):
                size = os.get_terminal_size(f)
                return size.lines, size.columns
        except OSError:
            continue
    return None


class Terminal:
    """Raw mode on stdin (when it is a terminal and attached) and no output processing on stdout
    (so ``\\r\\n`` from the container's pty is not doubled); ``restore`` is idempotent."""

    def __init__(self, raw_input: bool) -> None:
        import termios

        self._termios = termios
        self._saved: list[tuple[int, Any]] = []
        if raw_input and os.isatty(0):
            import tty

            self._saved.append((0, termios.tcgetattr(0)))
            tty.setraw(0, termios.TCSANOW)
        if os.isatty(1) and not (raw_input and os.isatty(0) and os.ttyname(0) == os.ttyname(1)):
            attrs = termios.tcgetattr(1)
            self._saved.append((1, [*attrs]))
            attrs[1] &= ~termios.OPOST
            termios.tcsetattr(1, termios.TCSANOW, attrs)

    def restore(self) -> None:
        while self._saved:
            fd, attrs = self._saved.pop()
            try:
                self._termios.tcsetattr(fd, self._termios.TCSADRAIN, attrs)
            except self._termios.error:
                pass  # the terminal went away (hang-up): nothing left to restore


class Session:
    """One attached container or exec: ``run()`` copies the streams until the output ends."""

    def __init__(self, sock: Any, tty: bool, stdin: bool, keys: bytes = DEFAULT_DETACH,
                 resize: Callable[[int, int], object] | None = None) -> None:
        self.sock = sock
        self.tty = tty
        self.stdin = stdin
        self.keys = keys
        self.resize = resize
        self.detached = False
        self._old_winch: Any = None
        self.terminal: Terminal | None = None

    def __enter__(self) -> Session:
        if self.tty:
            self.terminal = Terminal(self.stdin)
            for sig in (signal.SIGTERM, signal.SIGHUP):  # restore the terminal on these too
                signal.signal(sig, _exit_on_signal)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._old_winch is not None:
            signal.signal(signal.SIGWINCH, self._old_winch)
        if self.terminal is not None:
            self.terminal.restore()

    def follow_size(self) -> None:
        """Send the size now and on every SIGWINCH."""
        if self.resize is None or terminal_size() is None:
            return
        self.send_size()
        self._old_winch = signal.signal(signal.SIGWINCH, lambda *_: self.send_size())

    def send_size(self) -> None:
        size = terminal_size()
        if size and self.resize is not None:
            try:
                self.resize(*size)
            except Exception:  # noqa: BLE001 - a lost resize must not end the session
                if os.environ.get("DOCKYARD_DEBUG"):
                    raise

    def run(self) -> None:
        if self.stdin:
            threading.Thread(target=self._feed, daemon=True).start()
        try:
            self._copy_out()
        except OSError:
            if not self.detached:
                raise
        if self.detached:
            raise Detached

    def _feed(self) -> None:
        import socket

        proxy = EscapeProxy(self.keys) if self.tty and os.isatty(0) else None
        try:
            while data := os.read(0, 65536):
                if proxy is not None:
                    try:
                        data = proxy.feed(data)
                    except Detached:
                        self.detached = True
                        self.sock.shutdown(socket.SHUT_RDWR)
                        return
                if data:
                    self.sock.sendall(data)
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the container is gone and so is the connection

    def _copy_out(self) -> None:
        out, err = sys.stdout.buffer, sys.stderr.buffer
        if self.tty:
            while chunk := self.sock.recv(65536):
                out.write(chunk)
                out.flush()
            return
        for stream, data in demux(self.sock):
            target = err if stream == 2 else out
            target.write(data)
            target.flush()


def demux(sock: Any) -> Iterator[tuple[int, bytes]]:
    from dockyard.client.http import demux as frames

    return frames(sock)


def _exit_on_signal(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


class SignalProxy:
    """``--sig-proxy``: signals this process gets are sent to the container (non-TTY runs)."""

    SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")

    def __init__(self, kill: Callable[[str], object]) -> None:
        self.kill = kill
        self.old: dict[int, Any] = {}

    def __enter__(self) -> SignalProxy:
        for name in self.SIGNALS:
            sig = getattr(signal, name)
            self.old[sig] = signal.signal(sig, self._forward)
        return self

    def _forward(self, signum: int, frame: Any) -> None:
        try:
            self.kill(signal.Signals(signum).name)
        except Exception:  # noqa: BLE001 - the container may be gone already
            if os.environ.get("DOCKYARD_DEBUG"):
                raise

    def __exit__(self, *exc: Any) -> None:
        for sig, old in self.old.items():
            signal.signal(sig, old)
