"""ipam.Pool with the driver's gateway skipped (macvlan/ipvlan without a way out, GwAllocCheck): a /31 or /32
gives every address to endpoints, as libnetwork's IPAM; with a gateway they stay too small."""

from __future__ import annotations

import pytest

from dockyard import errors
from dockyard.network import ipam


def test_a_31_without_gateway_gives_both_addresses() -> None:
    pool = ipam.Pool.parse("192.168.135.0/31", gateway_skipped=True)
    first = pool.allocate([])
    second = pool.allocate([first], after=first)
    assert {first, second} == {"192.168.135.0", "192.168.135.1"}
    with pytest.raises(errors.Unavailable):
        pool.allocate([first, second])


def test_a_32_without_gateway_gives_its_address() -> None:
    assert ipam.Pool.parse("10.9.9.9/32", gateway_skipped=True).allocate([]) == "10.9.9.9"


def test_with_a_gateway_point_to_point_is_too_small() -> None:
    with pytest.raises(errors.InvalidArgument, match="too small"):
        ipam.Pool.parse("192.168.135.0/31")


def test_a_larger_subnet_keeps_its_first_address_out_when_skipped() -> None:
    pool = ipam.Pool.parse("10.1.2.0/24", gateway_skipped=True)
    assert pool.allocate([]) == "10.1.2.2"
