"""Networks, endpoints (address allocations) and the bridges we made, in SQLite under the data root.

Allocations are written before links are made, so after a crash or a restart
the manager can re-create exactly the addresses, rules and DNS records it had.
A bridge is recorded with its ifindex when a network creates it: only that
network deletes it, and only while the link of that name still has that index
(a host's own bridge, or one made again by someone else, is never ours).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from dockyard.sqlite import open_db

SCHEMA = """
CREATE TABLE IF NOT EXISTS networks (
    id   TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    data TEXT NOT NULL                  -- the network record as Docker shows it, JSON
);
CREATE TABLE IF NOT EXISTS endpoints (
    network_id   TEXT NOT NULL,
    container_id TEXT NOT NULL,
    ip           TEXT NOT NULL,
    data         TEXT NOT NULL,         -- endpoint settings, JSON
    PRIMARY KEY (network_id, container_id),
    UNIQUE (network_id, ip)
);
CREATE TABLE IF NOT EXISTS bridges (
    name       TEXT PRIMARY KEY,        -- interface name
    ifindex    INTEGER NOT NULL,        -- of the link we created
    network_id TEXT NOT NULL            -- the network that created it
);
"""


class NetworkStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # synchronous NORMAL, no fsync per endpoint: after a power loss no container runs, and
        # readopt drops dead endpoints anyway
        self._db = open_db(path, timeout=10.0)
        self._lock = threading.Lock()
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    def put_network(self, net: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO networks VALUES (?,?,?)", (net["Id"], net["Name"], json.dumps(net)))

    def delete_network(self, id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM networks WHERE id=?", (id,))
            self._db.execute("DELETE FROM endpoints WHERE network_id=?", (id,))

    def networks(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT data FROM networks ORDER BY rowid").fetchall()
        return [json.loads(r[0]) for r in rows]

    def put_bridge(self, name: str, ifindex: int, network_id: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO bridges VALUES (?,?,?)", (name, ifindex, network_id))

    def bridge(self, name: str) -> tuple[int, str] | None:
        """(ifindex, network id) of a bridge we created, or None."""
        with self._lock:
            row = self._db.execute("SELECT ifindex, network_id FROM bridges WHERE name=?", (name,)).fetchone()
        return (int(row[0]), str(row[1])) if row else None

    def delete_bridge(self, name: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM bridges WHERE name=?", (name,))

    def put_endpoint(self, network_id: str, container_id: str, ep: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO endpoints VALUES (?,?,?,?)",
                             (network_id, container_id, ep["IPAddress"], json.dumps(ep)))

    def delete_endpoint(self, network_id: str, container_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM endpoints WHERE network_id=? AND container_id=?", (network_id, container_id))

    def endpoints(self) -> list[tuple[str, str, dict[str, Any]]]:
        with self._lock:
            rows = self._db.execute("SELECT network_id, container_id, data FROM endpoints").fetchall()
        return [(n, c, json.loads(d)) for n, c, d in rows]
