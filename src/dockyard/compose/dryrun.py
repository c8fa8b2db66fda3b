"""``--dry-run``: the command runs as usual against the daemon's state, but only reads reach
the daemon; every change (create, start, stop, remove, pull, build, network and volume calls)
is announced and answered with a stand-in, as Compose v2's dry-run client does."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from dockyard import errors


class _Empty:
    sock = None

    def read(self, n: int = -1) -> bytes:
        return b""

    def read1(self, n: int = -1) -> bytes:
        return b""

    def __iter__(self) -> Iterator[bytes]:
        return iter(())

    def close(self) -> None:
        return None


class DryRunClient:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self._ids = itertools.count(1)

    def _reads(self, method: str) -> bool:
        return method in ("GET", "HEAD")

    def json(self, method: str, path: str, params: dict[str, Any] | None = None, body: Any = None) -> Any:
        if self._reads(method):
            try:
                return self.inner.json(method, path, params, body)
            except errors.NotFound:
                if path.startswith("/images/"):  # to be pulled or built: the run goes on with a stand-in
                    return {"Id": "sha256:" + "0" * 64}
                raise
        if path.endswith("/create") or path.endswith("/exec"):
            return {"Id": f"dryrun{next(self._ids):058x}"}
        return {}

    def request(self, method: str, path: str, params: dict[str, Any] | None = None, body: Any = None,
                headers: dict[str, str] | None = None) -> Any:
        if self._reads(method):
            return self.inner.request(method, path, params, body, headers)
        return _Empty()

    def json_stream(self, method: str, path: str, params: dict[str, Any] | None = None, body: Any = None,
                    headers: dict[str, str] | None = None) -> Iterator[dict[str, Any]]:
        if self._reads(method):
            return self.inner.json_stream(method, path, params, body, headers)  # type: ignore[no-any-return]
        return iter(())

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
