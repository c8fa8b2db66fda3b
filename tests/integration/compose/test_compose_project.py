"""``dockyard compose`` against a private dockyardd, and Compose v2 (the real binary) on the same
daemon: each lists and takes down the other's project, with nothing left behind.

Each project gets its own network on a free ``10.216.x.0/24`` (named in the compose file), so
parallel sessions never share a subnet; teardown removes whatever a failed test left."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.conftest import BIN
from tests.integration.compose.conftest import Project, container_json, ok

pytestmark = pytest.mark.root

def test_three_services_up_wait_ps_logs_exec_scale_down(project: Project) -> None:
    p, d = project, project.d
    ok(p.dy("up", "-d", "--wait"))
    web = container_json(d, f"{p.name}-web-1")
    assert web["State"]["Running"]
    labels = web["Config"]["Labels"]
    assert labels["com.docker.compose.project"] == p.name
    assert labels["com.docker.compose.service"] == "web"
    assert labels["com.docker.compose.container-number"] == "1"
    assert labels["com.docker.compose.oneoff"] == "False"
    assert labels["com.docker.compose.project.working_dir"] == str(p.dir)
    assert labels["com.docker.compose.project.config_files"] == str(p.dir / "compose.yaml")
    assert "db:service_healthy:false" in labels["com.docker.compose.depends_on"]
    assert len(labels["com.docker.compose.config-hash"]) == 64
    assert f"{p.name}_default" in web["NetworkSettings"]["Networks"]
    assert container_json(d, f"{p.name}-db-1")["State"]["Health"]["Status"] == "healthy"
    job = container_json(d, f"{p.name}-job-1")["State"]
    assert (job["Status"], job["ExitCode"]) == ("exited", 0)
    net = json.loads(d.cli("network", "inspect", f"{p.name}_default").stdout)[0]
    assert net["Labels"]["com.docker.compose.network"] == "default"
    vol = json.loads(d.cli("volume", "inspect", f"{p.name}_data").stdout)[0]
    assert vol["Labels"]["com.docker.compose.volume"] == "data"

    assert set(ok(p.dy("ps", "--services")).split()) == {"db", "web"}
    assert set(ok(p.dy("ps", "-a", "--services")).split()) == {"db", "job", "web"}
    rows = [json.loads(line) for line in ok(p.dy("ps", "--format", "json")).splitlines()]
    assert {r["Name"] for r in rows} == {f"{p.name}-db-1", f"{p.name}-web-1"}
    assert "job-1  | job done" in ok(p.dy("logs", "--no-color", "job")).splitlines()  # v2's prefix
    assert ok(p.dy("exec", "-T", "web", "cat", "/data/job")) == "job done\n"
    assert ok(p.dy("exec", "-T", "db", "sh", "-c", "echo $ROLE")) == "database\n"

    db_id = web_id = ""
    db_id, web_id = container_json(d, f"{p.name}-db-1")["Id"], web["Id"]
    ok(p.dy("up", "-d", "--wait", "--scale", "web=3"))
    assert set(ok(p.dy("ps", "-q", "web")).split()) >= {web_id}
    assert len(ok(p.dy("ps", "-q", "web")).split()) == 3
    assert container_json(d, f"{p.name}-db-1")["Id"] == db_id  # unchanged: not recreated
    ok(p.dy("up", "-d", "--wait", "--scale", "web=1"))
    assert ok(p.dy("ps", "-q", "web")).split() == [web_id]

    ok(p.dy("up", "-d", "--wait", env={"GREETING": "changed"}))  # only web's config hash changed
    assert container_json(d, f"{p.name}-web-1")["Id"] != web_id
    assert container_json(d, f"{p.name}-db-1")["Id"] == db_id

    ok(p.dy("down", "-v"))
    assert p.leftovers() == {}


def test_run_rm_and_refusals_before_anything_is_made(project: Project) -> None:
    p = project
    out = ok(p.dy("run", "--rm", "-T", "--no-deps", "-e", "X=42", "db", "sh", "-c", "echo run $X"))
    assert "run 42" in out
    assert p.leftovers().get("containers") is None  # --rm
    ok(p.dy("down", "-v"))
    assert p.leftovers() == {}
    (p.dir / "compose.yaml").write_text("services:\n  a: {image: busybox, depends_on: [b]}\n"
                                        "  b: {image: busybox, depends_on: [a]}\n")
    r = p.dy("up", "-d")
    assert r.returncode != 0 and "dependency cycle detected" in r.stderr
    assert p.leftovers() == {}, "a refused project made something"


def test_compose_v2_project_seen_and_taken_down_by_dockyard(project: Project, compose_v2: str) -> None:
    p = project
    ok(p.v2(compose_v2, "up", "-d", "--wait"))
    assert set(ok(p.dy("ps", "--services")).split()) == {"db", "web"}
    assert "job-1  | job done" in ok(p.dy("logs", "--no-color", "job")).splitlines()  # v2's prefix
    assert p.name in ok(p.dy("ls"))
    ok(p.dy("down", "-v"))
    assert p.leftovers() == {}


def test_dockyard_project_seen_and_taken_down_by_compose_v2(project: Project, compose_v2: str) -> None:
    p = project
    ok(p.dy("up", "-d", "--wait"))
    ps = [json.loads(line) for line in ok(p.v2(compose_v2, "ps", "--format", "json")).splitlines() if line]
    assert {r["Service"] for r in ps} == {"db", "web"}
    assert {r["Name"] for r in ps} == {f"{p.name}-db-1", f"{p.name}-web-1"}
    ok(p.v2(compose_v2, "down", "-v"))
    assert p.leftovers() == {}


def test_attached_up_prefixes_logs_and_exit_code_from(project: Project) -> None:
    p = project
    (p.dir / "compose.yaml").write_text("""
