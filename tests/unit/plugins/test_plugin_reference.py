"""Plugin references on Docker Hub-style names, as dockerd normalises them (ParseNormalizedNamed):
``vieux/sshfs`` is pulled from ``docker.io/vieux/sshfs:latest`` and kept as ``vieux/sshfs:latest``.
Nothing here reaches Docker Hub: the pull goes to a local registry standing in for it, and the error
of an unreachable Hub is made by refusing the connection in-process (after noting where it went)."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard import errors
from dockyard.oci import registryhost
from dockyard.plugins import distribution
from dockyard.plugins.discovery import PluginRegistry
from dockyard.plugins.managed import ManagedPlugins, full_name, remote_ref

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "registry"))
from dockyard_regkit import Server  # noqa: E402

DIGEST = "sha256:" + "ab" * 32
CONFIG = {"Description": "stand-in for vieux/sshfs", "Entrypoint": ["/bin/true"],
          "Interface": {"Types": ["docker.volumedriver/1.0"], "Socket": "sshfs.sock"}}


@pytest.mark.parametrize(("given", "local", "remote"), [
    ("vieux/sshfs", "vieux/sshfs:latest", "docker.io/vieux/sshfs:latest"),
    ("vieux/sshfs:next", "vieux/sshfs:next", "docker.io/vieux/sshfs:next"),
    ("docker.io/vieux/sshfs", "vieux/sshfs:latest", "docker.io/vieux/sshfs:latest"),
    ("sshfs", "sshfs:latest", "docker.io/library/sshfs:latest"),
    ("docker.io/library/sshfs:1", "sshfs:1", "docker.io/library/sshfs:1"),
    ("127.0.0.1:5000/vieux/sshfs", "127.0.0.1:5000/vieux/sshfs:latest", "127.0.0.1:5000/vieux/sshfs:latest"),
    ("localhost/p:v2", "localhost/p:v2", "localhost/p:v2"),
])
def test_names_and_references(given: str, local: str, remote: str) -> None:
    assert full_name(given) == local
    assert remote_ref(given) == remote


def test_digests_and_bad_names() -> None:
    assert remote_ref(f"vieux/sshfs:1@{DIGEST}") == f"docker.io/vieux/sshfs@{DIGEST}"  # the tag goes, as dockerd
    with pytest.raises(errors.InvalidArgument, match="cannot use digest in plugin tag"):
        full_name(f"vieux/sshfs@{DIGEST}")
    for bad in ("Vieux/SSHFS", "vieux/sshfs:", "-x"):
        with pytest.raises(errors.InvalidArgument, match="invalid reference format"):
            remote_ref(bad)


@pytest.fixture
def plugins(tmp_path: Path) -> ManagedPlugins:
    return ManagedPlugins(tmp_path / "plugins", tmp_path / "run", "dockyard-test", PluginRegistry([], []))


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A local registry holding a plugin at vieux/sshfs:latest, standing in for Docker Hub."""
    s = Server(tmp_path / "registry").start()
    try:
        rootfs = tmp_path / "rootfs"
        rootfs.mkdir()
        (rootfs / "marker").write_text("sshfs stand-in")
        distribution.push(f"{s.addr}/vieux/sshfs:latest", rootfs, CONFIG)
        monkeypatch.setattr(registryhost, "DOCKER_HUB_HOST", str(s.addr))
        yield str(s.addr)
    finally:
        s.stop()


def test_hub_style_name_pulled_and_found(plugins: ManagedPlugins, hub: str) -> None:
    messages: list[dict[str, Any]] = []
    plugins.pull("vieux/sshfs", "", None, None, messages.append)
    [p] = plugins.list()
    assert (p["Name"], p["PluginReference"]) == ("vieux/sshfs:latest", "docker.io/vieux/sshfs:latest")
    assert messages[-1] == {"status": "Status: Downloaded newer image for docker.io/vieux/sshfs:latest"}
    for ref in ("vieux/sshfs", "vieux/sshfs:latest", "docker.io/vieux/sshfs", "docker.io/vieux/sshfs:latest"):
        assert plugins.get(ref)["Id"] == p["Id"]
    with pytest.raises(errors.NotFound):
        plugins.get("library/sshfs")
    with pytest.raises(errors.AlreadyExists):
        plugins.pull("docker.io/vieux/sshfs:latest", "", None)
    plugins.upgrade("vieux/sshfs", "docker.io/vieux/sshfs", None)
    assert plugins.get("vieux/sshfs")["PluginReference"] == "docker.io/vieux/sshfs:latest"


def test_unreachable_hub_is_a_clear_error_and_leaves_nothing(plugins: ManagedPlugins,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Without network the Hub cannot be reached: the connection it would open (TLS to registry-1.docker.io)
    is refused in-process, the pull fails with the host named, and nothing of it is kept."""
    asked: list[tuple[str, int]] = []

    def refuse(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        asked.append(address)
        raise OSError(101, "Network is unreachable")
    monkeypatch.setattr(socket, "create_connection", refuse)
    with pytest.raises(errors.Unavailable, match=r"registry registry-1\.docker\.io: \[Errno 101\] Network is unreachable"):
        plugins.pull("vieux/sshfs", "", [])
    assert asked == [("registry-1.docker.io", 443)]
    assert plugins.list() == []
    left = sorted(p.name for p in plugins.root.iterdir()) if plugins.root.exists() else []
    assert left in ([], ["plugins.json"])


def test_plugin_registry_on_insecure_list_is_plain_http() -> None:
    reg, ref = distribution._registry("reg.example:5000/vieux/sshfs:1", None, ["reg.example:5000"])
    assert (reg.host, reg.secure, ref) == ("reg.example:5000", False, "1")
    hub, _ = distribution._registry("docker.io/vieux/sshfs:latest", None, [])
    assert (hub.host, hub.secure) == ("registry-1.docker.io", True)
