"""``--mount type=bind,readonly,bind-recursive=readonly`` (BindOptions.ReadOnlyForceRecursive): the
bind and every mount below it read-only, as Docker 25+ makes it with mount_setattr(2).

The canary is the host directory and its sub-mount: nothing written there.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.client.http import Client
from dockyard.errors import InvalidArgument
from tests.conftest import Daemon
from tests.integration.security.dockerkit import docker, name, ok
from tests.submounts import dir_with_tmpfs_sub

pytestmark = pytest.mark.root

_WRITE = "touch /m/top; echo top=$?; touch /m/sub/inner; echo sub=$?"


@pytest.fixture
def source() -> Iterator[Path]:
    with dir_with_tmpfs_sub() as top:
        yield top


def _run(daemon: Daemon, source: Path, bind_options: dict[str, bool]) -> list[str]:
    api = Client(daemon.host)
    n = name("rro")
    body = {"Image": "busybox", "Cmd": ["sh", "-c", _WRITE],
            "HostConfig": {"Mounts": [{"Type": "bind", "Source": str(source), "Target": "/m", "ReadOnly": True,
                                       "BindOptions": bind_options}]}}
    api.json("POST", "/containers/create", {"name": n}, body=body)
    try:
        ok(daemon, "start", n)
        assert ok(daemon, "wait", n).strip() == "0"
        return ok(daemon, "logs", n).split()
    finally:
        docker(daemon, "rm", "-f", n)


def test_force_recursive_read_only_bind(daemon: Daemon, source: Path) -> None:
    assert _run(daemon, source, {"ReadOnlyForceRecursive": True}) == ["top=1", "sub=1"]
    assert sorted(p.name for p in source.iterdir()) == ["sub"]
    assert list((source / "sub").iterdir()) == []


def test_plain_read_only_bind_is_recursive_unless_asked_not(daemon: Daemon, source: Path) -> None:
    """dockerd from API 1.44 (kernel 5.12+): ``ro`` is recursive; ReadOnlyNonRecursive keeps the old bind."""
    assert _run(daemon, source, {}) == ["top=1", "sub=1"]
    assert _run(daemon, source, {"ReadOnlyNonRecursive": True}) == ["top=1", "sub=0"]


def test_force_recursive_needs_read_only(daemon: Daemon, source: Path) -> None:
    with pytest.raises(InvalidArgument, match="ReadOnlyForceRecursive"):
        Client(daemon.host).json("POST", "/containers/create", body={
            "Image": "busybox", "HostConfig": {"Mounts": [{"Type": "bind", "Source": str(source), "Target": "/m",
                                                           "BindOptions": {"ReadOnlyForceRecursive": True}}]}})
