"""``compose watch``: a service's ``develop.watch`` triggers acted on as files change.

Changes are found by **polling**: every ``interval`` seconds each trigger's path is walked and
every file's (mtime in ns, size) compared with the walk before (no inotify: a walk of a source
tree is a few ms, it works for bind-mounted and network file systems, and it needs no ctypes).
``ignore`` and ``include`` are globs matched against the path relative to the trigger's path
and against the file's name. Actions:

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
from typing import Any

from dockyard.compose.ops import Compose

Snapshot = dict[str, tuple[int, int]]


def watched(cp: Compose, services: list[str] | None) -> list[tuple[str, dict[str, Any]]]:
    p = cp._project()
    out = []
    for name in services or list(p.services):
        for trigger in ((p.services[name].get("develop") or {}).get("watch") or []):
            out.append((name, trigger))
    return out


def _matches(rel: str, patterns: list[str]) -> bool:
    base = rel.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatch(rel, pat) or fnmatch.fnmatch(base, pat) or rel.startswith(pat.rstrip("/") + "/")
               for pat in patterns)


def snapshot(trigger: dict[str, Any]) -> Snapshot:
    root = trigger["path"]
    ignore, include = trigger.get("ignore") or [], trigger.get("include") or []
    if os.path.isfile(root):
        st = os.stat(root)
        return {"": (st.st_mtime_ns, st.st_size)}
    out: Snapshot = {}
    for top, dirs, files in os.walk(root):
        rel_top = os.path.relpath(top, root)
        dirs[:] = [d for d in dirs if not _matches(os.path.normpath(os.path.join(rel_top, d)), ignore)]
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
    def __init__(self, cp: Compose, services: list[str] | None, interval: float = 0.3) -> None:
        self.cp = cp
        self.triggers = watched(cp, services)
        self.interval = interval
        if not self.triggers:
            from dockyard.compose.ops import ComposeFailure

            raise ComposeFailure("none of the selected services is configured for watch, consider setting "
                                 "a 'develop' section")

    def run(self, stop: threading.Event) -> None:
        seen = [snapshot(t) for _, t in self.triggers]
        self.cp.out("Watch enabled")
        while not stop.wait(self.interval):
            for i, (service, trigger) in enumerate(self.triggers):
                now = snapshot(trigger)
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
