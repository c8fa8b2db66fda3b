"""Registry options: command-line flags over a config file (JSON, or TOML by extension).

Config file keys are the long flag names with underscores (``addr``, ``root``,
``tls_cert``, ``tls_key``, ``htpasswd``, ``token_realm``, ``token_service``,
``anonymous_pull``, ``read_only``, ``proxy_remote``, ``proxy_username``,
``proxy_password``) plus ``acl``: a list of ``{"account", "name", "actions"}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from dockyard.errors import InvalidArgument


@dataclass
class Config:
    addr: str = "127.0.0.1:5000"
    root: str = "/var/lib/dockyard/registry"
    tls_cert: str | None = None
    tls_key: str | None = None
    htpasswd: str | None = None
    token_realm: str | None = None
    token_service: str = "dockyard-registry"
    anonymous_pull: bool = False
    read_only: bool = False
    proxy_remote: str | None = None
    proxy_username: str | None = None
    proxy_password: str | None = None
    acl: list[dict[str, Any]] = field(default_factory=list)

    def host_port(self) -> tuple[str, int]:
        host, sep, port = self.addr.rpartition(":")
        if not sep or not port.isdigit():
            raise InvalidArgument(f"--addr {self.addr!r}: want HOST:PORT")
        return host.strip("[]") or "0.0.0.0", int(port)

    @property
    def scheme(self) -> str:
        return "https" if self.tls_cert else "http"


def load(path: str | None, overrides: dict[str, Any]) -> Config:
    """Read ``path`` (if any), then apply the flags the user actually gave (non-None)."""
    data: dict[str, Any] = {}
    if path:
        text = Path(path).read_text()
        if path.endswith(".toml"):
            import tomllib

            data = tomllib.loads(text)
        else:
            data = json.loads(text)
    known = {f.name for f in fields(Config)}
    unknown = set(data) - known
    if unknown:
        raise InvalidArgument(f"config {path}: unknown keys {sorted(unknown)}")
    data.update({k: v for k, v in overrides.items() if v is not None and k in known})
    return Config(**data)
