"""The run/create network and storage flags -> the JSON the docker CLI sends; netlink message encoding."""

from __future__ import annotations

import argparse
import struct

import pytest

from dockyard import errors
from dockyard.cli import netvol_flags
from dockyard.cli.containers import _add_container_flags
from dockyard.network import netlink


def _body(*argv: str) -> tuple[dict, dict]:  # type: ignore[type-arg]
    p = argparse.ArgumentParser(add_help=False)
    _add_container_flags(p)  # run/create's flags, netvol_flags' among them
    a = p.parse_args([*argv, "busybox"])
    config: dict = {}  # type: ignore[type-arg]
    host: dict = {"NetworkMode": a.network or "default"}  # type: ignore[type-arg]
    netvol_flags.apply(a, config, host)
    return config, host


def test_publish_forms() -> None:
    config, host = _body("-p", "8080:80", "-p", "127.0.0.1:9000:90/udp", "-p", "443", "-p", "[::1]:5000:5000",
                         "-p", "7000-7001:7000-7001", "-P", "--expose", "3000-3001")
    assert host["PortBindings"] == {
        "80/tcp": [{"HostIp": "", "HostPort": "8080"}], "90/udp": [{"HostIp": "127.0.0.1", "HostPort": "9000"}],
        "443/tcp": [{"HostIp": "", "HostPort": ""}], "5000/tcp": [{"HostIp": "::1", "HostPort": "5000"}],
        "7000/tcp": [{"HostIp": "", "HostPort": "7000"}], "7001/tcp": [{"HostIp": "", "HostPort": "7001"}]}
    assert set(config["ExposedPorts"]) == {"80/tcp", "90/udp", "443/tcp", "5000/tcp", "7000/tcp", "7001/tcp",
                                           "3000/tcp", "3001/tcp"}
    assert host["PublishAllPorts"] is True
    with pytest.raises(errors.InvalidArgument):
        _body("-p", "80-82:80-81")
    with pytest.raises(errors.InvalidArgument):
        _body("-p", "99999")


def test_volumes_mounts_tmpfs_and_volumes_from() -> None:
    config, host = _body("-v", "data:/data", "-v", "/srv:/srv:ro", "-v", "/anon", "--tmpfs", "/run:size=64m",
                         "--tmpfs", "/t", "--volumes-from", "other:ro",
                         "--mount", "type=bind,src=/h,dst=/c,readonly,bind-propagation=rslave",
                         "--mount", "type=tmpfs,target=/tm,tmpfs-size=1m,tmpfs-mode=1770",
                         "--mount", "source=v,target=/v,volume-nocopy,volume-label=a=b,volume-opt=o=1")
    assert host["Binds"] == ["data:/data", "/srv:/srv:ro"] and config["Volumes"] == {"/anon": {}}
    assert host["Tmpfs"] == {"/run": "size=64m", "/t": ""} and host["VolumesFrom"] == ["other:ro"]
    bind, tmpfs, vol = host["Mounts"]
    assert bind == {"Type": "bind", "Source": "/h", "Target": "/c", "ReadOnly": True,
                    "BindOptions": {"Propagation": "rslave"}}
    assert tmpfs == {"Type": "tmpfs", "Target": "/tm", "TmpfsOptions": {"SizeBytes": 1048576, "Mode": 0o1770}}
    assert vol == {"Type": "volume", "Source": "v", "Target": "/v", "VolumeOptions": {
        "NoCopy": True, "Labels": {"a": "b"}, "DriverConfig": {"Options": {"o": "1"}}}}
    with pytest.raises(errors.InvalidArgument):
        _body("--mount", "type=bind,src=/h")  # no target
    with pytest.raises(errors.InvalidArgument):
        _body("--mount", "type=bind,src=/h,dst=/c,tmpfs-size=1m")


def test_dns_hosts_alias_and_ip() -> None:
    config, host = _body("--network", "web", "--network-alias", "www", "--ip", "10.1.0.9", "--add-host", "a:1.2.3.4",
                         "--add-host", "b=::1", "--dns", "10.0.0.53", "--dns-search", "ex.test", "--dns-option", "ndots:2")
    assert host["ExtraHosts"] == ["a:1.2.3.4", "b:::1"]
    assert (host["Dns"], host["DnsSearch"], host["DnsOptions"]) == (["10.0.0.53"], ["ex.test"], ["ndots:2"])
    assert config["NetworkingConfig"] == {"EndpointsConfig": {"web": {
        "Aliases": ["www"], "IPAMConfig": {"IPv4Address": "10.1.0.9"}}}}
    config, host = _body()
    assert config == {} and set(host) == {"NetworkMode"}
    with pytest.raises(errors.InvalidArgument):
        _body("--add-host", "nohost")


def test_netlink_attributes_are_padded_and_nested() -> None:
    a = netlink.attr(netlink.IFLA_IFNAME, b"eth0\0")
    assert a == struct.pack("=HH", 9, netlink.IFLA_IFNAME) + b"eth0\0" + b"\0\0\0"
    n = netlink.nested(netlink.IFLA_LINKINFO, netlink.attr(netlink.IFLA_INFO_KIND, b"veth\0"))
    length, kind = struct.unpack_from("=HH", n)
    assert (length, kind) == (len(n), netlink.IFLA_LINKINFO | netlink.NLA_F_NESTED) and len(n) % 4 == 0
