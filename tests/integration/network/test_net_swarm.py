"""A single-node swarm (issue 14), through docker-py: ``swarm init`` makes this node the manager with an
``ingress`` network, /info and ``/nodes`` say so; ``overlay`` networks are swarm-scoped (``scope``
filters and inspect's ``?scope=`` as dockerd answers them), attachable ones take containers (name
resolution included), others refuse them; no services are faked; the swarm survives a restart; ``leave``
needs ``force``, disconnects containers and removes the swarm's networks and their bridges."""

from __future__ import annotations

import hashlib
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Daemon, free_subnet, started_daemon
from tests.integration.network.test_net_integration import DOCKER

pytestmark = pytest.mark.root


@pytest.fixture
def swarm_daemon(busybox_tar: Path) -> Iterator[Daemon]:
    with started_daemon(busybox_tar) as d:
        yield d


def client(d: Daemon) -> Any:
    import docker

    return docker.APIClient(base_url=d.host, version="1.45", timeout=60)


def links() -> str:
    return subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout


def read_port(port: int) -> bytes:
    deadline = time.monotonic() + 20
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                data = s.recv(100)
            if data or time.monotonic() > deadline:
                return data
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def init(api: Any, pool: str) -> str:
    return str(api.init_swarm("127.0.0.1", listen_addr="0.0.0.0:4567", default_addr_pool=[pool], subnet_size=26))


def test_no_swarm_answers_as_dockerd(swarm_daemon: Daemon) -> None:
    import docker

    api = client(swarm_daemon)
    try:
        info = api.info()["Swarm"]
        assert info["LocalNodeState"] == "inactive" and info["ControlAvailable"] is False
        for call in (api.inspect_swarm, api.nodes, api.services):
            with pytest.raises(docker.errors.APIError) as err:
                call()
            assert err.value.status_code == 503 and "This node is not part of a swarm" in str(err.value)
        with pytest.raises(docker.errors.APIError) as err:
            api.create_network("ov-refused", driver="overlay")
        assert err.value.status_code == 403 and "not a swarm manager" in str(err.value)
        assert api.leave_swarm(force=True) is True  # docker-py's: a 503 with force is fine
    finally:
        api.close()


