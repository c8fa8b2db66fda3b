"""``compose watch``: a service's ``develop.watch`` triggers acted on as files change.

Changes are found with **inotify** (``compose/inotify.py``, ctypes): every directory of each
trigger's tree (``ignore``d ones left out) is watched, and the loop blocks on the inotify fd; an
event marks its trigger, and once events stop coming for ``settle`` seconds each marked trigger's
tree is walked and every file's (mtime in ns, size) compared with the walk before (new
directories are watched as that walk finds them). Where inotify is not there (no instances or
watches left) the tree is walked every ``interval`` seconds instead. ``ignore`` and ``include``
are globs matched against the path relative to the trigger's path and against the file's name.
Actions:

* ``sync``: changed files are copied into every running container of the service under
  ``target`` (``PUT /containers/{id}/archive``); deleted ones are removed there (``rm -rf``).
* ``sync+restart``: the same, then the containers restart.
* ``rebuild``: the image is built again and the service converged (``up --no-deps``).
"""

from __future__ import annotations

import fnmatch
import io
import os
import posixpath
import tarfile
import threading
from collections.abc import Callable, Iterator
from typing import Any

from dockyard.compose.inotify import IN_Q_OVERFLOW, Inotify, Unavailable
from dockyard.compose.ops import Compose

Snapshot = dict[str, tuple[int, int]]


def watched(cp: Compose, services: list[str] | None) -> list[tuple[str, dict[str, Any]]]:
    p = cp.need_project()
    out = []
    for name in services or list(p.services):
        for trigger in ((p.services[name].get("develop") or {}).get("watch") or []):
            out.append((name, trigger))
    return out


def _matches(rel: str, patterns: list[str]) -> bool:
    base = rel.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatch(rel, pat) or fnmatch.fnmatch(base, pat) or rel.startswith(pat.rstrip("/") + "/")
               for pat in patterns)


def _tree(root: str, ignore: list[str]) -> Iterator[tuple[str, str, list[str]]]:
    """``os.walk`` of ``root`` less the ignored directories: (directory, its path relative to ``root``,
    its files)."""
    for top, dirs, files in os.walk(root):
        rel_top = os.path.relpath(top, root)
        dirs[:] = [d for d in dirs if not _matches(os.path.normpath(os.path.join(rel_top, d)), ignore)]
        yield top, rel_top, files


def snapshot(trigger: dict[str, Any], on_dir: Callable[[str], None] | None = None) -> Snapshot:
    """Every file's (mtime in ns, size) of the trigger's tree; ``on_dir`` is called with each directory
    walked (for a path that is no directory: the one holding it)."""
    root = trigger["path"]
    ignore, include = trigger.get("ignore") or [], trigger.get("include") or []
    if on_dir is not None and not os.path.isdir(root):
        on_dir(os.path.dirname(root) or ".")
    if os.path.isfile(root):
        st = os.stat(root)
        return {"": (st.st_mtime_ns, st.st_size)}
    out: Snapshot = {}
    for top, rel_top, files in _tree(root, ignore):
        if on_dir is not None:
            on_dir(top)
        for f in files:
            rel = os.path.normpath(os.path.join(rel_top, f))
            if _matches(rel, ignore) or (include and not _matches(rel, include)):
                continue
            try:
                st = os.stat(os.path.join(top, f))
            except FileNotFoundError:
                continue  # gone between the listing and the stat: the next walk says so
            out[rel] = (st.st_mtime_ns, st.st_size)
    return out


def diff(before: Snapshot, after: Snapshot) -> tuple[list[str], list[str]]:
    changed = sorted(k for k, v in after.items() if before.get(k) != v)
    return changed, sorted(k for k in before if k not in after)


