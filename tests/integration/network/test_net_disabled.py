"""Config.NetworkDisabled: dockerd makes no endpoint for the container (it keeps a network
namespace of its own holding only lo) and inspect lists no network."""

from __future__ import annotations

from pathlib import Path

from dockyard.client.http import Client
from tests.conftest import started_daemon


def test_network_disabled_container_has_only_loopback(busybox_tar: Path) -> None:
    with started_daemon(busybox_tar, bridge_prefix="dynd", subnet_base="10.224") as d:
        api = Client(d.host)
        ifaces = "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '"
        for disabled, expected in ((True, ["lo"]), (False, ["lo", "eth0"])):
            body = {"Image": "busybox", "Cmd": ["sh", "-c", ifaces], "NetworkDisabled": disabled}
            id = api.json("POST", "/containers/create", body=body)["Id"]
            try:
                api.request("POST", f"/containers/{id}/start")
                api.json("POST", f"/containers/{id}/wait")
                assert sorted(d.cli("logs", id).stdout.decode().split()) == sorted(expected)
                networks = api.json("GET", f"/containers/{id}/json")["NetworkSettings"]["Networks"]
                assert (networks == {}) is disabled
            finally:
                d.cli("rm", "-f", id)