services:
  main:
    image: busybox
    command: ["sh", "-c", "echo from main; exit 3"]
  side:
    image: busybox
    command: ["sh", "-c", "echo from side; exec sleep 1000"]
    stop_signal: SIGKILL
networks:
  default:
    ipam:
      config: [{subnet: "${SUBNET}"}]
""")
    r = p.dy("up", "--no-color", "--exit-code-from", "main")
    assert r.returncode == 3, r.stderr
    lines = r.stdout.split("\n")
    # v2's "\r\x1b[K" before the exit line: text mode reads the "\r" as a line end
    assert {"main-1  | from main", "side-1  | from side", "\x1b[Kmain-1 exited with code 3"} <= set(lines), lines
    assert lines[0] == "Attaching to main-1, side-1"  # sorted by name, as v2
    assert not container_json(p.d, f"{p.name}-side-1")["State"]["Running"]  # aborted: the others stopped
    ok(p.dy("down"))
    assert p.leftovers() == {}


def test_build_a_service_image(project: Project) -> None:
    p = project
    (p.dir / "ctx").mkdir()
    (p.dir / "ctx" / "Dockerfile").write_text("FROM busybox\nARG WORD\nRUN echo built $WORD > /built\n")
    (p.dir / "compose.yaml").write_text("""
services:
  app:
    build: {context: ./ctx, args: {WORD: yes-really}}
    command: ["sleep", "1000"]
    stop_signal: SIGKILL
networks:
  default:
    ipam:
      config: [{subnet: "${SUBNET}"}]
