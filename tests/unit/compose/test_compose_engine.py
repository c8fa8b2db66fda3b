"""Services to Engine API bodies: names, Compose v2's labels, and each service key the engine applies."""

from __future__ import annotations

from pathlib import Path

from dockyard.compose import engine, loader

CORPUS = Path(__file__).parent / "corpus"


def project(name: str = "full") -> loader.Project:
    return loader.load(loader.Options(workdir=str(CORPUS / name), environ={}))


def test_names_and_labels() -> None:
    p = project()
    body = engine.container_body(p, "web", 2, "sha256:abc")
    labels = body["Labels"]
    assert engine.container_name(p, "web", 2) == "p2-web-2"
    assert labels["com.docker.compose.project"] == "p2"
    assert labels["com.docker.compose.service"] == "web"
    assert labels["com.docker.compose.container-number"] == "2"
    assert labels["com.docker.compose.oneoff"] == "False"
    assert labels["com.docker.compose.image"] == "sha256:abc"
    assert labels["com.docker.compose.depends_on"] == "app:service_started:true"
    assert labels["com.docker.compose.project.working_dir"] == str(CORPUS / "full")
    assert labels["com.docker.compose.version"] == engine.COMPOSE_VERSION
    assert engine.network_body(p, "front")["Labels"]["com.docker.compose.network"] == "front"
    assert engine.network_body(p, "front")["Name"] == "p2_front"
    assert engine.network_body(p, "back")["Internal"] is True


