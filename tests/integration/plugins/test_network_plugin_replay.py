"""An IPAM plugin's ``RequiresRequestReplay`` (libnetwork's docs/ipam.md, reservePools): at daemon start the
daemon replays ``RequestPool`` for each of the plugin's networks and ``RequestAddress`` for their gateways
and auxiliary addresses, so a plugin that keeps nothing across a restart can hand out addresses again.
A plugin without the capability is asked nothing at start. The plugin (tests/plugin_fakes.py) keeps its
pools in memory only: a new instance stands for a plugin restarted with the daemon."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Daemon
from tests.integration.plugins.test_managed_plugin import api
from tests.integration.plugins.test_network_plugin import ok
from tests.plugin_fakes import plugin_daemon, pool_ipam_driver

pytestmark = pytest.mark.root


@pytest.fixture
def replay_env(busybox_tar: Path) -> Iterator[tuple[Daemon, Path]]:
    with plugin_daemon(busybox_tar, "dyr-") as env:
        yield env


def caps(replay: bool) -> dict[str, Any]:
    return {"IpamDriver.GetCapabilities": lambda a: {"RequiresMACAddress": False, "RequiresRequestReplay": replay}}


@pytest.mark.parametrize("replay", [True, False], ids=["replayed", "not-asked-for"])
def test_pools_replayed_at_daemon_start(replay_env: tuple[Daemon, Path], replay: bool) -> None:
    d, plugins = replay_env
    sock = plugins / "ripam.sock"
    with pool_ipam_driver(sock, "10.213.41.0/24", overrides=caps(replay)):
        status, _ = api(d, "POST", "/networks/create", {"Name": "prep", "IPAM": {
            "Driver": "ripam", "Options": {"tier": "gold"},
            "Config": [{"Subnet": "10.213.41.0/24", "AuxiliaryAddresses": {"printer": "10.213.41.9"}}]}})
        assert status == 201
    d.stop()
    with pool_ipam_driver(sock, "10.213.41.0/24", overrides=caps(replay)) as ipam:  # nothing remembered
        d.start()
        try:
            if not replay:
                assert [m for m, _ in ipam.calls if m.startswith("IpamDriver.Request")] == []
                r = d.cli("run", "--rm", "--network", "prep", "busybox", "true")
                assert r.returncode != 0  # the plugin no longer knows the pool it gave
                return
            assert ("IpamDriver.RequestPool", {"AddressSpace": "fake-local", "Pool": "10.213.41.0/24", "SubPool": "",
                                               "Options": {"tier": "gold"}, "V6": False}) in ipam.calls
            asked = [a for m, a in ipam.calls if m == "IpamDriver.RequestAddress"]
            assert asked == [{"PoolID": "pool/10.213.41.0/24", "Address": "10.213.41.1",
                              "Options": {"RequestAddressType": "com.docker.network.gateway"}},
                             {"PoolID": "pool/10.213.41.0/24", "Address": "10.213.41.9", "Options": {}}]
            out = ok(d.cli("run", "--rm", "--network", "prep", "busybox", "ip", "-o", "-4", "addr", "show", "eth0"))
            assert "inet 10.213.41.100/24" in out
        finally:
            d.cli("network", "rm", "prep")
