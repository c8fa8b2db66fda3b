"""A container joining another's network namespace (``--network container:<id>``) has the donor's
hostname, as dockerd gives it (it had its own ID)."""

from __future__ import annotations

import json

from tests.conftest import Daemon


def test_a_joiner_takes_the_donors_hostname(daemon: Daemon) -> None:
    donor = daemon.cli("run", "-d", "--hostname", "donorhost", "busybox", "sleep", "60").stdout.decode().strip()
    joiner = ""
    try:
        r = daemon.cli("run", "-d", "--network", f"container:{donor}", "busybox", "sh", "-c", "hostname; echo $HOSTNAME")
        assert r.returncode == 0, r.stderr
        joiner = r.stdout.decode().strip()
        daemon.cli("wait", joiner)
        assert daemon.cli("logs", joiner).stdout.decode().split() == ["donorhost", "donorhost"]
        assert json.loads(daemon.cli("inspect", joiner).stdout)[0]["Config"]["Hostname"] == "donorhost"
    finally:
        daemon.cli("rm", "-f", *([joiner] if joiner else []), donor)
