"""HostConfig.MaskedPaths / ReadonlyPaths: defaulted at create and shown by inspect, and, when given,
exactly those paths masked or read-only (moby's createContainerOSSpecificSettings and WithMaskedPaths)."""

from __future__ import annotations

from dockyard.client.http import Client
from tests.conftest import Daemon


def _run(daemon: Daemon, api: Client, host_config: dict, cmd: str) -> tuple[dict, str]:
    body = {"Image": "busybox", "Cmd": ["sh", "-c", cmd], "HostConfig": host_config}
    id = api.json("POST", "/containers/create", body=body)["Id"]
    try:
        api.request("POST", f"/containers/{id}/start")
        api.json("POST", f"/containers/{id}/wait")
        out = daemon.cli("logs", id).stdout.decode()
        return api.json("GET", f"/containers/{id}/json")["HostConfig"], out
    finally:
        daemon.cli("rm", "-f", id)


def test_masked_and_readonly_paths_default_at_create_and_apply_when_given(daemon: Daemon) -> None:
    api = Client(daemon.host)
    host, out = _run(daemon, api, {}, "head -c 4 /proc/kcore | wc -c; grep -c ' /proc/sys ro,' /proc/self/mountinfo")
    assert "/proc/kcore" in host["MaskedPaths"] and "/proc/sys" in host["ReadonlyPaths"]
    assert out.split() == ["0", "1"]  # /proc/kcore masked, /proc/sys mounted read-only
    host, out = _run(daemon, api, {"MaskedPaths": ["/proc/cpuinfo"], "ReadonlyPaths": []},
                     "wc -c < /proc/cpuinfo; grep -c ' /proc/sys ro,' /proc/self/mountinfo")
    assert host["MaskedPaths"] == ["/proc/cpuinfo"] and host["ReadonlyPaths"] == []
    assert out.split() == ["0", "0"]  # /proc/cpuinfo masked as asked, /proc/sys no longer read-only
    host, _ = _run(daemon, api, {"Privileged": True}, "true")
    assert host.get("MaskedPaths") is None and host.get("ReadonlyPaths") is None
