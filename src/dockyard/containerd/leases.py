"""Named leases: client-created holds on blobs and snapshots, kept across restarts.

The GC's roots include every live lease. Operations inside the daemon (a pull,
an import) hold unnamed, in-memory leases for their duration; a client (the
builder between steps, a tool assembling an image from blobs) creates a named
lease that outlives its calls, optionally with an expiry so a client that dies
cannot pin data forever. Named leases are saved to one JSON file (atomically
replaced), so a restart of dockyard-containerd does not let the GC take what a
client was promised.
"""

from __future__ import annotations

import builtins  # LeaseManager.list shadows the builtin in the class body
import json
import os
import threading
import time
import uuid
from pathlib import Path

from dockyard import errors
from dockyard.containerd.remotes.pull import Lease


class LeaseManager:
    """Named leases plus the transient ones of operations in progress; GC asks ``live()``."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._named: dict[str, Lease] = {}
        self.transient: dict[str, Lease] = {}
        try:
            for d in json.loads(path.read_text()):
                lease = Lease(set(d["digests"]), set(d["snapshots"]), d["id"], dict(d["labels"]), int(d["created_at"]),
                              int(d["expires_at"]))
                self._named[lease.id] = lease
        except FileNotFoundError:
            pass
        except (ValueError, KeyError, TypeError) as err:
            raise errors.Internal(f"leases file {path}: {err}") from err

    def _save(self) -> None:
        tmp = self._path.with_name(self._path.name + ".tmp")
        data = [{"id": x.id, "labels": x.labels, "created_at": x.created_at, "expires_at": x.expires_at,
                 "digests": sorted(x.digests), "snapshots": sorted(x.snapshots)} for x in self._named.values()]
        with open(tmp, "w") as f:
            json.dump(data, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self._path)

    def _drop_expired(self) -> None:
        now = time.time_ns()
        gone = [k for k, v in self._named.items() if v.expired(now)]
        for k in gone:
            del self._named[k]
        if gone:
            self._save()

    def create(self, lease_id: str = "", labels: dict[str, str] | None = None, expire_seconds: int = 0) -> Lease:
        if expire_seconds < 0:
            raise errors.InvalidArgument(f"lease: negative expiry {expire_seconds}")
        with self._lock:
            self._drop_expired()
            lease_id = lease_id or uuid.uuid4().hex
            if lease_id in self._named:
                raise errors.AlreadyExists(f'lease "{lease_id}": already exists')
            now = time.time_ns()
            lease = Lease(id=lease_id, labels=dict(labels or {}), created_at=now,
                          expires_at=now + expire_seconds * 1_000_000_000 if expire_seconds else 0)
            self._named[lease_id] = lease
            self._save()
            return lease

    def get(self, lease_id: str) -> Lease:
        with self._lock:
            self._drop_expired()
            try:
                return self._named[lease_id]
            except KeyError:
                raise errors.NotFound(f'lease "{lease_id}": not found') from None

    def delete(self, lease_id: str) -> None:
        with self._lock:
            if self._named.pop(lease_id, None) is None:
                raise errors.NotFound(f'lease "{lease_id}": not found')
            self._save()

    def list(self) -> list[Lease]:
        with self._lock:
            self._drop_expired()
            return sorted(self._named.values(), key=lambda x: x.created_at)

    def add(self, lease_id: str, digests: set[str] = frozenset(), snapshots: set[str] = frozenset()) -> Lease:  # type: ignore[assignment]
        with self._lock:
            self._drop_expired()
            lease = self._named.get(lease_id)
            if lease is None:
                raise errors.NotFound(f'lease "{lease_id}": not found')
            lease.digests |= set(digests)
            lease.snapshots |= set(snapshots)
            self._save()
            return lease

    def save(self) -> None:
        """Persist resources a running operation added to a named lease."""
        with self._lock:
            self._save()

    def live(self) -> builtins.list[Lease]:
        """Every lease that holds something now: transient ones and unexpired named ones."""
        with self._lock:
            self._drop_expired()
            return [*self.transient.values(), *self._named.values()]
