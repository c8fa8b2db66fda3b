"""The progress lines of a command, in Compose v2's ``--progress`` modes.

The operations report events as the plain lines Compose v2 prints (`` Container x-a-1  Started``);
this module shows them as v2's chosen writer would: ``plain`` (those lines), ``json`` (one
``{"id":…,"status":…}`` object a line), ``quiet`` (nothing) or ``tty``: the ``[+] Running n/m``
summary above one line per resource (spinner or ✔, status, elapsed time), redrawn in place every
100 ms and once more at the end, as v2's ttyWriter. ``auto`` is ``tty`` on a terminal, else
``plain``; ``--ansi never`` is ``plain``, ``--ansi always`` is ``tty``.
"""

from __future__ import annotations

import os
import sys
import threading
import time

from dockyard import errors

TYPE_CHECKING = False  # typing imports re: ~3 ms of every command's start
if TYPE_CHECKING:
    from typing import Any, TextIO

DRYRUN_PREFIX = " DRY-RUN MODE - "  # api.DRYRUN_PREFIX, its spaces included
# the summary's title per command (v2's RunWithTitle); the rest say "Running"
TITLES = {"build": "Building", "cp": "Copying", "create": "Creating", "kill": "Killing", "pause": "Pausing",
          "pull": "Pulling", "push": "Pushing", "rm": "Removing", "restart": "Restarting", "stop": "Stopping"}
WORKING, DONE, WARNING, ERROR = range(4)
_SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
_KINDS = ("Container", "Network", "Volume", "Service", "Image")


def mode(progress: str, ansi: str, environ: dict[str, str] | Any, isatty: bool) -> str:
    """The writer ``--progress`` and ``--ansi`` (``COMPOSE_ANSI`` when ``--ansi`` is ``auto``)
    choose, as v2 decides it; errors in v2's words."""
    if ansi == "auto" and environ.get("COMPOSE_ANSI"):
        ansi = environ["COMPOSE_ANSI"]
    chosen = {"never": "plain", "always": "tty"}.get(ansi, "auto")
    if progress in ("", "auto"):
        pass
    elif progress == "tty":
        if ansi == "never":
            raise errors.InvalidArgument("can't use --progress tty while ANSI support is disabled")
        chosen = "tty"
    elif progress == "plain":
        if ansi == "always":
            raise errors.InvalidArgument("can't use --progress plain while ANSI support is forced")
        chosen = "plain"
    elif progress in ("quiet", "none"):
        chosen = "quiet"
    elif progress == "json":
        chosen = "json"
    else:
        raise errors.InvalidArgument(f'unsupported --progress value "{progress}"')
    if chosen == "auto":
        chosen = "tty" if isatty else "plain"
    return chosen


def parse(line: str) -> tuple[str, str, str] | None:
    """A plain progress line as (ID, text, status), as v2's plain writer joined them
    (``Println(prefix, ID, Text, StatusText)``); None for a line that is no event."""
    body = line[1:] if line.startswith(" ") else line
    if "  " in body:
        ident, _, status = body.partition("  ")
        return (ident, "", status) if ident and status and "  " not in status else None
    words = body.split(" ")
    if len(words) >= 3 and words[0] in _KINDS:  # "Kind name Text " (a Text and no status)
        return " ".join(words[:2]), " ".join(words[2:]).rstrip(), ""
    if len(words) == 3 and words[2] == "":  # "service Text "
        return words[0], words[1], ""
    return None


def status_of(text: str) -> int:
    if text.startswith("Error"):
        return ERROR
    if text.endswith("ing") or text == "Recreate":
        return WORKING
    return DONE


_PERCENT_CHARS = "⠀⡀⣀⣄⣤⣦⣶⣷⣿"  # a child's share of its parent's bar, as v2's ttyWriter draws it


class _Event:
    def __init__(self, ident: str, text: str, status_text: str, parent: str = "") -> None:
        self.id, self.text, self.status_text, self.parent = ident, text, status_text, parent
        self.status = status_of(status_text or text)
        self.start = time.monotonic()
        self.end = self.start
        self.current = self.total = self.percent = 0

    def update(self, text: str, status_text: str) -> None:
        status = status_of(status_text or text)
        if status != WORKING and self.status != status:
            self.end = time.monotonic()
        self.status, self.text, self.status_text = status, text, status_text


