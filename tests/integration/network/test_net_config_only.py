"""``network create --config-only`` and ``--config-from`` through the dockyard CLI, as libnetwork: the
config-only network holds the configuration (driver null, scope local, nothing allocated, no container
joins it), a network made from it takes its subnet, gateway, auxiliary addresses, options and labels and
may set none of its own, and the config-only network cannot be removed while used nor is it pruned."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Daemon, started_daemon
from tests.integration.network.test_net_integration import _free_subnet, _our_table_gone

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def d(busybox_tar: Path) -> Iterator[Daemon]:
    with started_daemon(busybox_tar) as daemon:
        yield daemon
    assert _our_table_gone(daemon)


def cli(d: Daemon, *args: str) -> tuple[int, str, str]:
    r = d.cli(*args)
    return r.returncode, r.stdout.decode().strip(), r.stderr.decode().strip()


def inspect(d: Daemon, name: str) -> dict:  # type: ignore[type-arg]
    code, out, err = cli(d, "network", "inspect", name)
    assert code == 0, err
    return dict(json.loads(out)[0])


def test_config_only_and_config_from(d: Daemon) -> None:
    base = _free_subnet().rsplit(".", 1)[0]
    cfg, net, box = "co-" + uuid.uuid4().hex[:6], "cf-" + uuid.uuid4().hex[:6], "cb-" + uuid.uuid4().hex[:6]
    try:
        code, _, err = cli(d, "network", "create", "--config-only", "--subnet", f"{base}.0/24", "--gateway",
                           f"{base}.254", "--aux-address", f"r={base}.2", "-o", "com.docker.network.bridge.enable_icc=false",
                           "--label", "tier=one", cfg)
        assert code == 0, err
        n = inspect(d, cfg)
        assert (n["ConfigOnly"], n["Driver"], n["Scope"], n["Labels"]) == (True, "null", "local", {"tier": "one"})
        assert n["IPAM"]["Config"] == [{"Subnet": f"{base}.0/24", "Gateway": f"{base}.254",
                                        "AuxiliaryAddresses": {"r": f"{base}.2"}}]
        assert f"{base}." not in Path("/proc/net/route").read_text() + os.popen("ip -4 route").read()  # nothing made
        code, _, err = cli(d, "run", "--rm", "--network", cfg, "busybox", "true")
        assert code != 0 and "cannot create endpoint on configuration-only network" in err, err

        code, _, err = cli(d, "network", "create", "--config-from", cfg, "--subnet", "10.9.9.0/24", net)
        assert code != 0 and "user-specified configurations are not supported if the network depends on a " \
            "configuration network" in err, err
        code, _, err = cli(d, "network", "create", "--config-from", "nosuch", net)
        assert code != 0 and 'configuration network "nosuch" does not exist' in err, err
        code, _, err = cli(d, "network", "create", "--config-only", "--internal", "co-bad")
        assert code != 0 and "Network operator fields like [ ingress | internal | attachable | scope ]" in err, err

        code, _, err = cli(d, "network", "create", "--config-from", cfg, net)
        assert code == 0, err
        n = inspect(d, net)
        assert (n["ConfigOnly"], n["ConfigFrom"], n["Driver"], n["Labels"]) == (False, {"Network": cfg}, "bridge",
                                                                               {"tier": "one"})
        assert n["IPAM"]["Config"][0]["Subnet"] == f"{base}.0/24" and n["IPAM"]["Config"][0]["Gateway"] == f"{base}.254"
        assert n["Options"]["com.docker.network.bridge.enable_icc"] == "false"
        code, out, err = cli(d, "run", "--rm", "--name", box, "--network", net, "busybox", "sh", "-c",
                             "ip -o -4 addr show eth0; ip route")
        assert code == 0, err
        assert f"inet {base}.1/24" in out and f"default via {base}.254" in out, out  # the gateway is .254

        d.stop()
        d.start()  # both kept across a daemon restart, nothing of the config-only one is made at start
        assert inspect(d, cfg)["ConfigOnly"] and inspect(d, net)["ConfigFrom"] == {"Network": cfg}
        code, _, err = cli(d, "network", "rm", cfg)
        assert code != 0 and f'configuration network "{cfg}" is in use' in err, err
        assert cli(d, "network", "prune", "-f")[0] == 0  # removes the unused net, never a config-only network
        code, out, _ = cli(d, "network", "ls", "--format", "{{.Name}}")
        assert cfg in out.split() and net not in out.split()
        assert cli(d, "network", "rm", cfg)[0] == 0
    finally:
        d.cli("network", "rm", net)
        d.cli("network", "rm", cfg)
