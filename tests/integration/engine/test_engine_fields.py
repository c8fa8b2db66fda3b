"""Fields of a create that the field-by-field table in docs/conformance.md says are applied, shown
end to end through the API where no other test shows them (issue 14)."""

from __future__ import annotations

import time
from typing import Any

from dockyard.client.http import Client
from tests.conftest import Daemon


def _create(api: Client, config: dict[str, Any], host: dict[str, Any] | None = None) -> str:
    body = {"Image": "busybox", **config, "HostConfig": host or {}}
    return str(api.json("POST", "/containers/create", body=body)["Id"])


def _run(daemon: Daemon, api: Client, config: dict[str, Any], host: dict[str, Any] | None = None) -> tuple[str, str]:
    id = _create(api, config, host)
    api.request("POST", f"/containers/{id}/start")
    api.json("POST", f"/containers/{id}/wait")
    return id, daemon.cli("logs", id).stdout.decode()


def test_healthcheck_probes_at_the_start_interval_and_reports_healthy(daemon: Daemon) -> None:
    api = Client(daemon.host)
    s = 1_000_000_000
    hc = {"Test": ["CMD-SHELL", "test -e /tmp/ready"], "Interval": 60 * s, "Timeout": 2 * s, "Retries": 1,
          "StartPeriod": 30 * s, "StartInterval": s // 5}
    id = _create(api, {"Cmd": ["sh", "-c", "sleep 0.5; touch /tmp/ready; sleep 30"], "Healthcheck": hc})
    try:
        api.request("POST", f"/containers/{id}/start")
        deadline, status = time.monotonic() + 15, ""
        while time.monotonic() < deadline:
            status = api.json("GET", f"/containers/{id}/json")["State"]["Health"]["Status"]
            if status == "healthy":
                break
            time.sleep(0.1)
        # healthy within seconds: probed every 200 ms during the start period, not every 60 s
        assert status == "healthy"
    finally:
        daemon.cli("rm", "-f", id)


def test_console_size_at_create_is_the_ptys_first_size(daemon: Daemon) -> None:
    api = Client(daemon.host)
    id, out = _run(daemon, api, {"Cmd": ["stty", "size"], "Tty": True}, {"ConsoleSize": [33, 101]})
    daemon.cli("rm", "-f", id)
    assert out.split() == ["33", "101"]


def test_volumes_binds_mounts_and_tmpfs_are_mounted(daemon: Daemon, tmp_path: Any) -> None:
    api = Client(daemon.host)
    (tmp_path / "f").write_text("from-host")
    vol = f"fields-{time.monotonic_ns()}"
    host = {"Binds": [f"{tmp_path}:/bind:ro"],
            "Mounts": [{"Type": "volume", "Source": vol, "Target": "/named"},
                       {"Type": "tmpfs", "Target": "/scratch", "TmpfsOptions": {"SizeBytes": 1 << 20, "Options": [["nr_inodes", "1000"]]}}]}
    cmd = ("cat /bind/f; echo; touch /bind/x 2>/dev/null || echo bind-ro; echo v > /named/v && cat /named/v; "
           "grep ' /scratch ' /proc/mounts | grep size=1024k | grep -c nr_inodes=1000; grep -c ' /anon ' /proc/mounts")
    id, out = _run(daemon, api, {"Cmd": ["sh", "-c", cmd], "Volumes": {"/anon": {}}}, host)
    try:
        assert out.split() == ["from-host", "bind-ro", "v", "1", "1"]
        mounts = {m["Destination"]: m for m in api.json("GET", f"/containers/{id}/json")["Mounts"]}
        assert mounts["/named"]["Name"] == vol and mounts["/anon"]["Type"] == "volume"
        assert mounts["/bind"]["RW"] is False
    finally:
        daemon.cli("rm", "-f", "-v", id)
        daemon.cli("volume", "rm", vol)


def test_domainname_and_shell_are_kept(daemon: Daemon) -> None:
    api = Client(daemon.host)
    id, out = _run(daemon, api, {"Cmd": ["sh", "-c", "hostname; cat /proc/sys/kernel/domainname"], "Hostname": "h",
                                 "Domainname": "example.test", "Shell": ["/bin/sh", "-xc"]})
    try:
        assert out.split() == ["h", "example.test"]
        assert api.json("GET", f"/containers/{id}/json")["Config"]["Shell"] == ["/bin/sh", "-xc"]
    finally:
        daemon.cli("rm", "-f", id)