def test_service_keys_to_the_api() -> None:
    body = engine.container_body(project(), "app", 1)
    host = body["HostConfig"]
    assert body["Image"] == "p2-app"  # built: <project>-<service>
    assert body["Env"] == ["X=1", "Y=two", "Z=3"]
    assert body["Entrypoint"] == ["/bin/sh", "-c"] and body["User"] == "1000"
    assert body["StopSignal"] == "SIGINT" and body["StopTimeout"] == 90
    assert body["Healthcheck"] == {"Test": ["CMD-SHELL", "curl x"], "Interval": 90 * 10**9, "Timeout": 90 * 10**9,
                                   "StartPeriod": 500_000_000, "Retries": 3}
    assert set(body["ExposedPorts"]) == {"80/tcp", "90/tcp", "91/tcp"}
    assert host["RestartPolicy"] == {"Name": "unless-stopped", "MaximumRetryCount": 0}
    assert host["Memory"] == 100 << 20 and host["NanoCpus"] == 500_000_000 and host["MemoryReservation"] == 10 << 20
    assert host["ShmSize"] == 64 << 20 and host["Init"] is True
    assert host["CapAdd"] == ["NET_ADMIN"] and host["Dns"] == ["8.8.8.8"]
    assert host["ExtraHosts"] == ["h1:1.2.3.4", "h2:5.6.7.8"]
    assert host["Sysctls"] == {"net.core.somaxconn": "1024"}
    assert {"Name": "nofile", "Soft": 100, "Hard": 200} in host["Ulimits"]
    assert {"Name": "nproc", "Soft": 50, "Hard": 50} in host["Ulimits"]
    assert host["Devices"] == [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/xnull", "CgroupPermissions": "rwm"}]
    assert host["Tmpfs"] == {"/run": ""}
    assert host["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "1m"}}
    mounts = {m["Target"]: m for m in host["Mounts"]}
    assert mounts["/tmpx"]["TmpfsOptions"] == {"SizeBytes": 1000}
    assert mounts["/e"]["Source"] == "ext"  # external volume: its own name
    assert mounts["/run/secrets/s1"] == {"Type": "bind", "Source": str(CORPUS / "full" / "s1.txt"),
                                         "Target": "/run/secrets/s1", "ReadOnly": True}
    eps = body["NetworkingConfig"]["EndpointsConfig"]
    assert eps["p2_front"] == {"Aliases": ["p2-app-1", "app", "a1"], "IPAMConfig": {"IPv4Address": "172.30.0.5"}}
    assert eps["p2_back"] == {"Aliases": ["p2-app-1", "app"]}


def test_network_mode_pid_ipc_links() -> None:
    host = engine.container_body(project(), "web", 1)["HostConfig"]
    assert host["NetworkMode"] == "host" and host["PidMode"] == "host" and host["IpcMode"] == "shareable"


def test_inline_secrets_and_configs_become_files() -> None:
    p = project()
    p.environment["X"] = "secret-x"
    files = dict((path, data) for path, data, _ in engine.inline_files(p, "app"))
    assert files == {"/x/s2": b"secret-x", "/c1": b"hello $X"}


def test_config_hash_ignores_scale_and_notices_changes() -> None:
    svc = {"image": "busybox", "environment": {"A": "1"}, "deploy": {"replicas": 2}}
    same = {**svc, "deploy": {"replicas": 5}, "depends_on": {"x": {}}}
    other = {**svc, "environment": {"A": "2"}}
    assert engine.config_hash(svc) == engine.config_hash(same)
    assert engine.config_hash(svc) != engine.config_hash(other)
    assert engine.replicas(svc) == 2 and engine.replicas({"scale": 3}) == 3 and engine.replicas({}) == 1


def test_go_json_escapes_sorts_maps_and_drops_integral_fractions() -> None:
    from dockyard.compose import gojson

    svc = {"image": "x", "environment": {"B": "<&>", "A": "é\u2028"}, "cpus": 1.0, "command": None,
           "deploy": {"resources": {"limits": {"cpus": 0.5}}, "mode": "replicated", "replicas": 3}}
    assert gojson.marshal(svc, "service") == (
        '{"cpus":1,"command":null,"deploy":{"mode":"replicated","replicas":3,"resources":{"limits":{"cpus":0.5}}},'
        '"environment":{"A":"é\\u2028","B":"\\u003c\\u0026\\u003e"},"image":"x"}').encode()
    assert gojson.service_hash(svc) == gojson.service_hash({**svc, "scale": 4, "profiles": ["p"],
                                                            "deploy": {**svc["deploy"], "replicas": 9}})


class _StopRecorder:
    """A client whose stops take 0.2 s each, recording when each began and ended."""

    def __init__(self) -> None:
        import threading

        self.spans: dict[str, tuple[float, float]] = {}
        self.lock = threading.Lock()

    def request(self, method: str, path: str, params: object = None) -> object:
        import io
        import time

        begin = time.monotonic()
        time.sleep(0.2)
        with self.lock:
            self.spans[("stop" if method == "POST" else "rm") + " " + path.split("/")[2]] = (begin, time.monotonic())
        return io.BytesIO()


def test_down_removes_dependents_first_and_independent_services_together() -> None:
    from dockyard.compose.ops import Compose

    def container(service: str, depends: str = "") -> dict[str, object]:
        return {"Id": service, "Names": [f"/p-{service}-1"], "State": "running",
                "Labels": {engine.SERVICE: service, engine.DEPENDS: depends}}

    client = _StopRecorder()
    cp = Compose(client, "p", out=lambda line: None)
    cp._remove_in_order([container("db"), container("web", "db:service_started:false"), container("a"),
                         container("b"), container("c")], timeout=1)
    spans = client.spans
    assert spans["rm web"][1] <= spans["stop db"][0], "db stopped before its dependent web was gone"
    for s in ("a", "b", "c", "web", "db"):
        assert spans[f"stop {s}"][1] <= spans[f"rm {s}"][0], f"{s} removed before it stopped"
    independent = [spans[f"stop {s}"] for s in ("a", "b", "c", "web")]
    assert max(b for b, _ in independent) < min(e for _, e in independent), "independent services stopped one by one"


def test_down_with_no_time_to_stop_removes_by_force_in_one_call() -> None:
    from dockyard.compose.ops import Compose

    client = _StopRecorder()
    cp = Compose(client, "p", out=lambda line: None)
    cp._remove_in_order([{"Id": s, "Names": [f"/p-{s}-1"], "State": "running", "Labels": {engine.SERVICE: s}}
                         for s in ("a", "b")], timeout=0)
    assert sorted(client.spans) == ["rm a", "rm b"]


def test_watch_walk_ignores_includes_and_diffs(tmp_path: Path) -> None:
    import os

    from dockyard.compose import watch

    (tmp_path / "node_modules").mkdir()
    (tmp_path / "node_modules" / "dep.js").write_text("x")
    (tmp_path / "a.py").write_text("1")
    (tmp_path / "b.tmp").write_text("1")
    trigger = {"path": str(tmp_path), "ignore": ["node_modules/", "*.tmp"]}
    before = watch.snapshot(trigger)
    assert sorted(before) == ["a.py"]
    (tmp_path / "c.py").write_text("2")
    os.utime(tmp_path / "a.py", ns=(1, 1))
    (tmp_path / "b.tmp").write_text("changed")
    assert watch.diff(before, watch.snapshot(trigger)) == (["a.py", "c.py"], [])
    (tmp_path / "a.py").unlink()
    assert watch.diff(before, watch.snapshot(trigger)) == (["c.py"], ["a.py"])
    assert sorted(watch.snapshot({**trigger, "include": ["c.*"]})) == ["c.py"]


def test_host_keys_volumes_from_and_blkio_reach_the_create_body(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text("""
services:
  data: {image: busybox, volumes: ["/shared"]}
  app:
    image: busybox
    volumes_from: ["data:ro", "container:other"]
    mem_swappiness: 10
    oom_kill_disable: true
    cpu_quota: 50000
    cgroup: private
    device_cgroup_rules: ["c 1:3 mr"]
    annotations: {a: "1"}
    blkio_config: {weight: 300, device_read_bps: [{path: /dev/sda, rate: 1mb}]}
""")
    p = loader.load(loader.Options(workdir=str(tmp_path), environ={}))
    host = engine.container_body(p, "app", 1, resolve=lambda service: f"id-of-{service}")["HostConfig"]
    assert host["VolumesFrom"] == ["id-of-data:ro", "other"]
    assert (host["MemorySwappiness"], host["OomKillDisable"], host["CpuQuota"]) == (10, True, 50000)
    assert (host["CgroupnsMode"], host["DeviceCgroupRules"], host["Annotations"]) == ("private", ["c 1:3 mr"], {"a": "1"})
    assert host["BlkioWeight"] == 300
    assert host["BlkioDeviceReadBps"] == [{"Path": "/dev/sda", "Rate": 1 << 20}]


def test_network_and_volume_config_hashes_are_compose_v2_s(tmp_path: Path) -> None:
    """The labels Compose v2 2.40.3 put on these networks and volumes (project lbv)."""
    (tmp_path / "compose.yaml").write_text("""
services:
  a: {image: busybox, volumes: [data:/d, plain:/p], networks: [n1, n2, default]}
networks:
  n1: {}
  n2:
    internal: true
    attachable: false
    labels: {z: "1", a: "2"}
    ipam: {config: [{subnet: 10.219.98.0/24}]}
  default:
    enable_ipv6: false
    ipam: {driver: default}
volumes:
  data: {labels: {q: "1"}}
  plain: {}
""")
    p = loader.load(loader.Options(workdir=str(tmp_path), project_name="lbv", environ={}))
    hashes = {k: engine.network_body(p, k)["Labels"][engine.HASH] for k in p.networks}
    hashes.update({k: engine.volume_body(p, k)["Labels"][engine.HASH] for k in p.volumes})
    assert hashes == {
        "n1": "5c4ac044203510144acd19975d10f063f5b9de9a636088133b96cba6f9306952",
        "n2": "08386ab8c181bdf393a10c4df34b2067fe3ef2bd55cfd22d5ebf0203e247a553",
        "default": "2a980a3732e3af7232514d2882d810e84c5406972ee2b088691140be82fa7e3e",
        "data": "37eb681e9ad60a1e6b2e40aa449ea07cffdc43a0b2f06706646bdf14f4141fb9",
        "plain": "ddb9e1a8bf1875049b82979c5af793fbbe6115758eacbda3fbd41112aed4487c",
    }


class _Recorder:
    """A daemon of one running container of service ``app``: records every call but the listing."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def json(self, method: str, path: str, params: object = None, body: object = None) -> object:
        if path == "/containers/json":
            return [{"Id": "c1", "Names": ["/p-app-1"], "State": "running", "Labels": {engine.SERVICE: "app"}}]
        self.calls.append(f"{method} {path}")
        return {"Id": "e1"}

    def request(self, method: str, path: str, params: object = None, body: object = None,
                headers: object = None) -> object:
        import io

        self.calls.append(f"{method} {path}")
        return io.BytesIO()


def test_dry_run_restart_runs_no_post_start_hook() -> None:
    import argparse

    from dockyard.compose.commands import cmd_restart
    from dockyard.compose.dryrun import DryRunClient
    from dockyard.compose.ops import Compose
    from dockyard.compose.project import Project

    services = {"app": {"image": "busybox", "post_start": [{"command": ["touch", "/started"]}]}}
    project = Project("p", "/tmp", [], services, {}, {}, {}, {}, {}, {})
    inner = _Recorder()
    cp = Compose(DryRunClient(inner), "p", project, out=lambda line: None, dry_run=True)
    assert cmd_restart(cp, argparse.Namespace(services=[], timeout=None)) == 0
    assert inner.calls == [], "a dry run reached the daemon"
