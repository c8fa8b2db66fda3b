"""A plugin's config.json as dockerd reads it (Go's case-insensitive keys), and the privileges it asks for."""

from __future__ import annotations

import json

import pytest

from dockyard import errors
from dockyard.plugins.distribution import check_privileges, privileges
from dockyard.plugins.managed import _config

# docker-py's tests/integration/testdata/dummy-plugin/config.json: lowercase keys, as dockerd accepts them
DUMMY = {"description": "Dummy test plugin", "entrypoint": ["/dummy"], "network": {"type": "host"},
         "interface": {"types": ["docker.volumedriver/1.0"], "socket": "dummy.sock"},
         "env": [{"name": "DEBUG", "settable": ["value"], "value": "0"}]}


def test_keys_are_matched_case_insensitively() -> None:
    cfg = _config(json.dumps(DUMMY).encode())
    assert cfg["Interface"] == {"Types": ["docker.volumedriver/1.0"], "Socket": "dummy.sock"}
    assert cfg["Env"] == [{"Name": "DEBUG", "Settable": ["value"], "Value": "0"}]
    assert cfg["Network"] == {"Type": "host"} and cfg["Description"] == "Dummy test plugin"
    assert cfg["PidHost"] is False  # dockerd's defaults still filled in


def test_privileges_as_dockerd_computes_them() -> None:
    cfg = _config(json.dumps({**DUMMY, "Mounts": [{"Source": "/var/lib/x", "Destination": "/x"}, {"Destination": "/y"}],
                              "Linux": {"Capabilities": ["CAP_SYS_ADMIN"], "Devices": [{"Path": "/dev/fuse"}]},
                              "PidHost": True}).encode())
    assert [(p["Name"], p["Value"]) for p in privileges(cfg)] == [
        ("network", ["host"]), ("host pid namespace", ["true"]), ("mount", ["/var/lib/x"]), ("device", ["/dev/fuse"]),
        ("capabilities", ["CAP_SYS_ADMIN"])]
    check_privileges(cfg, list(reversed(privileges(cfg))))  # the order does not matter
    with pytest.raises(errors.PermissionDenied, match="incorrect privileges"):
        check_privileges(cfg, privileges(cfg)[:-1])
    assert privileges(_config(json.dumps({**DUMMY, "network": {"type": "none"}}).encode())) == []
