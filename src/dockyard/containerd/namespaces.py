"""Namespaces: many clients share one containerd without seeing each other's objects.

The namespace travels in the gRPC metadata key ``dockyard-namespace``. Metadata
rows carry it as a column; snapshot keys are prefixed with it, so two namespaces
may both have a snapshot called ``mycontainer``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from dockyard import errors
from dockyard.containerd.snapshots.snapshotter import Snapshotter
from dockyard.types import Mount

METADATA_KEY = "dockyard-namespace"
DEFAULT = "default"
_VALID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,75}$")


def validate(namespace: str) -> str:
    if not _VALID.fullmatch(namespace):
        raise errors.InvalidArgument(f"namespace {namespace!r}: invalid name")
    return namespace


class NamespacedSnapshotter:
    """A view of a snapshotter in which every key and parent lives under ``<namespace>/``."""

    def __init__(self, inner: Snapshotter, namespace: str) -> None:
        self.inner = inner
        self.prefix = validate(namespace) + "/"

    def _k(self, key: str) -> str:
        return self.prefix + key if key else ""

    def prepare(self, key: str, parent: str = "", labels: Mapping[str, str] | None = None) -> list[Mount]:
        return self.inner.prepare(self._k(key), self._k(parent), labels)

    def view(self, key: str, parent: str, labels: Mapping[str, str] | None = None) -> list[Mount]:
        return self.inner.view(self._k(key), self._k(parent), labels)

    def mounts(self, key: str) -> list[Mount]:
        return self.inner.mounts(self._k(key))

    def commit(self, name: str, key: str, labels: Mapping[str, str] | None = None, *,
               parent: str | None = None) -> None:
        if parent:
            self.inner.commit(self._k(name), self._k(key), labels, parent=self._k(parent))  # type: ignore[call-arg]
        else:
            self.inner.commit(self._k(name), self._k(key), labels)

    @property
    def rebase(self) -> bool:
        return bool(getattr(self.inner, "rebase", False))

    def stat(self, key: str):  # type: ignore[no-untyped-def]
        return self.inner.stat(self._k(key))

    def remove(self, key: str) -> None:
        self.inner.remove(self._k(key))

    def usage(self, key: str):  # type: ignore[no-untyped-def]
        return self.inner.usage(self._k(key))

    def walk(self) -> Iterator[object]:
        for info in self.inner.walk():
            if getattr(info, "name", "").startswith(self.prefix):
                yield info