class Progress:
    """A callable taking plain progress lines; ``close()`` ends it (the last frame, then the
    messages that were no events)."""

    def __init__(self, mode: str, title: str = "Running", dry_run: bool = False, color: bool = True,
                 out: TextIO | None = None) -> None:
        self.mode, self.title, self.dry_run, self.color = mode, title, dry_run, color
        self.out = out if out is not None else sys.stderr
        self.events: dict[str, _Event] = {}
        self.tail: list[str] = []
        self.lines = 0
        self.repeated = False
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.ticker: threading.Thread | None = None

    def __call__(self, line: str) -> None:
        if self.mode == "quiet":
            return
        if self.mode == "plain":
            self._write((DRYRUN_PREFIX + line if self.dry_run else line) + "\n")
            return
        event = parse(line)
        if self.mode == "json":
            import json

            head = {"dry-run": True} if self.dry_run else {}
            if event is None:
                self._write(json.dumps({**head, "tail": True, "text": line.strip()}, separators=(",", ":")) + "\n")
            else:
                msg = {"id": event[0], "text": event[1], "status": event[2]}
                self._write(json.dumps({**head, **{k: v for k, v in msg.items() if v}}, separators=(",", ":")) + "\n")
            return
        with self.lock:
            if event is None:
                self.tail.append((DRYRUN_PREFIX + line).strip() if self.dry_run else line)
            elif event[0] in self.events:
                self.events[event[0]].update(event[1], event[2])
            else:
                self.events[event[0]] = _Event(*event)
        if self.ticker is None:
            self.ticker = threading.Thread(target=self._tick, daemon=True)
            self.ticker.start()

    def event(self, ident: str, text: str, details: str, parent: str, done: bool, current: int = 0, total: int = 0,
              percent: int = 0) -> None:
        """A child event (a layer of an image being pulled, ``parent`` its service), as v2's
        ``toPullProgressEvent``: a line in plain mode, an object with ``parent_id`` in json, in tty
        a share of the parent's bar (and counted in the summary)."""
        if self.mode in ("quiet", "plain"):
            self(f" {ident} {text} {details}")
            return
        if self.mode == "json":
            import json

            msg = {"dry-run": self.dry_run, "id": ident, "parent_id": parent, "text": text, "status": details,
                   "current": current, "total": total, "percent": percent}
            line = json.dumps({k: v for k, v in msg.items() if v}, separators=(",", ":"))
            for char, escaped in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e")):  # as Go's encoder
                line = line.replace(char, escaped)
            self._write(line + "\n")
            return
        with self.lock:
            e = self.events.get(ident)
            if e is None:
                e = self.events[ident] = _Event(ident, text, details, parent)
            e.update(text, details)
            e.status = DONE if done else WORKING
            e.current, e.total, e.percent = current or e.current, total or e.total, percent

    def close(self) -> None:
        """The last frame and the messages; later lines print plain (once only in tty mode)."""
        if self.mode != "tty":
            return
        self.stopped.set()
        if self.ticker is not None:
            self.ticker.join()
        self.print()
        with self.lock:
            for msg in self.tail:
                self._write(msg + "\n")
            self.tail = []
            self.mode = "plain"

    def _tick(self) -> None:
        while not self.stopped.wait(0.1):
            self.print()

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()

    def _c(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color else text

    def print(self) -> None:
        """One frame, as v2's ttyWriter.print: up over the last frame, the summary, each line."""
        with self.lock:
            if not self.events:
                return
            width = _terminal_width()
            head = "\x1b[1A" * (self.lines + 1) + ("" if self.repeated else "\x1b[1B") + "\x1b[0G\x1b[?25l"
            self.repeated = True
            every = list(self.events.values())
            done = sum(1 for e in every if e.status != WORKING)
            first = f"[+] {self.title} {done}/{len(every)}"
            events = [e for e in every if not e.parent]  # children show in their parent's line
            if self.lines and done == self.lines:  # v2 compares with the lines shown, children not among them
                first = self._c("34", first)
            pad_to = 0
            for e in every:  # v2's statusPadding: a child's text counts, less two for each child
                pad_to = max(pad_to, len(f"{e.id} {e.text}")) - (2 if e.parent else 0)
            frame = [head, first, "\n", *(self._line(e, pad_to, width, self._children(e, every)) for e in events)]
            frame += [" " * max(width, 0) + "\n" for _ in range(len(events), self.lines)]
            self.lines = max(len(events), self.lines)
            self._write("".join(frame) + "\x1b[?25h")

    def _children(self, e: _Event, every: list[_Event]) -> str:
        """A working parent's bar of its children and their bytes: ``[⣿⣤] 1.2MB / 3.4MB``."""
        children = [c for c in every if c.parent == e.id]
        if not children or e.status != WORKING:
            return ""
        from dockyard.cli.format import human_size

        bar = "".join(_PERCENT_CHARS[(len(_PERCENT_CHARS) - 1) * min(c.percent, 100) // 100] for c in children)
        current, total = sum(c.current for c in children), sum(c.total for c in children)
        sizes = f" {human_size(current, 4):>7} / {human_size(total, 4):<7}" if total > 0 else ""
        return f"[{self._c('32', bar)}]{sizes}"

    def _line(self, e: _Event, pad_to: int, width: int, children: str = "") -> str:
        now = time.monotonic()
        elapsed = (now if e.status == WORKING else e.end) - e.start
        spinner = {DONE: self._c("32", "✔"), WARNING: self._c("33;1", "!"), ERROR: self._c("31;1", "✘")}.get(
            e.status) or self._c("33", _SPINNER[int(elapsed * 10) % len(_SPINNER)])
        colored = {DONE: "32", WARNING: "33;1", ERROR: "31;1"}.get(e.status)
        txt = f"{e.id} {children} {e.text}" if children else f"{e.id} {e.text}"
        status = e.status_text
        room = width - len(txt) - pad_to - 15
        if room > 0 and len(status) > room:
            status = status[:room] + "..."
        prefix = self._c("36", DRYRUN_PREFIX) if self.dry_run else ""
        left = f" {spinner}{prefix} {txt}{' ' * max(pad_to - len(txt), 0)} " + (
            self._c(colored, status) if colored else status)
        timer = self._c("34", f"{elapsed:.1f}s ")
        gap = width - _visible(left) - _visible(timer)
        return left + " " * max(gap, 0) + timer + "\n"


def _visible(s: str) -> int:
    """Characters a terminal shows of ``s`` (ANSI color sequences left out), as v2's lenAnsi."""
    n, code = 0, False
    for ch in s:
        if ch == "\x1b":
            code = True
        elif code and ch == "m":
            code = False
        elif not code:
            n += 1
    return n


def _terminal_width() -> int:
    try:
        return os.get_terminal_size(sys.stdout.fileno()).columns
    except (OSError, ValueError):
        return 0