""")
    ok(p.dy("up", "-d", "--build"))
    assert ok(p.dy("exec", "-T", "app", "cat", "/built")) == "built yes-really\n"
    assert container_json(p.d, f"{p.name}-app-1")["Config"]["Image"] == f"{p.name}-app"
    ok(p.dy("down", "--rmi", "local"))
    assert p.d.cli("image", "inspect", f"{p.name}-app").returncode != 0
    assert p.leftovers() == {}


INTEROP = """
services:
  db:
    image: busybox
    command: ["sh", "-c", "exec sleep 1000"]
    healthcheck: {test: ["CMD", "true"], interval: 1s, retries: 30}
    volumes: ["data:/data", {type: tmpfs, target: /scratch, tmpfs: {size: 1000000}}]
    environment: {ROLE: "${ROLE:-database}", ZED: "<z&>", ALPHA: "$$HOME"}
    env_file: [app.env]
    labels: {b.label: two, a.label: one}
    ulimits: {nofile: {soft: 1024, hard: 2048}, nproc: 500}
    deploy: {resources: {limits: {cpus: "1", memory: 64M}}}
    cap_add: [NET_ADMIN]
    sysctls: {net.core.somaxconn: 1024}
    extra_hosts: ["h2=10.0.0.2", "h1=10.0.0.1"]
    networks: {default: {aliases: [database]}}
    stop_grace_period: 2s
  job:
    image: busybox
    command: ["sh", "-c", "echo done"]
    restart: "no"
  side:
    image: busybox
    command: ["sleep", "1001"]
    volumes_from: ["db:ro"]
  web:
    image: busybox
    command: ["sleep", "1000"]
    depends_on:
      db: {condition: service_healthy}
      job: {condition: service_completed_successfully}
    ports: ["127.0.0.1::8080"]
    tmpfs: [/run]
    logging: {driver: json-file, options: {max-size: 1m}}
    stop_signal: SIGKILL
    deploy: {replicas: 2}
networks:
  default:
    ipam:
      config: [{subnet: "${SUBNET}"}]
volumes:
  data: {}
"""


def _ids(p: Project) -> dict[str, str]:
    r = p.d.cli("ps", "-aq", "--no-trunc", "--filter", f"label=com.docker.compose.project={p.name}")
    assert r.returncode == 0, r.stderr.decode()
    return {container_json(p.d, cid)["Name"].lstrip("/"): cid for cid in r.stdout.decode().split()}


def _hashes(p: Project) -> dict[str, str]:
    return {name: container_json(p.d, cid)["Config"]["Labels"]["com.docker.compose.config-hash"]
            for name, cid in _ids(p).items()}


@pytest.mark.parametrize("first", ["v2", "dockyard"])
def test_up_by_the_other_tool_recreates_nothing(project: Project, compose_v2: str, first: str) -> None:
    p = project
    (p.dir / "compose.yaml").write_text(INTEROP)
    (p.dir / "app.env").write_text("FROM_FILE=1\n")
    up_v2 = lambda: ok(p.v2(compose_v2, "up", "-d", "--wait"))  # noqa: E731
    up_dy = lambda: ok(p.dy("up", "-d", "--wait"))  # noqa: E731
    (up_v2 if first == "v2" else up_dy)()
    before, hashes = _ids(p), _hashes(p)
    assert len(before) == 5, before
    (up_dy if first == "v2" else up_v2)()
    assert _ids(p) == before, "the second tool recreated containers"
    assert _hashes(p) == hashes
    (p.dir / "compose.yaml").write_text(INTEROP.replace("sleep\", \"1000\"]", "sleep\", \"999\"]"))
    (up_v2 if first == "v2" else up_dy)()
    after = _ids(p)
    assert {n for n in after if after[n] != before.get(n)} == {f"{p.name}-web-1", f"{p.name}-web-2"}


class _CountingClient:
    """The real client, counting the container inspections a wait makes."""

    def __init__(self, host: str) -> None:
        from dockyard.client.http import Client

        self.inner = Client(host)
        self.inspections = 0

    def json(self, method: str, path: str, *args: object, **kw: object) -> object:
        if method == "GET" and path.startswith("/containers/") and path.endswith("/json"):
            self.inspections += 1
        return self.inner.json(method, path, *args, **kw)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def test_waiting_for_health_reads_the_state_on_events_not_by_polling(project: Project) -> None:
    from dockyard.compose import loader
    from dockyard.compose.ops import Compose

    p = project
    (p.dir / "compose.yaml").write_text("""
services:
  slow:
    image: busybox
    command: ["sh", "-c", "sleep 4; touch /ready; exec sleep 1000"]
    healthcheck: {test: ["CMD", "test", "-e", "/ready"], interval: 1s, retries: 30}
networks:
  default:
    ipam:
      config: [{subnet: "${SUBNET}"}]
