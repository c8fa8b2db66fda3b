"""A remote network WITH a gateway connected to a running container that has a docker_gwbridge endpoint:
the gwbridge endpoint goes and the default route moves to the new network's gateway, the published port
follows it (``ProgramExternalConnectivity`` on the new driver), as libnetwork's sbJoin/updateGateway. Two fake
drivers of tests/plugin_fakes.py: one that answers Join without a gateway, one with."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Daemon
from tests.integration.plugins.test_network_plugin import _http_get, ok
from tests.integration.plugins.test_network_plugin_gwbridge import (  # noqa: F401 (fixtures)
    GW,
    gw_containers,
    gw_env,
    join_without_gateway,
    links,
)
from tests.plugin_fakes import NetworkPluginLinks, bridge_network_driver

pytestmark = pytest.mark.root


def test_connecting_a_plugin_network_with_a_gateway_moves_the_default_route(
        gw_env: tuple[Daemon, Path], links: NetworkPluginLinks) -> None:  # noqa: F811
    d, plugins = gw_env
    with bridge_network_driver(plugins / "nogwm.sock", links,
                               overrides={"NetworkDriver.Join": join_without_gateway({})}), \
            bridge_network_driver(plugins / "withgw.sock", links) as withgw:
        ok(d.cli("network", "create", "-d", "nogwm", "--subnet", "10.213.51.0/24", "pnogwm"))
        ok(d.cli("network", "create", "-d", "withgw", "--subnet", "10.213.52.0/24", "pwithgw"))
        try:
            cid = ok(d.cli("run", "-d", "--name", "gwm", "--network", "pnogwm", "-p", "127.0.0.1::80", "busybox",
                           "sh", "-c", "mkdir -p /www && echo moved > /www/index.html && exec httpd -f -p 80 -h /www"
                           )).strip()
            assert gw_containers(d)[cid]["Name"] == f"gateway_{cid[:12]}"
            port = int(json.loads(ok(d.cli("inspect", "gwm")))[0]["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"])
            assert "moved" in _http_get(port)

            ok(d.cli("network", "connect", "pwithgw", "gwm"))
            assert gw_containers(d) == {}  # the new endpoint has a gateway: docker_gwbridge is left
            out = ok(d.cli("exec", "gwm", "sh", "-c", "ip -o -4 addr show; ip route"))
            assert "default via 10.213.52.1 dev eth2" in out, out  # before: no default route at all
            assert "moved" in _http_get(port)  # the port now goes to the pwithgw address
            assert "NetworkDriver.ProgramExternalConnectivity" in withgw.methods_called()

            ok(d.cli("network", "disconnect", "pwithgw", "gwm"))  # none with a gateway again: it comes back
            assert gw_containers(d)[cid]["Name"] == f"gateway_{cid[:12]}"
            assert "default via " in ok(d.cli("exec", "gwm", "ip", "route"))
        finally:
            d.cli("rm", "-f", "gwm")
            d.cli("network", "rm", "pnogwm")
            d.cli("network", "rm", "pwithgw")
            d.cli("network", "rm", GW)
