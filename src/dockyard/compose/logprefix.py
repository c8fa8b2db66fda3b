"""Log lines' prefixes as Compose v2's log consumer writes them (``logs``, attached ``up``).

A container is shown by its name without ``<project>-`` when that is its default name
(``web-1``; a ``container_name`` or a one-off keeps its whole name), a hook's output by
``web-1 ->``; every prefix is padded to one more than the longest name, then `` | ``, colored
per container (a hook as its container) when asked.
"""

from __future__ import annotations

from dockyard.compose import engine as E

TYPE_CHECKING = False  # typing imports re: ~3 ms of every command's start
if TYPE_CHECKING:
    from typing import Any

COLORS = ("36", "33", "32", "35", "34", "96", "93", "92", "95", "94")
RESET_LINE = "\r\x1b[K"  # goterm.RESET_LINE, before v2's "exited with code" lines


def short_name(c: dict[str, Any]) -> str:
    labels = c.get("Labels") or {}
    name = str(c["Names"][0]).lstrip("/")
    project = labels.get(E.PROJECT, "")
    default = f"{project}-{labels.get(E.SERVICE, '')}-{labels.get(E.NUMBER, '')}"
    return name[len(project) + 1:] if project and name == default else name


class Prefixes:
    def __init__(self, containers: list[dict[str, Any]], color: bool, bare: bool = False,
                 hooks: list[str] | None = None) -> None:
        """``hooks``: the names (full) of containers whose hooks' output is shown too."""
        self.short = {str(c["Names"][0]).lstrip("/"): short_name(c) for c in containers}
        self.order = list(self.short.values())
        shown = [*self.order, *(self.short.get(h, h) + " ->" for h in hooks or [])]
        self.width = max((len(n) for n in shown), default=0) + 1
        self.color, self.bare = color, bare

    def _paint(self, root: str, text: str) -> str:
        if not self.color:
            return text
        code = COLORS[self.order.index(root) % len(COLORS)] if root in self.order else "0"
        return f"\x1b[{code}m{text}\x1b[0m"

    def __call__(self, name: str, hook: bool = False) -> str:
        """The prefix of a line of container ``name`` (its full name), or of its hook's output."""
        if self.bare:
            return ""
        root = self.short.get(name, name)
        shown = root + " ->" if hook else root
        return self._paint(root, f"{shown:<{self.width}} | ")

    def status(self, name: str, message: str) -> str:
        """A line about the container, as v2's ``Status``: ``web-1 exited with code 0``."""
        root = self.short.get(name, name)
        return self._paint(root, f"{RESET_LINE}{root} {message}")