""")
    project_model = loader.load(loader.Options(project_name=p.name, environ=p.env, workdir=str(p.dir)))
    client = _CountingClient(p.d.host)
    cp = Compose(client, p.name, project_model, out=lambda line: None)
    cp.up()
    client.inspections = 0
    started = time.monotonic()
    cp.wait_condition("slow", "service_healthy", limit=60)
    assert time.monotonic() - started > 2, "healthy before the probe could pass"
    # a read is a list and an inspect: once at first and once on "health_status: healthy" (polling
    # with a 50 ms to 500 ms backoff read 14 times in those 4 s)
    assert client.inspections <= 4, client.inspections
    assert cp._events is None, "the event stream outlived the wait"


def test_a_failure_partway_through_up_leaves_what_down_removes(project: Project) -> None:
    p = project
    (p.dir / "compose.yaml").write_text("""
services:
  ok:
    image: busybox
    command: ["sleep", "1000"]
    stop_signal: SIGKILL
    volumes: ["data:/data"]
  broken:
    image: busybox
    command: ["/no/such/program"]
    depends_on: [ok]
  after:
    image: busybox
    command: ["sleep", "1000"]
    depends_on: [broken]
networks:
  default:
    ipam:
      config: [{subnet: "${SUBNET}"}]
volumes:
  data: {}
""")
    r = p.dy("up", "-d")
    assert r.returncode != 0, r.stdout
    made = p.leftovers()
    assert made.get("containers") and made.get("networks") and made.get("volumes"), made
    assert not any(container_json(p.d, c)["State"]["Running"] for c in made["containers"]
                   if container_json(p.d, c)["Name"].endswith("-after-1")), "a dependent of the failure was started"
    ok(p.dy("down", "-v"))
    assert p.leftovers() == {}


def test_logs_window_pull_never_and_no_attach(project: Project) -> None:
    p = project
    (p.dir / "compose.yaml").write_text("""
services:
  chatty:
    image: busybox
    command: ["sh", "-c", "echo chatty-line"]
  quiet:
    image: busybox
    command: ["sh", "-c", "echo quiet-line"]
networks:
  default:
    ipam:
      config: [{subnet: "${SUBNET}"}]
""")
    out = ok(p.dy("up", "--no-attach", "quiet", "--no-color"))
    assert "chatty-line" in out and "quiet-line" not in out
    assert "quiet-line" in ok(p.dy("logs", "--no-color", "quiet"))
    assert "quiet-line" not in ok(p.dy("logs", "--no-color", "--since", "2999-01-01T00:00:00Z", "quiet"))
    assert "quiet-line" not in ok(p.dy("logs", "--no-color", "--until", "1971-01-01T00:00:00Z", "quiet"))
    ok(p.dy("down"))
    (p.dir / "compose.yaml").write_text("services:\n  gone:\n    image: no-such-image:1\n")
    r = p.dy("up", "-d", "--pull", "never")
    assert r.returncode != 0 and "no-such-image:1" in r.stderr, r.stderr
    assert p.leftovers() == {}, "a refused pull left something"


def test_watch_syncs_deletes_and_restarts(project: Project) -> None:
    p = project
    (p.dir / "src" / "sub").mkdir(parents=True)
    (p.dir / "conf").mkdir()
    (p.dir / "compose.yaml").write_text("""
services:
  app:
    image: busybox
    command: ["sh", "-c", "mkdir -p /app/sub /etc/app; exec sleep 1000"]
    stop_signal: SIGKILL
    develop:
      watch:
        - {path: ./src, action: sync, target: /app, ignore: ["*.tmp"]}
        - {path: ./conf, action: sync+restart, target: /etc/app}
networks:
  default:
    ipam:
      config: [{subnet: "${SUBNET}"}]
