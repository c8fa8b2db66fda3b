"""A daemon whose bridge configuration changed never deletes the bridge it used to have.

With another name configured the old bridge may belong to another daemon now (the `make demo`
daemon's dockyard0 was once deleted by a test daemon restarted with `--bridge-name none`).
"""

from __future__ import annotations

import json
import random
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Daemon, started_daemon
from tests.httpcall import request

pytestmark = pytest.mark.root


def _link_exists(name: str) -> bool:
    return subprocess.run(["ip", "link", "show", name], capture_output=True).returncode == 0


def test_restart_with_another_bridge_config_leaves_the_old_bridge_alone() -> None:
    bridge = f"dyo{uuid.uuid4().hex[:8]}"
    base = Path(tempfile.mkdtemp(prefix="dy-", dir="/tmp"))
    first = Daemon(base)
    first.extra_args = ["--bridge-name", bridge, "--bridge-subnet", f"10.220.{random.randint(0, 255)}.0/24"]
    try:
        first.start()
        assert _link_exists(bridge)
        first.stop()
        # The old bridge stands in for one that another daemon now uses: keep it up while we restart.
        if not _link_exists(bridge):
            subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], check=True)
        second = Daemon(base)
        second.cgroup_parent = first.cgroup_parent
        second.start()
        second.stop()
        assert _link_exists(bridge), "a daemon deleted a bridge it no longer owns"
    finally:
        subprocess.run(["ip", "link", "del", bridge], capture_output=True)
        first.cleanup()


# --- issue 13: `com.docker.network.bridge.name` never adopts (and `network rm` never deletes) an
# interface the network did not create: a host bridge, a veth, the daemon's default bridge.


def _create(d: Daemon, name: str, bridge: str = "") -> tuple[int, dict]:  # type: ignore[type-arg]
    body: dict[str, object] = {"Name": name, "Driver": "bridge"}
    if bridge:
        body["Options"] = {"com.docker.network.bridge.name": bridge}
    status, _, data = request(d, "POST", "/networks/create", body)
    return status, json.loads(data or b"{}")


def _ifindex(name: str) -> int:
    r = subprocess.run(["ip", "-o", "link", "show", name], capture_output=True, text=True)
    return int(r.stdout.split(":", 1)[0]) if r.returncode == 0 else 0


def _networks(d: Daemon) -> list[str]:
    r = d.cli("network", "ls", "--format", "{{.Name}}")
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout.decode().split()


@pytest.fixture
def bridged(busybox_tar: Path) -> Iterator[Daemon]:
    with started_daemon(busybox_tar, bridge_prefix="dyo", subnet_base="10.222") as d:
        yield d


def _refused_and_untouched(d: Daemon, iface: str) -> None:
    before = _ifindex(iface)
    assert before
    status, body = _create(d, "n" + uuid.uuid4().hex[:8], iface)
    if status == 201:  # the old behaviour: adopted; its removal then deleted the host's interface
        d.cli("network", "rm", body["Id"])
    assert _ifindex(iface) == before, f"{iface} was deleted or replaced"
    assert status == 403, (status, body)
    assert "conflicts with" in body["message"] and iface in body["message"], body


def test_network_create_refuses_a_host_bridge_and_a_veth(bridged: Daemon) -> None:
    tag = uuid.uuid4().hex[:8]
    host_bridge, veth, peer = f"dyc{tag}", f"dyv{tag}", f"dyw{tag}"
    try:
        subprocess.run(["ip", "link", "add", host_bridge, "type", "bridge"], check=True)
        subprocess.run(["ip", "link", "add", veth, "type", "veth", "peer", "name", peer], check=True)
        networks = _networks(bridged)
        _refused_and_untouched(bridged, host_bridge)
        _refused_and_untouched(bridged, veth)
        assert _networks(bridged) == networks
        # the daemon's own teardown leaves them too
        bridged.stop()
        assert _ifindex(host_bridge) and _ifindex(veth)
    finally:
        subprocess.run(["ip", "link", "del", host_bridge], capture_output=True)
        subprocess.run(["ip", "link", "del", veth], capture_output=True)


def test_network_on_the_default_bridge_is_refused(bridged: Daemon) -> None:
    default = bridged.extra_args[bridged.extra_args.index("--bridge-name") + 1]
    status, body = _create(bridged, "n" + uuid.uuid4().hex[:8], default)
    assert status == 403 and "networks have same bridge name" in body["message"], (status, body)
    assert _ifindex(default)
    r = bridged.cli("run", "--rm", "busybox", "ip", "-4", "addr", "show", "eth0")
    assert r.returncode == 0 and b"inet " in r.stdout, r.stderr.decode()  # the default network still works


def test_two_networks_one_bridge_name_and_one_name_are_refused(bridged: Daemon) -> None:
    bridge, name = f"dya{uuid.uuid4().hex[:8]}", "n" + uuid.uuid4().hex[:8]
    try:
        status, body = _create(bridged, name, bridge)
        assert status == 201, body
        index = _ifindex(bridge)
        assert index
        status, other = _create(bridged, "m" + uuid.uuid4().hex[:8], bridge)
        assert status == 403 and f"conflicts with network {body['Id']}" in other["message"], (status, other)
        status, other = _create(bridged, name)
        assert status == 409 and "already exists" in other["message"], (status, other)
        assert _ifindex(bridge) == index
        r = bridged.cli("network", "rm", name)
        assert r.returncode == 0, r.stderr.decode()
        assert not _ifindex(bridge), "the network did not delete the bridge it created"
    finally:
        subprocess.run(["ip", "link", "del", bridge], capture_output=True)


def test_rm_leaves_a_bridge_made_by_someone_else_while_the_daemon_was_down(bridged: Daemon) -> None:
    bridge, name = f"dyb{uuid.uuid4().hex[:8]}", "n" + uuid.uuid4().hex[:8]
    try:
        status, body = _create(bridged, name, bridge)
        assert status == 201, body
        bridged.stop()  # no container runs: the daemon deletes the bridges it made
        assert not _ifindex(bridge)
        subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], check=True)  # someone else's now
        foreign = _ifindex(bridge)
        bridged.start()
        r = bridged.cli("network", "rm", name)
        assert r.returncode == 0, r.stderr.decode()
        assert _ifindex(bridge) == foreign, "network rm deleted a bridge it did not create"
    finally:
        subprocess.run(["ip", "link", "del", bridge], capture_output=True)