class Watch:
    def __init__(self, cp: Compose, services: list[str] | None, interval: float = 0.3, settle: float = 0.1) -> None:
        self.cp = cp
        self.triggers = watched(cp, services)
        self.interval = interval
        self.settle = settle
        self.notify: Inotify | None = None
        self.mode = ""  # "inotify" or "polling", once running
        if not self.triggers:
            from dockyard.compose.ops import ComposeFailure

            raise ComposeFailure("none of the selected services is configured for watch, consider setting "
                                 "a 'develop' section")

    def wake(self) -> None:
        """Make ``run`` look at its stop event now (from a signal handler)."""
        if self.notify is not None:
            self.notify.wake()

    def run(self, stop: threading.Event) -> None:
        owners: dict[int, set[int]] = {}
        try:  # watched before the first walk: a change in between is seen by both (and acted on by neither)
            self.notify = Inotify()
            for i, (_, trigger) in enumerate(self.triggers):
                self._watch_tree(i, trigger, owners)
        except Unavailable:
            self._close()
        seen = [snapshot(t) for _, t in self.triggers]
        self.mode = "inotify" if self.notify is not None else "polling"
        self.cp.out("Watch enabled")
        try:
            if self.notify is None:
                while not stop.wait(self.interval):
                    self._compare(seen, range(len(self.triggers)))
                return
            while not stop.is_set():
                marked = self._changed(owners, self.notify.read(1.0), stop)
                if marked:  # the walk that compares also watches the directories made since
                    self._compare(seen, sorted(marked), owners)
        finally:
            self._close()

    def _close(self) -> None:
        if self.notify is not None:
            self.notify.close()
            self.notify = None

    def _changed(self, owners: dict[int, set[int]], events: list[tuple[int, int, str]],
                 stop: threading.Event) -> set[int]:
        """The triggers ``events`` and those following within ``settle`` seconds of each other touch."""
        assert self.notify is not None
        marked: set[int] = set()
        while events and not stop.is_set():
            for wd, mask, _ in events:
                if mask & IN_Q_OVERFLOW:
                    marked.update(range(len(self.triggers)))
                marked.update(owners.get(wd, ()))
            events = self.notify.read(self.settle)
        return marked

    def _watch_tree(self, i: int, trigger: dict[str, Any], owners: dict[int, set[int]]) -> None:
        """Watch every directory of trigger ``i`` (for a file: the directory holding it), noting in
        ``owners`` each watch descriptor with the triggers it serves."""
        watch = self._watcher(i, owners)
        root = trigger["path"]
        if not os.path.isdir(root):
            watch(os.path.dirname(root) or ".")
        for top, _, _ in _tree(root, trigger.get("ignore") or []):
            watch(top)

    def _watcher(self, i: int, owners: dict[int, set[int]]) -> Callable[[str], None]:
        """What watches a directory of trigger ``i``, its watch descriptor noted in ``owners``."""
        notify = self.notify
        assert notify is not None

        def watch(directory: str) -> None:
            wd = notify.add(directory)
            if wd is not None:
                owners.setdefault(wd, set()).add(i)
        return watch

    def _compare(self, seen: list[Snapshot], which: Any, owners: dict[int, set[int]] | None = None) -> None:
        """Walk the triggers ``which`` and act on what changed; with ``owners``, each directory walked
        is watched too."""
        for i in which:
            service, trigger = self.triggers[i]
            now = snapshot(trigger, None if owners is None else self._watcher(i, owners))
            changed, deleted = diff(seen[i], now)
            seen[i] = now
            if changed or deleted:
                self.act(service, trigger, changed, deleted)

    def act(self, service: str, trigger: dict[str, Any], changed: list[str], deleted: list[str]) -> None:
        action = trigger.get("action", "sync")
        if action == "rebuild":
            self.cp.out(f"Rebuilding service {service!r} after changes were detected...")
            self.cp.build(service)
            self.cp.up([service], no_deps=True)
            return
        self.cp.out(f"Syncing service {service!r} after {len(changed) + len(deleted)} changes were detected")
        running = [c for c in self.cp.containers(service, all=False)]
        for c in running:
            self.sync(c["Id"], trigger, changed, deleted)
        if action == "sync+restart":
            for c in running:
                self.cp.c.request("POST", f"/containers/{c['Id']}/restart").read()
            self.cp.out(f"Restarted service {service!r}")

    def sync(self, cid: str, trigger: dict[str, Any], changed: list[str], deleted: list[str]) -> None:
        target = trigger["target"]
        if changed:
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w") as tar:
                for rel in changed:
                    src = trigger["path"] if rel == "" else os.path.join(trigger["path"], rel)
                    if os.path.exists(src):
                        tar.add(src, arcname=_inside(target, rel).lstrip("/"), recursive=False)
            self.cp.c.request("PUT", f"/containers/{cid}/archive", {"path": "/"}, body=buf.getvalue()).read()
        if deleted:
            argv = ["rm", "-rf", *(_inside(target, rel) for rel in deleted)]
            eid = self.cp.c.json("POST", f"/containers/{cid}/exec",
                                 body={"Cmd": argv, "AttachStdout": False, "AttachStderr": False})["Id"]
            self.cp.c.request("POST", f"/exec/{eid}/start", body={"Detach": True}).read()


def _inside(target: str, rel: str) -> str:
    return target if rel == "" else posixpath.join(target, rel.replace(os.sep, "/"))
