"""The failures left by docker-py's integration suite (docs/conformance.md), through docker-py itself:
user and group names resolved in the container's /etc files (exec, create, --group-add), volume
``Subpath`` mounts, an endpoint's ``MacAddress`` (also the legacy ``Config.MacAddress``) and
``DriverOpts``, and Docker's exact error Content-Type."""

from __future__ import annotations

import random
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import docker.errors
import pytest

from tests.conftest import Daemon

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def api(daemon: Daemon) -> Iterator[Any]:
    import docker

    client = docker.APIClient(base_url=daemon.host, version="1.45", timeout=60)
    yield client
    client.close()


@pytest.fixture
def made(api: Any) -> Iterator[list[str]]:
    ids: list[str] = []
    yield ids
    for id in ids:
        api.remove_container(id, force=True, v=True)


def run(api: Any, made: list[str], cmd: list[str], **kw: Any) -> str:
    """Create and start; returns the id."""
    id = api.create_container("busybox:latest", cmd, **kw)["Id"]
    made.append(id)
    api.start(id)
    return str(id)


def output(api: Any, made: list[str], cmd: list[str], **kw: Any) -> bytes:
    id = run(api, made, cmd, **kw)
    assert api.wait(id, timeout=30)["StatusCode"] == 0, api.logs(id)
    return api.logs(id, stderr=False)  # type: ignore[no-any-return]


# -- users ------------------------------------------------------------------------------

def test_exec_user_names_come_from_the_running_containers_files(api: Any, made: list[str]) -> None:
    """Users added at run time count (the container's upper layer), with their groups from /etc/group."""
    script = ("echo 'pg:x:70:70::/var/lib/pg:/bin/sh' >> /etc/passwd; "
              "printf 'pg:x:70:\\nextra:x:300:daemon,pg\\n' >> /etc/group; touch /ready; exec sleep 300")
    id = run(api, made, ["sh", "-c", script])

    def exec_(user: str, cmd: str = "echo $(id -u) $(id -g) $(id -G)") -> tuple[int, bytes]:
        e = api.exec_create(id, ["sh", "-c", cmd], user=user)
        out = api.exec_start(e)
        return api.exec_inspect(e)["ExitCode"], out

    deadline = time.monotonic() + 10
    while exec_("", "test -e /ready")[0] != 0:
        assert time.monotonic() < deadline
    assert exec_("pg") == (0, b"70 70 70 300\n")  # busybox `id -G`: the primary group first
    assert exec_("pg:daemon") == (0, b"70 1 1\n")  # an explicit group: no supplementary groups
    assert exec_("www-data") == (0, b"33 33 33\n")
    assert exec_("4321") == (0, b"4321 0 0\n")  # a number not in passwd: gid 0, as dockerd
    assert exec_("pg", "whoami; echo $HOME") == (0, b"pg\n/var/lib/pg\n")  # HOME from passwd, as runc sets it
    # dockerd looks the user up at exec create (daemon/exec.go): an unknown one is a 400 there
    with pytest.raises(docker.errors.APIError) as refused:
        exec_("nosuch")
    assert refused.value.status_code == 400
    assert "unable to find user nosuch: no matching entries in passwd file" in str(refused.value)


def test_create_user_and_group_add_names(api: Any, made: list[str]) -> None:
    out = output(api, made, ["sh", "-c", "echo $(id -u) $(id -g) $(id -G)"], user="nobody:audio",
                 host_config=api.create_host_config(group_add=["staff", 1234]))
    assert out == b"65534 29 29 50 1234\n"
    assert output(api, made, ["sh", "-c", "id -un; echo $HOME"], user="www-data") == b"www-data\n/var/www\n"
    assert output(api, made, ["sh", "-c", "echo $HOME"]) == b"/root\n"
    assert output(api, made, ["sh", "-c", "echo $HOME"], environment=["HOME=/x"]) == b"/x\n"


def test_create_with_an_unknown_user_or_group_is_refused(api: Any, made: list[str]) -> None:
    import docker

    with pytest.raises(docker.errors.APIError) as err:
        api.create_container("busybox:latest", ["true"], user="nosuch")
    assert err.value.status_code == 400
    assert "unable to find user nosuch" in err.value.explanation
    with pytest.raises(docker.errors.APIError) as err:
        api.create_container("busybox:latest", ["true"], host_config=api.create_host_config(group_add=["nogrp"]))
    assert "unable to find group nogrp" in err.value.explanation
    # The docker CLI prints the message only when the Content-Type is exactly application/json.
    r = api._post(api._url("/containers/create"), json={"Image": "busybox:latest", "User": "nosuch"})
    assert r.headers["Content-Type"] == "application/json"


# -- volume subpath -----------------------------------------------------------------------