def test_single_node_swarm_networks(swarm_daemon: Daemon) -> None:
    import docker

    api = client(swarm_daemon)
    pool = free_subnet("10.233")
    made: list[str] = []
    try:
        node_id = init(api, pool)
        assert (swarm_daemon.data_root / "swarm.json").stat().st_mode & 0o777 == 0o600  # join tokens, unlock key
        with pytest.raises(docker.errors.APIError) as err:
            init(api, pool)
        assert err.value.status_code == 503 and "already part of a swarm" in str(err.value)
        info = api.info()["Swarm"]
        assert info["LocalNodeState"] == "active" and info["ControlAvailable"] is True
        assert info["NodeID"] == node_id and info["NodeAddr"] == "127.0.0.1"
        assert info["Nodes"] == 1 and info["Managers"] == 1
        assert info["RemoteManagers"] == [{"NodeID": node_id, "Addr": "127.0.0.1:4567"}]
        swarm = api.inspect_swarm()
        assert info["Cluster"]["ID"] == swarm["ID"] and swarm["DefaultAddrPool"] == [pool]
        assert swarm["JoinTokens"]["Worker"].startswith("SWMTKN-1-")
        [node] = api.nodes()
        assert node["ID"] == node_id and node["Spec"]["Role"] == "manager"
        assert node["ManagerStatus"]["Leader"] is True and node["Status"]["State"] == "ready"
        assert api.nodes(filters={"role": "worker"}) == []
        assert api.services() == [] and api.tasks() == []
        with pytest.raises(docker.errors.APIError) as err:
            api.create_service(docker.types.TaskTemplate(docker.types.ContainerSpec("busybox", ["true"])))
        assert err.value.status_code == 501

        ingress = api.inspect_network("ingress")
        assert ingress["Ingress"] is True and ingress["Scope"] == "swarm" and ingress["Driver"] == "overlay"
        subnet = ingress["IPAM"]["Config"][0]["Subnet"]
        assert subnet.endswith("/26") and subnet.startswith(pool.rsplit(".", 2)[0])
        with pytest.raises(docker.errors.APIError) as err:
            api.create_network("ingress2", driver="overlay", ingress=True)
        assert err.value.status_code == 409

        local = api.create_network("swl-local", scope="local")["Id"]
        made.append(local)
        ov = api.create_network("swl-ov", driver="overlay", attachable=True)["Id"]
        closed = api.create_network("swl-closed", driver="overlay")["Id"]
        assert api.inspect_network(ov)["Attachable"] is True
        assert api.inspect_network("swl-ov", scope="swarm")["Scope"] == "swarm"
        assert api.inspect_network("swl-local", scope="local")["Id"] == local
        for ref, wrong in (("swl-ov", "local"), ("swl-local", "global"), ("swl-local", "swarm")):
            with pytest.raises(docker.errors.NotFound):
                api.inspect_network(ref, scope=wrong)
        assert {n["Name"] for n in api.networks(filters={"scope": "swarm"})} == {"ingress", "swl-ov", "swl-closed"}

        server = api.create_container("busybox", ["sleep", "300"], name="sw-server",
                                      host_config=api.create_host_config(network_mode="swl-ov"))["Id"]
        api.start(server)
        probe = api.create_container("busybox", ["ping", "-c", "1", "-W", "5", "sw-server"],
                                     host_config=api.create_host_config(network_mode="swl-ov"))["Id"]
        api.start(probe)
        assert api.wait(probe, timeout=30)["StatusCode"] == 0, api.logs(probe)
        api.remove_container(probe)
        published = api.create_container("busybox", ["sh", "-c", "echo hi | nc -l -p 7000"], ports=[7000],
                                         host_config=api.create_host_config(network_mode="swl-ov",
                                                                            port_bindings={7000: None}))["Id"]
        api.start(published)
        port = int(api.port(published, 7000)[0]["HostPort"])
        assert read_port(port) == b"hi\n"
        cip = api.inspect_container(published)["NetworkSettings"]["Networks"]["swl-ov"]["IPAddress"]
        table = "dockyard-" + hashlib.sha256(str(swarm_daemon.data_root).encode()).hexdigest()[:8]
        rules = subprocess.run(["nft", "list", "table", "ip", table], capture_output=True, text=True).stdout
        assert f"dnat to {cip}:7000" in rules
        assert f"ip daddr {cip} tcp dport 7000 fib saddr" not in rules  # as from a bridge network, not a plugin's
        refused = api.create_container("busybox", ["true"],
                                       host_config=api.create_host_config(network_mode="swl-closed"))["Id"]
        with pytest.raises(docker.errors.APIError) as err:
            api.start(refused)
        assert err.value.is_client_error() and "network swl-closed not manually attachable" in str(err.value), err
        api.remove_container(refused)
        bridges = [f"br-{n[:12]}" for n in (ov, closed, ingress["Id"])]
        assert all(b in links() for b in bridges)

        swarm_daemon.stop()  # a restart keeps the swarm, its networks and the container's endpoint
        swarm_daemon.start()
        assert api.info()["Swarm"]["NodeID"] == node_id
        assert api.inspect_swarm()["ID"] == swarm["ID"]
        assert api.inspect_network("swl-ov")["Scope"] == "swarm"
        assert api.create_network("swl-after", driver="overlay")["Id"]

        with pytest.raises(docker.errors.APIError) as err:
            api.leave_swarm()
        assert err.value.status_code == 503 and "--force" in str(err.value)
        api.leave_swarm(force=True)
        assert api.info()["Swarm"]["LocalNodeState"] == "inactive"
        assert {n["Name"] for n in api.networks()} & {"ingress", "swl-ov", "swl-closed", "swl-after"} == set()
        assert "swl-ov" not in api.inspect_container(server)["NetworkSettings"]["Networks"]
        assert not [b for b in bridges if b in links()]
        api.inspect_network(local)  # the local network stays
    finally:
        for c in api.containers(all=True, quiet=True):
            api.remove_container(c["Id"], force=True)
        api.leave_swarm(force=True)
        for n in made:
            api.remove_network(n)
        api.close()


def test_docker_cli_swarm(swarm_daemon: Daemon) -> None:
    """The docker CLI's swarm commands a user runs for networks, on this daemon."""
    if not DOCKER:
        pytest.skip("no docker CLI")

    def dk(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(DOCKER), "-H", swarm_daemon.host, *args], capture_output=True, text=True,
                              timeout=60)

    try:
        r = dk("swarm", "init", "--advertise-addr", "127.0.0.1", "--default-addr-pool", free_subnet("10.234"),
               "--default-addr-pool-mask-length", "28")
        assert r.returncode == 0 and "is now a manager" in r.stdout, r.stderr
        assert "Leader" in dk("node", "ls").stdout
        assert dk("info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}").stdout == "active true\n"
        assert dk("network", "create", "-d", "overlay", "--attachable", "cli-ov").returncode == 0
        assert dk("network", "ls", "--filter", "scope=swarm", "--format", "{{.Name}}").stdout.split() == [
            "cli-ov", "ingress"]
        r = dk("run", "--rm", "--network", "cli-ov", "busybox", "ip", "-4", "-o", "addr", "show", "eth0")
        assert r.returncode == 0 and "/28" in r.stdout, r.stderr
        r = dk("service", "create", "busybox", "true")
        assert r.returncode != 0 and "not supported" in r.stderr
        assert dk("swarm", "leave").returncode != 0
        assert dk("swarm", "leave", "--force").returncode == 0
        assert dk("network", "ls", "--filter", "scope=swarm", "-q").stdout == ""
    finally:
        dk("swarm", "leave", "--force")
