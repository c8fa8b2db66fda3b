"""``dockyard network create``'s flags as the docker CLI sends them (cli/command/network/create.go): the
IPAM configs built from ``--subnet``/``--ip-range``/``--gateway``/``--aux-address``, ``--ipv6`` and
``--ipv4`` sent only when given, the swarm-era flags, and docker's messages for what does not fit."""

from __future__ import annotations

from typing import Any

import pytest

from dockyard.cli import networks
from dockyard.cli.errors import StatusError
from dockyard.cli.main import parse


class _Client:
    def __init__(self) -> None:
        self.body: dict[str, Any] = {}

    def json(self, method: str, path: str, query: Any, body: dict[str, Any]) -> dict[str, str]:
        assert (method, path) == ("POST", "/networks/create")
        self.body = body
        return {"Id": "f" * 64}


def create(*argv: str) -> dict[str, Any]:
    a = parse(["network", "create", *argv])
    c = _Client()
    assert networks.cmd_create(c, a) == 0  # type: ignore[arg-type]
    return c.body


def test_dual_stack_network_with_ranges_gateways_and_aux_addresses() -> None:
    body = create("--ipv6", "--subnet", "10.30.0.0/16", "--subnet", "fd00:30::/64", "--ip-range", "10.30.5.0/24",
                  "--gateway", "10.30.0.254", "--gateway", "fd00:30::fe", "--aux-address", "host=10.30.0.2",
                  "--aux-address", "v6host=fd00:30::2", "--ipam-opt", "a=b", "-o", "x=y", "--label", "l=1", "n1")
    assert body["EnableIPv6"] is True and "EnableIPv4" not in body
    assert body["IPAM"] == {"Driver": "default", "Options": {"a": "b"}, "Config": [
        {"Subnet": "10.30.0.0/16", "IPRange": "10.30.5.0/24", "Gateway": "10.30.0.254",
         "AuxiliaryAddresses": {"host": "10.30.0.2"}},
        {"Subnet": "fd00:30::/64", "Gateway": "fd00:30::fe", "AuxiliaryAddresses": {"v6host": "fd00:30::2"}}]}
    assert (body["Options"], body["Labels"]) == ({"x": "y"}, {"l": "1"})


def test_flags_given_or_not() -> None:
    body = create("n2")
    assert "EnableIPv6" not in body and "EnableIPv4" not in body and "ConfigFrom" not in body
    assert body["IPAM"]["Config"] == []
    body = create("--ipv6=false", "--ipv4=false", "--internal", "--attachable", "--ingress", "--scope", "swarm",
                  "--config-only", "--ipam-driver", "fake", "-d", "overlay", "--subnet", "10.1.0.0/24,10.2.0.0/24", "n3")
    assert (body["EnableIPv6"], body["EnableIPv4"], body["Internal"], body["Attachable"], body["Ingress"],
            body["Scope"], body["ConfigOnly"], body["Driver"], body["IPAM"]["Driver"]) == \
        (False, False, True, True, True, "swarm", True, "overlay", "fake")
    assert [c["Subnet"] for c in body["IPAM"]["Config"]] == ["10.1.0.0/24", "10.2.0.0/24"]
    assert create("--config-from", "base", "n4")["ConfigFrom"] == {"Network": "base"}


@pytest.mark.parametrize(("argv", "message"), [
    (("--gateway", "10.0.0.1"), "every ip-range or gateway must have a corresponding subnet"),
    (("--subnet", "10.0.0.0/16", "--subnet", "10.0.1.0/24"), "multiple overlapping subnet configuration is not supported"),
    (("--subnet", "10.0.0.0/16", "--ip-range", "10.9.0.0/24"), "no matching subnet for range 10.9.0.0/24"),
    (("--subnet", "10.0.0.0/16", "--gateway", "fd00::1"), "no matching subnet for gateway fd00::1"),
    (("--subnet", "10.0.0.0/16", "--aux-address", "a=10.9.0.1"), "no matching subnet for aux-address 10.9.0.1"),
    (("--subnet", "10.0.0.0/16", "--gateway", "10.0.0.1", "--gateway", "10.0.0.2", "--subnet", "10.5.0.0/16"),
     "cannot configure multiple gateways (10.0.0.2, 10.0.0.1) for the same subnet (10.0.0.0/16)"),
    (("--subnet", "nope"), "invalid subnet: invalid CIDR address: nope"),
])
def test_docker_messages_for_what_does_not_fit(argv: tuple[str, ...], message: str) -> None:
    with pytest.raises(StatusError) as err:
        create(*argv, "bad")
    assert str(err.value) == message
