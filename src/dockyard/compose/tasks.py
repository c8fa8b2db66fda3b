"""Threads as tasks: ``Task(fn, *args)`` runs at once and ``result()`` joins it, raising what it
raised; ``each`` runs a function over items concurrently. What ``up`` and ``down`` use to work
along the dependency graph (``concurrent.futures`` would do, but its import, with ``logging``,
costs more of every command's start than the few lines here).
"""

from __future__ import annotations

import threading

TYPE_CHECKING = False  # typing imports re: ~3 ms of every command's start
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any


class Task:
    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn, args), daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            fn(*args)
        except BaseException as err:  # handed to whoever waits on the task
            self._error = err

    def result(self) -> None:
        self._thread.join()
        if self._error is not None:
            raise self._error


def each(fn: Callable[[Any], Any], items: Iterable[Any]) -> None:
    """``fn`` on every item at once; the first error (in the items' order) is raised after all ended."""
    tasks = [Task(fn, item) for item in items]
    first: BaseException | None = None
    for t in tasks:
        try:
            t.result()
        except BaseException as err:
            first = first or err
    if first is not None:
        raise first
