"""Registry options: command-line flags over a config file (JSON, or TOML by extension).

Config file keys are the long flag names with underscores (``addr``, ``root``,
``tls_cert``, ``tls_key``, ``htpasswd``, ``token_realm``, ``token_service``,
``anonymous_pull``, ``read_only``, ``proxy_remote``, ``proxy_username``,
``proxy_password``, ``upload_ttl``, ``sparse_manifests``) plus ``acl``: a list of ``{"account", "name", "actions"}``.

``upload_ttl`` is how long an upload session may sit idle before it and its
bytes are removed: seconds, or a number with ``s``, ``m`` or ``h`` (``"1h"``,
the default, as distribution's upload purging but counted from the last use).

An index is accepted whether its child manifests were pushed or not (a sparse index, as the
distribution spec allows); ``sparse_manifests`` also accepts an image manifest whose layers
are missing (its config must be there), for mirrors that copy one platform's or a few
layers' content only.
"""

from __future__ import annotations

import json
import re
import tomllib
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
    upload_ttl: float | str = "1h"
    sparse_manifests: bool = False  # accept image manifests whose layers were never pushed

    def host_port(self) -> tuple[str, int]:
        host, sep, port = self.addr.rpartition(":")
        if not sep or not port.isdigit():
            raise InvalidArgument(f"--addr {self.addr!r}: want HOST:PORT")
        return host.strip("[]") or "0.0.0.0", int(port)

    @property
    def scheme(self) -> str:
        return "https" if self.tls_cert else "http"


_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: float | str, what: str) -> float:
    """Seconds from ``90``, ``"90"``, ``"1.5m"`` or ``"1h"``; zero or less is refused."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", str(value))
    if m is None or float(m.group(1)) <= 0:
        raise InvalidArgument(f"{what} {value!r}: want a positive duration (e.g. 90s, 30m, 1h)")
    return float(m.group(1)) * _UNITS[m.group(2)]


def load(path: str | None, overrides: dict[str, Any]) -> Config:
    """Read ``path`` (if any), then apply the flags the user actually gave (non-None)."""
    data: dict[str, Any] = {}
    if path:
        text = Path(path).read_text()
        if path.endswith(".toml"):
            data = tomllib.loads(text)
        else:
            data = json.loads(text)
    known = {f.name for f in fields(Config)}
    unknown = set(data) - known
    if unknown:
        raise InvalidArgument(f"config {path}: unknown keys {sorted(unknown)}")
    data.update({k: v for k, v in overrides.items() if v is not None and k in known})
    return Config(**data)
