"""The engine's container records in SQLite (engine/store.py): typed ``Container`` records kept as
Docker's inspect JSON, so what the store held before the records were typed loads as it was."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard import errors
from dockyard.engine.container import Container
from dockyard.engine.store import ContainerStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ContainerStore]:
    s = ContainerStore(tmp_path / "sub" / "engine.db")
    yield s
    s.close()


def _c(id: str, name: str, **fields: Any) -> Container:
    return Container({"Id": id, "Name": f"/{name}", **fields})


def test_insert_then_all_in_insertion_order(store: ContainerStore) -> None:
    store.insert(_c("b" * 64, "second", RestartCount=1))
    store.insert(_c("a" * 64, "first", Mounts=[{"Type": "volume", "Name": "x"}]))
    got = store.all()
    assert [(c.id, c.name) for c in got] == [("b" * 64, "/second"), ("a" * 64, "/first")]
    assert got[0].restart_count == 1 and got[1].mounts == [{"Type": "volume", "Name": "x"}]


def test_update_replaces_the_record(store: ContainerStore) -> None:
    c = _c("a" * 64, "web")
    store.insert(c)
    c.state.started(42)
    c.name = "/renamed"
    store.update(c)
    (got,) = store.all()
    assert (got.state.status, got.state.pid, got.name) == ("running", 42, "/renamed")


def test_delete_removes_and_frees_the_name(store: ContainerStore) -> None:
    store.insert(_c("a" * 64, "web"))
    store.delete("a" * 64)
    assert store.all() == []
    store.insert(_c("b" * 64, "web"))
    assert [c.id for c in store.all()] == ["b" * 64]


def test_a_taken_name_is_a_conflict_with_dockers_message(store: ContainerStore) -> None:
    store.insert(_c("a" * 64, "web"))
    with pytest.raises(errors.Conflict) as info:
        store.insert(_c("b" * 64, "web"))
    assert str(info.value) == (
        f'Conflict. The container name "/web" is already in use by container "{"a" * 64}". '
        "You have to remove (or rename) that container to be able to reuse that name.")
    assert len(store.all()) == 1


def test_a_duplicate_id_already_exists(store: ContainerStore) -> None:
    store.insert(_c("a" * 64, "one"))
    with pytest.raises(errors.AlreadyExists):
        store.insert(_c("a" * 64, "two"))


def test_records_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "engine.db"
    s = ContainerStore(path)
    s.insert(_c("a" * 64, "web"))
    s.close()
    again = ContainerStore(path)
    try:
        assert [(c.id, c.name) for c in again.all()] == [("a" * 64, "/web")]
    finally:
        again.close()


# A row as the engine stored it before the records were typed (session 6's new_record after a run of
# `docker run -d --name old --restart on-failure:3 -p 80 busybox top` stopped by the user), with a
# field from a newer API and a Config field the client sent that the engine does not know.
OLD_ROW = {
    "Id": "c" * 64, "Created": "2026-12-01T10:00:00.000000Z", "Path": "top", "Args": [],
    "State": {"Status": "exited", "Running": False, "Paused": False, "Restarting": False, "OOMKilled": False,
              "Dead": False, "Pid": 0, "ExitCode": 143, "Error": "", "StartedAt": "2026-12-01T10:00:01.000000Z",
              "FinishedAt": "2026-12-01T10:05:00.000000Z",
              "Health": {"Status": "healthy", "FailingStreak": 0, "Log": []}},
    "Image": "sha256:" + "1" * 64, "ResolvConfPath": "/r", "HostnamePath": "/h", "HostsPath": "/hs",
    "LogPath": "/l.log", "Name": "/old", "RestartCount": 2, "Driver": "overlayfs", "Platform": "linux",
    "MountLabel": "", "ProcessLabel": "", "AppArmorProfile": "", "ExecIDs": None,
    "HostConfig": {"NetworkMode": "default", "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": ""}]},
                   "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3}, "AutoRemove": False,
                   "LogConfig": {"Type": "json-file", "Config": {}}, "Runtime": "runc", "PidsLimit": None,
                   "SomeFutureHostField": {"x": 1}},
    "GraphDriver": {"Name": "overlayfs", "Data": None}, "Mounts": [],
    "Config": {"Hostname": "cccccccccccc", "Image": "busybox", "Cmd": ["top"], "Entrypoint": None, "Tty": False,
               "Env": ["PATH=/bin"], "Labels": {"a": "b"}, "StopSignal": "SIGTERM", "ExposedPorts": {"80/tcp": {}},
               "ClientOnlyField": True},
    "NetworkSettings": {"Bridge": "", "SandboxID": "s", "Ports": {}, "Networks": {"bridge": {"IPAddress": ""}}},
    "HasBeenManuallyStopped": True,
}


def _old_db(path: Path) -> None:
    """An engine.db as the previous code wrote it (its schema, one JSON row)."""
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE containers (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, data TEXT NOT NULL)")
    db.execute("INSERT INTO containers VALUES (?,?,?)", ("c" * 64, "old", json.dumps(OLD_ROW)))
    db.commit()
    db.close()


def test_a_container_stored_by_the_previous_code_loads_typed_and_saves_back_the_same(tmp_path: Path) -> None:
    path = tmp_path / "engine.db"
    _old_db(path)
    s = ContainerStore(path)
    try:
        (c,) = s.all()
        assert (c.id, c.name, c.short_name, c.restart_count, c.log_path) == ("c" * 64, "/old", "old", 2, "/l.log")
        assert (c.state.status, c.state.exit_code, c.state.ever_started, c.state.health_status) == \
            ("exited", 143, True, "healthy")
        assert c.config.cmd == ["top"] and c.config.labels == {"a": "b"} and c.config.entrypoint is None
        assert c.host_config.restart_policy_name == "on-failure" and c.host_config.port_bindings
        assert c.has_been_manually_stopped
        # what this engine does not know is kept, not dropped
        assert c.config.extra == {"ClientOnlyField": True}
        assert c.host_config.extra == {"SomeFutureHostField": {"x": 1}}
        s.update(c)  # saved again unchanged: the very same JSON, keys in the same order
        raw = s._db.execute("SELECT data FROM containers").fetchone()[0]
        assert json.loads(raw) == OLD_ROW and list(json.loads(raw)) == list(OLD_ROW)
        assert list(json.loads(raw)["Config"]) == list(OLD_ROW["Config"])
    finally:
        s.close()
