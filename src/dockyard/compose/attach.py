"""Attached ``up``: containers' logs and their ``post_start`` hooks' output, as they arrive.

As Compose v2's log consumer: a container's logs are followed from the moment it is started
(before its hooks run), and a hook's lines (``web-1 -> | ``) are written when the hook prints
them, so the two interleave in the order they happened. "Attaching to" comes before the first
line and names, sorted by name, the attached services' containers as up leaves them (v2 prints it
once it created them all, before it starts any: ``pkg/compose/attach.go``), also those not made
yet when the first line comes; the prefixes are padded to the longest name seen so far.
"""

from __future__ import annotations

import sys
import threading

from dockyard.compose import engine as E
from dockyard.compose.logprefix import Prefixes, short_name

TYPE_CHECKING = False  # typing imports re: ~3 ms of every command's start
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from dockyard.compose.ops import Compose


class Attached:
    def __init__(self, cp: Compose, wanted: Callable[[str], bool], color: bool, bare: bool) -> None:
        """``wanted``: whether a service's containers are attached."""
        self.cp, self.wanted, self.color, self.bare = cp, wanted, color, bare
        self.lock = threading.Lock()
        self.containers: dict[str, dict[str, Any]] = {}  # full name -> container, in start order
        self.hooked: list[str] = []  # names of containers whose hooks printed
        self.partial: dict[str, bytes] = {}  # a hook's output after its last newline
        self.exited: dict[str, dict[str, Any]] = {}  # full name -> inspect, once its logs ended
        self.changed = threading.Condition(self.lock)
        self.known: dict[str, dict[str, Any]] = {}  # full name -> container: the ones prefixes are padded for
        self.prefixes: Prefixes | None = None
        self.said = False  # "Attaching to" was written
        self.plan: list[dict[str, Any]] = []  # the containers up will have (Compose.planned)

    # --- during up (called from its threads) ---------------------------------------------------

    def started(self, service: str, cid: str, name: str, labels: dict[str, str]) -> None:
        """Container ``name`` was started: follow its logs from their start (``labels``: those its
        prefix is made of)."""
        if self.wanted(service):
            self.follow({"Id": cid, "Names": ["/" + name], "Labels": labels})

    def planned(self, containers: list[dict[str, Any]]) -> None:
        with self.lock:
            self.plan = containers

    def hook_output(self, name: str, data: bytes) -> None:
        with self.lock:
            if name not in self.hooked:
                self.hooked.append(name)
                self.prefixes = None
            lines = (self.partial.pop(name, b"") + data).split(b"\n")
            if lines[-1]:
                self.partial[name] = lines[-1]
            for line in lines[:-1]:
                self._print(self._prefix(name, True) + line.decode(errors="replace").rstrip("\r") + "\n")

    # --- after up -------------------------------------------------------------------------------

    def follow(self, c: dict[str, Any]) -> None:
        name = str(c["Names"][0]).lstrip("/")
        with self.lock:
            if name in self.containers:
                return
            self.containers[name] = self.known[name] = c
            self.prefixes = None
        threading.Thread(target=self._follow, args=(c, name), daemon=True).start()

    def flush_hooks(self) -> None:
        with self.lock:
            for name, rest in list(self.partial.items()):
                self._print(self._prefix(name, True) + rest.decode(errors="replace") + "\n")
            self.partial.clear()
            self._header()

    def wait(self, containers: list[dict[str, Any]], abort_on_exit: bool) -> bool:
        """Wait a moment for every one of ``containers`` to exit (any, with ``abort_on_exit``); whether they did."""
        names = {str(c["Names"][0]).lstrip("/") for c in containers}
        with self.lock:
            return self.changed.wait_for(lambda: bool(self.exited) if abort_on_exit else names <= set(self.exited),
                                         0.2)

    # --- inside ---------------------------------------------------------------------------------

    def _follow(self, c: dict[str, Any], name: str) -> None:
        def write(_: str, line: bytes) -> None:
            with self.lock:
                self._print(self._prefix(name) + line.decode(errors="replace"))

        self.cp.logs([c], follow=True, write=write)
        info = self.cp.inspect(c["Id"])
        with self.lock:
            self._header()
            prefixes = self._current()
            sys.stdout.write(prefixes.status(name, f"exited with code {info['State']['ExitCode']}") + "\n")
            sys.stdout.flush()
            self.exited[name] = info
            self.changed.notify_all()

    def _current(self) -> Prefixes:
        if self.prefixes is None:
            self.prefixes = Prefixes(list(self.known.values()), self.color, self.bare, self.hooked)
        return self.prefixes

    def _prefix(self, name: str, hook: bool = False) -> str:
        return self._current()(name, hook)

    def _header(self) -> None:
        """"Attaching to" every container of the attached services up leaves (some not made or
        started yet), and those of attached services up did not plan; sorted by full name, as v2."""
        if self.said:
            return
        self.said = True
        planned = {c["Labels"][E.SERVICE] for c in self.plan}
        listed = [*self.plan, *(c for c in self.cp.containers() if c["Labels"].get(E.SERVICE, "") not in planned)]
        listed = [c for c in listed if self.wanted(c["Labels"].get(E.SERVICE, ""))]
        listed.sort(key=lambda c: str(c["Names"][0]).lstrip("/"))
        for c in listed:
            name = str(c["Names"][0]).lstrip("/")
            if name not in self.known:
                self.known[name] = c
                self.prefixes = None
        sys.stdout.write("Attaching to " + ", ".join(short_name(c) for c in listed) + "\n")

    def _print(self, text: str) -> None:
        self._header()
        sys.stdout.write(text)
        sys.stdout.flush()