def test_volume_subpath_mount(api: Any, made: list[str]) -> None:
    import docker

    vol = f"gaps-{uuid.uuid4().hex[:8]}"
    api.create_volume(vol)
    try:
        output(api, made, ["sh", "-c", "mkdir -p /v/sub/deeper && echo inside > /v/sub/f && ln -s / /v/escape"],
               host_config=api.create_host_config(binds=[f"{vol}:/v"]))

        def mount(subpath: str, ro: bool = True) -> Any:
            m = docker.types.Mount("/m", vol, type="volume", read_only=ro, subpath=subpath)
            return api.create_host_config(mounts=[m])

        assert output(api, made, ["sh", "-c", "cat /m/f; ls /m"], host_config=mount("sub")) == b"inside\ndeeper\nf\n"
        id = run(api, made, ["touch", "/m/new"], host_config=mount("sub"))
        assert api.wait(id, timeout=30)["StatusCode"] == 1  # read-only
        output(api, made, ["touch", "/m/new"], host_config=mount("sub/deeper", ro=False))
        assert output(api, made, ["ls", "/v/sub/deeper"], host_config=api.create_host_config(binds=[f"{vol}:/v"])) \
            == b"new\n"
        for bad, message in (("../x", "relative path within the volume"), ("/sub", "relative path")):
            with pytest.raises(docker.errors.APIError) as err:
                api.create_container("busybox:latest", ["true"], host_config=mount(bad))
            assert err.value.status_code == 400 and message in err.value.explanation, (bad, err.value.explanation)
        # as dockerd (safepath at start): a missing subpath or one whose symlink leaves the volume fails the start
        for bad, message in (("missing", "cannot access path"), ("escape", "escapes the base directory")):
            id = api.create_container("busybox:latest", ["true"], host_config=mount(bad))["Id"]
            made.append(id)
            with pytest.raises(docker.errors.APIError) as err:
                api.start(id)
            assert err.value.status_code == 400 and message in err.value.explanation, (bad, err.value.explanation)
    finally:
        for id in made:
            api.remove_container(id, force=True)
        made.clear()
        api.remove_volume(vol)


# -- endpoint MacAddress and DriverOpts -------------------------------------------------------

@pytest.fixture(scope="module")
def network(api: Any) -> Iterator[str]:
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True, check=False).stdout
    third = next(t for t in random.sample(range(1, 250), 50) if f"10.216.{t}." not in routes)
    name = f"gaps-{uuid.uuid4().hex[:8]}"
    import docker

    ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=f"10.216.{third}.0/24")])
    api.create_network(name, driver="bridge", ipam=ipam)
    try:
        yield name
    finally:
        api.remove_network(name)


def test_endpoint_mac_address_and_driver_opts(api: Any, made: list[str], network: str) -> None:
    mac = "02:42:ac:11:00:0b"
    cfg = api.create_networking_config({network: api.create_endpoint_config(
        mac_address=mac, driver_opt={"key1": "a"}, aliases=["gapalias"])})
    id = run(api, made, ["sleep", "300"], networking_config=cfg, host_config=api.create_host_config(network_mode=network))
    ep = api.inspect_container(id)["NetworkSettings"]["Networks"][network]
    assert (ep["MacAddress"], ep["DriverOpts"], ep["Aliases"]) == (mac, {"key1": "a"}, ["gapalias"])
    e = api.exec_create(id, ["cat", "/sys/class/net/eth0/address"])
    assert api.exec_start(e) == f"{mac}\n".encode()
    api.stop(id, timeout=0)  # the configured MAC is kept for the next start
    assert api.inspect_container(id)["NetworkSettings"]["Networks"][network]["MacAddress"] == mac
    api.start(id)
    e = api.exec_create(id, ["cat", "/sys/class/net/eth0/address"])
    assert api.exec_start(e) == f"{mac}\n".encode()


def test_legacy_config_mac_address(api: Any, made: list[str], network: str) -> None:
    """docker-py's ``mac_address=`` sets ``Config.MacAddress``: it goes to the container's own network."""
    import docker

    id = run(api, made, ["cat", "/sys/class/net/eth0/address"], mac_address="02:42:ac:11:00:0a",
             host_config=api.create_host_config(network_mode=network))
    assert api.wait(id, timeout=30)["StatusCode"] == 0
    assert api.logs(id) == b"02:42:ac:11:00:0a\n"
    with pytest.raises(docker.errors.APIError) as err:
        api.create_container("busybox:latest", ["true"], mac_address="not-a-mac",
                             host_config=api.create_host_config(network_mode=network))
    assert err.value.status_code == 400 and "invalid MAC address" in err.value.explanation


def test_exec_output_reaches_docker_py_under_another_user_agent(api: Any, made: list[str], daemon: Daemon) -> None:
    """testcontainers sends docker-py's requests as "tc-python/…": the pause after the 101 that docker-py's
    buffered parser needs must not depend on docker-py's own User-Agent (output was lost about half the time)."""
    import docker

    tc = docker.APIClient(base_url=daemon.host, version="1.45", timeout=60)
    tc.headers["User-Agent"] = "tc-python/4.15.0"
    try:
        id = run(api, made, ["sleep", "300"])
        outs = [tc.exec_start(tc.exec_create(id, ["echo", f"out-{i}"])) for i in range(8)]
        assert outs == [f"out-{i}\n".encode() for i in range(8)]
    finally:
        tc.close()
