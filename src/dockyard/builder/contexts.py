"""Build contexts kept between builds, so a rebuild sends only the files that changed.

The classic ``POST /build`` carries the whole context as a tar every time: 20 MB sent,
received and parsed again for a one-line change. BuildKit avoids that by syncing the context
directory into the daemon file by file. ``dockyard build`` does the same in two requests:

1. ``POST /build/context`` with a *session key* (the client's host, context directory and
   Dockerfile, hashed) and the manifest of the context's regular files: name, size, mtime and
   ctime (nanoseconds), inode, device, mode, owner. The daemon compares it with the manifest
   of the last context it assembled for that key and answers the names it needs, with a token.
2. ``POST /build`` with the token and a tar that holds every entry except the regular files
   the daemon did not ask for; those are taken from the kept context.

A file is reused only when every field of its manifest line is unchanged; ctime moves on any
write, chmod or chown and cannot be set back by a user, so a changed file is never mistaken
for an old one (git's index relies on the same). Contexts are kept on disk (their
``ContextDir``; a reused file is hard-linked into the new build's directory), the most
recently used first, within a byte budget; a daemon restart or an eviction just means the
next build sends everything. The docker CLI, which knows nothing of this, always sends the
whole tar and is served as before.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from dockyard import errors
from dockyard.builder.context import Entry, FileTree, OnDisk


@dataclass
class _Kept:
    manifest: dict[str, tuple[Any, ...]]
    tree: FileTree
    size: int

    def release(self) -> None:
        if self.tree.store is not None:
            self.tree.store.release()


@dataclass
class _Pending:
    key: str
    manifest: dict[str, tuple[Any, ...]]
    base: _Kept | None
    reuse: set[str] = field(default_factory=set)
    created: float = field(default_factory=time.monotonic)


class ContextCache:
    """Session key -> the last assembled context; token -> a build between its two requests."""

    PENDING_TTL = 300.0  # seconds between the two requests before a token is forgotten

    def __init__(self, budget: int = 1 << 30, max_sessions: int = 16, max_entries: int = 200_000) -> None:
        self.budget = budget  # bytes on disk
        self.max_sessions = max_sessions
        self.max_entries = max_entries  # entries held in memory (their metadata) over all kept contexts
        self._kept: OrderedDict[str, _Kept] = OrderedDict()
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()

    def need(self, key: str, files: list[list[Any]]) -> tuple[str, list[str]]:
        """(token, the names of ``files`` the client must send)."""
        manifest: dict[str, tuple[Any, ...]] = {}
        for line in files:
            if not isinstance(line, list) or not line or not isinstance(line[0], str) or \
                    not all(isinstance(v, int) for v in line[1:]):
                raise errors.InvalidArgument("build context manifest: each file is [name, numbers...]")
            manifest[FileTree.norm(line[0])] = tuple(line[1:])
        with self._lock:
            self._expire()
            base = self._kept.get(key)
            if base is not None:
                self._kept.move_to_end(key)
            reuse = set() if base is None else {
                name for name, ident in manifest.items()
                if base.manifest.get(name) == ident and name in base.tree.entries
                and base.tree.entries[name].info.isreg()}
            if base is not None and base.tree.store is not None:
                base.tree.store.retain()  # its files stay until this build has linked them
            token = secrets.token_hex(16)
            self._pending[token] = _Pending(key, manifest, base, reuse)
        return token, sorted(name for name in manifest if name not in reuse)

    def assemble(self, token: str, tree: FileTree) -> FileTree:
        """``tree`` (what the second request sent) completed with the files the daemon kept;
        remembered as the session's context for the next build (the cache holds a reference
        to its directory: the caller still releases its own)."""
        with self._lock:
            pending = self._pending.pop(token, None)
        if pending is None:
            raise errors.InvalidArgument("unknown or expired build context token: send the whole context")
        try:
            for name in pending.reuse:
                if name in tree.entries:
                    continue  # sent anyway: what was sent wins
                assert pending.base is not None
                tree.entries[name] = _adopted(tree, pending.base.tree.entries[name])
        finally:
            if tree.store is not None:
                tree.store.seal()
            if pending.base is not None:
                pending.base.release()
        missing = [name for name in pending.manifest if name not in tree.entries]
        if missing:
            raise errors.InvalidArgument(f"the build context lacks {missing[0]!r}, which its manifest lists")
        size = tree.store.size if tree.store is not None else sum(len(e.data) for e in tree.entries.values())
        if tree.store is not None:
            tree.store.retain()
        with self._lock:
            old = self._kept.pop(pending.key, None)
            if old is not None:
                old.release()
            self._kept[pending.key] = _Kept(pending.manifest, tree, size)
            total = sum(k.size for k in self._kept.values())
            entries = sum(len(k.tree.entries) for k in self._kept.values())
            while self._kept and (total > self.budget or len(self._kept) > self.max_sessions
                                  or entries > self.max_entries):
                _, evicted = self._kept.popitem(last=False)
                total -= evicted.size
                entries -= len(evicted.tree.entries)
                evicted.release()
        return tree

    def _expire(self) -> None:
        now = time.monotonic()
        for token in [t for t, p in self._pending.items() if now - p.created > self.PENDING_TTL]:
            base = self._pending.pop(token).base
            if base is not None:
                base.release()


def _adopted(tree: FileTree, entry: Entry) -> Entry:
    """A kept context's entry for ``tree``: its file hard-linked into the tree's directory."""
    if tree.store is None or not isinstance(entry.data, OnDisk):
        return entry
    return Entry(entry.info, tree.store.adopt(entry.data), entry.ident)
