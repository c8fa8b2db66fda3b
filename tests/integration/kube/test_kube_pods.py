"""``dockyard kube play`` pods as pods: an infra container holds each pod's network, IPC and
(``shareProcessNamespace``) PID namespaces, its hostname and host ports; ``initContainers`` run in
order to completion first, and a failing one ends the play with its exit code; ``kube down``
removes the infra too, and ``kube generate POD`` gives the played pod back (kubectl accepts it).

Everything runs on a private daemon; the play network gets a free subnet."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import BIN, Daemon, free_subnet
from tests.integration.kube.conftest import _get, _ok, free_port
from tests.integration.kube.test_kube_play import kubectl, kubectl_accepts

pytestmark = pytest.mark.root

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def dy(kdaemon: Daemon, tmp_path: Path) -> Iterator[Run]:
    """``dockyard`` on the private daemon, in tmp_path; every YAML written there is `kube down`-ed after."""
    env = {**os.environ, "DOCKER_HOST": kdaemon.host}
    env.pop("DOCKYARD_HOST", None)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BIN / "dockyard"), *args], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=120)

    net = f"kp{uuid.uuid4().hex[:8]}"
    _ok(run("network", "create", "--subnet", free_subnet("10.217"), net))
    run.net = net  # type: ignore[attr-defined]
    try:
        yield run
    finally:
        for f in tmp_path.glob("*.yaml"):
            run("kube", "down", f.name)
        run("network", "rm", net)
        left = run("ps", "-aq", "--filter", "label=io.dockyard.kube.pod").stdout.strip()
        assert left == "", f"containers left: {left}"


def _play(dy: Run, tmp_path: Path, name: str, pod: dict[str, object]) -> subprocess.CompletedProcess[str]:
    (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Pod", **pod}))
    return dy("kube", "play", "--network", dy.net, f"{name}.yaml")  # type: ignore[attr-defined]


def _inspect(dy: Run, name: str) -> dict:  # type: ignore[type-arg]
    return json.loads(_ok(dy("inspect", name)))[0]  # type: ignore[no-any-return]


def _in(dy: Run, container: str, *cmd: str) -> str:
    return _ok(dy("exec", container, *cmd))


def test_two_containers_share_the_infra_namespaces(dy: Run, tmp_path: Path) -> None:
    name, port = f"p{uuid.uuid4().hex[:8]}", free_port()
    pod = {"metadata": {"name": name, "labels": {"app": name}}, "spec": {"restartPolicy": "Never", "containers": [
        {"name": "web", "image": "busybox", "command": ["sh", "-c", "echo hi > /index.html && exec httpd -f -p 8080 -h /"],
         "ports": [{"containerPort": 8080, "hostPort": port, "hostIP": "127.0.0.1"}]},
        {"name": "side", "image": "busybox", "command": ["sleep", "1000"]}]}}
    out = _ok(_play(dy, tmp_path, name, pod))
    assert name in out
    infra = _inspect(dy, f"{name}-infra")
    assert infra["State"]["Running"] and infra["Config"]["Labels"]["io.dockyard.kube.role"] == "infra"
    assert infra["HostConfig"]["PortBindings"] == {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
    assert _get(port) == "hi\n"  # published on the infra
    assert _in(dy, f"{name}-side", "wget", "-qO-", "http://127.0.0.1:8080/index.html") == "hi\n"  # localhost
    for ns in ("net", "ipc"):
        seen = {_in(dy, c, "readlink", f"/proc/self/ns/{ns}") for c in (f"{name}-infra", f"{name}-web", f"{name}-side")}
        assert len(seen) == 1, (ns, seen)
    pids = {_in(dy, c, "readlink", "/proc/self/ns/pid") for c in (f"{name}-web", f"{name}-side")}
    assert len(pids) == 2  # no shareProcessNamespace: each its own
    assert _in(dy, f"{name}-side", "hostname").strip() == name
    for c in ("web", "side"):
        assert _inspect(dy, f"{name}-{c}")["HostConfig"]["RestartPolicy"]["Name"] == "no"  # restartPolicy: Never

    _ok(dy("restart", "-t", "1", f"{name}-web"))  # the namespaces are the infra's: a restart keeps them
    assert _get(port) == "hi\n"
    assert _in(dy, f"{name}-side", "wget", "-qO-", "http://127.0.0.1:8080/index.html") == "hi\n"

    _ok(dy("kube", "generate", name, "-f", "gen.yaml"))
    objects = list(yaml.safe_load_all((tmp_path / "gen.yaml").read_text()))
    [again] = [o for o in objects if o["kind"] == "Pod"]
    assert again["metadata"]["name"] == name and again["spec"]["restartPolicy"] == "Never"
    assert [c["name"] for c in again["spec"]["containers"]] == ["web", "side"]  # no infra
    assert again["spec"]["containers"][0]["ports"] == [
        {"containerPort": 8080, "hostPort": port, "hostIP": "127.0.0.1", "protocol": "TCP"}]
    tool = kubectl()
    if tool:
        assert "kind: Pod" in kubectl_accepts(tool, tmp_path / "gen.yaml", tmp_path)

    assert name in _ok(dy("kube", "down", f"{name}.yaml"))
    assert _ok(dy("ps", "-aq", "--filter", f"label=io.dockyard.kube.pod={name}")).strip() == ""  # the infra too
    _ok(dy("kube", "play", "--network", dy.net, "gen.yaml"))  # type: ignore[attr-defined]
    assert _get(port) == "hi\n"
    assert _in(dy, f"{name}-side", "wget", "-qO-", "http://127.0.0.1:8080/index.html") == "hi\n"


def test_share_process_namespace(dy: Run, tmp_path: Path) -> None:
    name = f"p{uuid.uuid4().hex[:8]}"
    pod = {"metadata": {"name": name}, "spec": {"shareProcessNamespace": True, "containers": [
        {"name": "a", "image": "busybox", "command": ["sleep", "1001"]},
        {"name": "b", "image": "busybox", "command": ["sleep", "1002"]}]}}
    _ok(_play(dy, tmp_path, name, pod))
    for c in ("a", "b"):
        ps = _in(dy, f"{name}-{c}", "ps", "-o", "pid,args")
        assert "sleep 1001" in ps and "sleep 1002" in ps, ps  # each sees the other's process
        first = ps.splitlines()[1].split(None, 1)
        assert first[0] == "1" and first[1].startswith("sh -c trap"), ps  # PID 1: the infra's
    assert _inspect(dy, f"{name}-a")["HostConfig"]["RestartPolicy"]["Name"] == "always"  # restartPolicy: Always
    _ok(dy("kube", "generate", name, "-f", "gen.yaml"))
    [again] = [o for o in yaml.safe_load_all((tmp_path / "gen.yaml").read_text()) if o["kind"] == "Pod"]
    assert again["spec"]["shareProcessNamespace"] is True


def _work(cmd: str) -> dict[str, object]:
    return {"image": "busybox", "command": ["sh", "-c", cmd], "volumeMounts": [{"name": "work", "mountPath": "/work"}]}


def test_init_containers_run_in_order_before_the_app(dy: Run, tmp_path: Path) -> None:
    name = f"p{uuid.uuid4().hex[:8]}"
    pod = {"metadata": {"name": name}, "spec": {
        "restartPolicy": "OnFailure", "volumes": [{"name": "work", "emptyDir": {}}],
        "initContainers": [{"name": "first", **_work("sleep 1; echo one > /work/log")},
                           {"name": "second", **_work("test -f /work/log && echo two >> /work/log")},
                           {"name": "sidecar", "restartPolicy": "Always", **_work("exec sleep 1003")}],
        "containers": [{"name": "app", **_work("cp /work/log /work/seen; exec sleep 1000")}]}}
    _ok(_play(dy, tmp_path, name, pod))
    assert _in(dy, f"{name}-app", "cat", "/work/seen") == "one\ntwo\n"  # both ran, in order, before the app
    first, second, app = (_inspect(dy, f"{name}-{c}")["State"] for c in ("first", "second", "app"))
    assert (first["Status"], first["ExitCode"], second["Status"], second["ExitCode"]) == ("exited", 0, "exited", 0)
    assert first["FinishedAt"] <= second["StartedAt"] and second["FinishedAt"] <= app["StartedAt"]
    assert _inspect(dy, f"{name}-app")["HostConfig"]["RestartPolicy"]["Name"] == "on-failure"
    assert _inspect(dy, f"{name}-first")["HostConfig"]["RestartPolicy"]["Name"] == "no"
    sidecar = _inspect(dy, f"{name}-sidecar")  # an init container with restartPolicy Always: started, kept
    assert sidecar["State"]["Running"] and sidecar["HostConfig"]["RestartPolicy"]["Name"] == "always"
    _ok(dy("kube", "generate", name, "-f", "gen.yaml"))
    [again] = [o for o in yaml.safe_load_all((tmp_path / "gen.yaml").read_text()) if o["kind"] == "Pod"]
    assert [c["name"] for c in again["spec"]["initContainers"]] == ["first", "second", "sidecar"]
    assert [c.get("restartPolicy") for c in again["spec"]["initContainers"]] == [None, None, "Always"]
    assert [c["name"] for c in again["spec"]["containers"]] == ["app"]
    tool = kubectl()
    if tool:
        assert "initContainers:" in kubectl_accepts(tool, tmp_path / "gen.yaml", tmp_path)
    _ok(dy("kube", "down", f"{name}.yaml"))
    vols = _ok(dy("volume", "ls", "-q", "--filter", f"label=io.dockyard.kube.pod={name}"))
    assert vols.strip() == ""  # the emptyDir went with the pod


def test_failing_init_container_stops_the_play(dy: Run, tmp_path: Path) -> None:
    name = f"p{uuid.uuid4().hex[:8]}"
    pod = {"metadata": {"name": name}, "spec": {
        "volumes": [{"name": "work", "emptyDir": {}}],
        "initContainers": [{"name": "ok", **_work("true")},
                           {"name": "broken", **_work("echo cannot migrate >&2; exit 3")},
                           {"name": "never", **_work("touch /work/never")}],
        "containers": [{"name": "app", **_work("exec sleep 1000")}]}}
    r = _play(dy, tmp_path, name, pod)
    assert r.returncode == 3, r.stderr + r.stdout
    assert f"pod {name}: init container broken exited with code 3: cannot migrate" in r.stderr
    assert _ok(dy("ps", "-aq", "--filter", f"label=io.dockyard.kube.pod={name}")).strip() == ""  # nothing left
    assert _ok(dy("volume", "ls", "-q", "--filter", f"label=io.dockyard.kube.pod={name}")).strip() == ""
