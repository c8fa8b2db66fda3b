"""Which registries are spoken to in plain HTTP (dockyard.oci.registryhost): loopback, and the hosts
or CIDRs of ``--insecure-registry``; everything else HTTPS."""

from __future__ import annotations

from dockyard.oci.registryhost import is_insecure


def test_plain_http_for_loopback_and_listed_hosts() -> None:
    assert is_insecure("127.0.0.1:5000") and is_insecure("127.9.9.9") and is_insecure("[::1]:5000")
    assert is_insecure("localhost:5000")
    assert not is_insecure("10.0.0.1:5000")
    assert not is_insecure("192.0.2.7:5000") and not is_insecure("registry.example:5000")
    assert is_insecure("10.0.0.1:5000", ["10.0.0.0/8"]) and is_insecure("reg.lan:5000", ["reg.lan:5000"])
    assert is_insecure("192.0.2.7:5000", ["192.0.2.7:5000"]) and is_insecure("192.0.2.7:5000", ["192.0.2.0/24"])
    assert is_insecure("registry.example:5000", ["registry.example"])
    assert not is_insecure("192.0.2.7:5000", ["192.0.2.7:5001", "198.51.100.0/24", "not-a-cidr/x"])