""")
    log = p.dir / "watch.log"
    proc = subprocess.Popen([str(BIN / "dockyard"), "-H", p.d.host, "compose", "-p", p.name, "watch"], cwd=p.dir,
                            env=p.env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    cid = ""

    def in_container(*argv: str) -> str:
        r = p.d.cli("exec", cid, *argv)
        return r.stdout.decode() if r.returncode == 0 else ""

    def until(check: object, what: str) -> None:
        deadline = time.monotonic() + 30
        while not check():  # type: ignore[operator]
            assert time.monotonic() < deadline, f"{what}; watch said: {log.read_text()}"
            time.sleep(0.2)

    try:
        until(lambda: p.leftovers().get("containers"), "no container came up")
        cid = p.leftovers()["containers"][0]
        until(lambda: container_json(p.d, cid)["State"]["Running"], "the container never ran")
        time.sleep(1)  # the watch's first walk
        (p.dir / "src" / "sub" / "a.txt").write_text("one\n")
        (p.dir / "src" / "skip.tmp").write_text("ignored\n")
        until(lambda: in_container("cat", "/app/sub/a.txt") == "one\n", "a new file was not synced")
        assert in_container("ls", "/app").split() == ["sub"], "an ignored file was synced"
        (p.dir / "src" / "sub" / "a.txt").unlink()
        until(lambda: in_container("ls", "/app/sub") == "", "a deleted file stayed")
        started = container_json(p.d, cid)["State"]["StartedAt"]
        (p.dir / "conf" / "app.conf").write_text("x=1\n")
        until(lambda: container_json(p.d, cid)["State"]["StartedAt"] != started, "sync+restart did not restart")
        until(lambda: in_container("cat", "/etc/app/app.conf") == "x=1\n", "the restarted container lost the file")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert "Syncing service 'app' after 1 changes were detected" in log.read_text()
    ok(p.dy("down"))


def test_dry_run_changes_nothing(project: Project) -> None:
    p = project
    r = p.dy("--dry-run", "up", "-d", "--wait")
    out = ok(r) + r.stderr
    assert f"DRY-RUN MODE -  Container {p.name}-web-1  Created" in out, out
    assert p.leftovers() == {}, "a dry run made something"
    ok(p.dy("up", "-d"))
    made = p.leftovers()
    r = p.dy("--dry-run", "down", "-v")
    out = ok(r) + r.stderr
    assert f"DRY-RUN MODE -  Container {p.name}-db-1  Removed" in out, out
    assert p.leftovers() == made, "a dry run took something down"
    ok(p.dy("down", "-v"))


def test_watch_rebuild_recreates_the_container_from_a_new_image(project: Project) -> None:
    p = project
    (p.dir / "ctx").mkdir()
    (p.dir / "ctx" / "Dockerfile").write_text("FROM busybox\nCOPY v.txt /v.txt\nCMD [\"sleep\", \"1000\"]\n")
    (p.dir / "ctx" / "v.txt").write_text("v1\n")
    (p.dir / "compose.yaml").write_text("""
services:
  app:
    build: ./ctx
    stop_signal: SIGKILL
    develop:
      watch:
        - {path: ./ctx, action: rebuild}
networks:
  default:
    ipam:
      config: [{subnet: "${SUBNET}"}]
""")
    log = p.dir / "watch.log"
    proc = subprocess.Popen([str(BIN / "dockyard"), "-H", p.d.host, "compose", "-p", p.name, "watch"], cwd=p.dir,
                            env=p.env, stdout=log.open("w"), stderr=subprocess.STDOUT)

    def running_file() -> str:
        ids = p.leftovers().get("containers") or []
        if len(ids) != 1:
            return ""
        r = p.d.cli("exec", ids[0], "cat", "/v.txt")
        return r.stdout.decode() if r.returncode == 0 else ""

    try:
        deadline = time.monotonic() + 60
        while running_file() != "v1\n":
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)
        first = p.leftovers()["containers"][0]
        time.sleep(1)  # the watch's first walk
        (p.dir / "ctx" / "v.txt").write_text("v2\n")
        while running_file() != "v2\n":
            assert time.monotonic() < deadline + 60, log.read_text()
            time.sleep(0.3)
        assert p.leftovers()["containers"][0] != first
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert "Rebuilding service 'app'" in log.read_text()
    ok(p.dy("down", "--rmi", "local"))
