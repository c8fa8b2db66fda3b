"""--privileged grants what Docker grants; HostConfig.Sysctls reaches only the container's namespaces.

Regressions (issue 13): ``--privileged`` started but a mount inside was denied; a sysctl of the
host (``kernel.core_uses_pid``) was written through the API. Canaries are read on the host.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.client.http import Client
from dockyard.errors import InvalidArgument
from tests.conftest import Daemon
from tests.integration.security.dockerkit import docker, every_capability, name, ok, status_fields

pytestmark = pytest.mark.root


@pytest.fixture
def api(daemon: Daemon) -> Iterator[Client]:
    yield Client(daemon.host)


def _host_char_device() -> str:
    """A host character device a default container does not get (any will do)."""
    for path in ("/dev/kmsg", "/dev/loop-control", "/dev/mem", "/dev/net/tun", "/dev/fuse", "/dev/rtc0"):
        if Path(path).is_char_device():
            return path
    pytest.skip("no well-known character device on this host")


def test_privileged_mounts_sees_host_devices_and_runs_unconfined(daemon: Daemon) -> None:
    dev = _host_char_device()
    script = (f"mkdir /m && mount -t tmpfs t /m && touch /m/x && echo mounted; test -c {dev} && echo device; "
              "grep -E ' /sys (rw|ro),' /proc/self/mountinfo | cut -d' ' -f6 | cut -d, -f1; "
              "grep -E ' /sys/fs/cgroup (rw|ro),' /proc/self/mountinfo | cut -d' ' -f6 | cut -d, -f1; "
              "readlink /dev/ptmx; cat /proc/self/status")
    out = ok(daemon, "run", "--rm", "--privileged", "busybox", "sh", "-c", script)
    lines = out.split("\n")
    assert lines[0:5] == ["mounted", "device", "rw", "rw", "pts/ptmx"], out
    status = status_fields(out)
    assert int(status["CapEff"], 16) == every_capability(daemon.proc.pid)  # type: ignore[union-attr]
    assert status["Seccomp"] == "0"
    assert not Path("/m").exists()  # the container's mount point and mount stayed in its own root


def test_unprivileged_is_still_refused_what_privileged_gets(daemon: Daemon) -> None:
    dev = _host_char_device()
    r = docker(daemon, "run", "--rm", "busybox", "sh", "-c",
               f"mkdir /m && mount -t tmpfs t /m && echo mounted; test -e {dev} && echo device; "
               "grep -E ' /sys ro,' /proc/self/mountinfo >/dev/null && echo sys-ro; true")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[0:1] == ["sys-ro"], r.stdout


@pytest.mark.parametrize("key, value, network", [
    ("kernel.core_uses_pid", "", "none"),
    ("kernel.core_pattern", "|/tmp/pwned", "none"),
    ("net.ipv4.ip_forward", "", "host"),
    ("kernel.hostname", "x", "none"),
    ("vm.overcommit_memory", "", "none"),
])
def test_sysctls_outside_the_containers_namespaces_are_refused(api: Client, daemon: Daemon, key: str, value: str,
                                                               network: str) -> None:
    path = Path("/proc/sys") / key.replace(".", "/")
    before = path.read_text()
    value = value or ("0" if before.strip() == "1" else "1")  # a value that would show
    n = name("sysctl")
    with pytest.raises(InvalidArgument) as err:
        api.json("POST", "/containers/create", {"name": n},
                 body={"Image": "busybox", "Cmd": ["true"], "HostConfig": {"Sysctls": {key: value},
                                                                           "NetworkMode": network}})
    assert key in str(err.value)
    assert path.read_text() == before
    assert docker(daemon, "inspect", n).returncode != 0  # nothing was created


def test_sysctls_of_the_containers_namespaces_apply_inside_only(daemon: Daemon) -> None:
    host = Path("/proc/sys/net/ipv4/ip_forward")
    before = host.read_text().strip()
    want = "0" if before == "1" else "1"
    out = ok(daemon, "run", "--rm", "--network", "none", "--sysctl", f"net.ipv4.ip_forward={want}",
             "--sysctl", "kernel.shmmni=1234", "busybox", "sh", "-c",
             "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni")
    assert out.split() == [want, "1234"]
    assert host.read_text().strip() == before
    assert Path("/proc/sys/kernel/shmmni").read_text().strip() != "1234"


def test_runtime_refuses_a_host_sysctl_itself(tmp_path: Path) -> None:
    """dockyard-runc refuses at create, as runc does, whoever wrote the bundle."""
    import json
    import subprocess
    import sys

    from dockyard.oci.runtime_spec import default_spec

    bundle = tmp_path / "bundle"
    (bundle / "rootfs").mkdir(parents=True)
    spec = default_spec(["true"])
    spec["linux"]["sysctl"] = {"kernel.core_uses_pid": "0"}
    spec["linux"]["cgroupsPath"] = f"/dockyard-test/s{uuid.uuid4().hex[:12]}"
    (bundle / "config.json").write_text(json.dumps(spec))
    before = Path("/proc/sys/kernel/core_uses_pid").read_text()
    r = subprocess.run([sys.executable, "-m", "dockyard.runtime.cli", "--root", str(tmp_path / "state"), "create",
                        "--bundle", str(bundle), "s" + uuid.uuid4().hex[:12]], capture_output=True, text=True,
                       timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode != 0
    assert 'sysctl "kernel.core_uses_pid" is not in a separate kernel namespace' in r.stderr
    assert Path("/proc/sys/kernel/core_uses_pid").read_text() == before
    assert not os.listdir(tmp_path / "state") if (tmp_path / "state").exists() else True
