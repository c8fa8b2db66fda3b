"""The multi-service project issue 16 asks to see working end to end: a built image, healthchecks,
``depends_on`` conditions, two networks (one internal), a named volume, env files and a profile;
``up --wait``, ``logs``, ``exec``, ``run --rm``, ``down -v``. And ``network_mode: service:X``."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from tests.conftest import BIN, free_subnet
from tests.integration.compose.conftest import Project, container_json, ok

pytestmark = pytest.mark.root

SHOWCASE = """
services:
  db:
    build: {context: ./db, args: {WORD: built-db}}
    command: ["sh", "-c", "echo db ready; exec sleep 1000"]
    healthcheck: {test: ["CMD", "test", "-e", "/built"], interval: 1s, retries: 30}
    env_file: [db.env]
    networks: [back]
    volumes: ["data:/data"]
    stop_signal: SIGKILL
  migrate:
    image: busybox
    command: ["sh", "-c", "echo migrated > /data/migrated; echo migration done"]
    depends_on: {db: {condition: service_healthy}}
    networks: [back]
    volumes: ["data:/data"]
  web:
    image: busybox
    command: ["sh", "-c", "echo web up; exec sleep 1000"]
    depends_on:
      db: {condition: service_healthy}
      migrate: {condition: service_completed_successfully}
    env_file: [web.env]
    environment: ["MODE=${MODE:-prod}"]
    networks: [front, back]
    healthcheck: {test: ["CMD", "true"], interval: 1s, retries: 30}
    stop_signal: SIGKILL
  debug:
    image: busybox
    profiles: [debug]
    command: ["sleep", "1000"]
    networks: [back]
    stop_signal: SIGKILL
networks:
  front:
    ipam: {config: [{subnet: "${SUBNET}"}]}
  back:
    internal: true
    ipam: {config: [{subnet: "${SUBNET_BACK}"}]}
volumes:
  data: {}
"""


def _showcase(p: Project) -> None:
    (p.dir / "db").mkdir()
    (p.dir / "db" / "Dockerfile").write_text("FROM busybox\nARG WORD\nRUN echo $WORD > /built\n")
    (p.dir / "compose.yaml").write_text(SHOWCASE)
    (p.dir / "db.env").write_text("DB_NAME=shop\n")
    (p.dir / "web.env").write_text("# the web's settings\nGREETING='hello from web.env'\n")
    (p.dir / ".env").write_text("MODE=staging\n")
    p.env["SUBNET_BACK"] = free_subnet("10.216")


def test_the_showcase_project(project: Project) -> None:
    p, d = project, project.d
    _showcase(p)
    ok(p.dy("up", "--wait"))
    names = {r["Service"]: r for r in (json.loads(line) for line in ok(p.dy("ps", "-a", "--format", "json"))
                                       .splitlines())}
    assert set(names) == {"db", "migrate", "web"}, "the debug profile was not asked for"
    db, web = container_json(d, f"{p.name}-db-1"), container_json(d, f"{p.name}-web-1")
    assert db["State"]["Health"]["Status"] == "healthy" and web["State"]["Health"]["Status"] == "healthy"
    migrate = container_json(d, f"{p.name}-migrate-1")["State"]
    assert (migrate["Status"], migrate["ExitCode"]) == ("exited", 0)
    assert container_json(d, f"{p.name}-db")["Config"]  # the built image, named <project>-<service>
    assert ok(p.dy("exec", "-T", "db", "cat", "/built")) == "built-db\n"

    assert set(web["NetworkSettings"]["Networks"]) == {f"{p.name}_front", f"{p.name}_back"}
    assert set(db["NetworkSettings"]["Networks"]) == {f"{p.name}_back"}
    back = json.loads(d.cli("network", "inspect", f"{p.name}_back").stdout)[0]
    assert back["Internal"] is True
    assert "default" not in ok(p.dy("exec", "-T", "db", "ip", "route")), "an internal network has no way out"
    assert "default" in ok(p.dy("exec", "-T", "web", "ip", "route"))
    ok(p.dy("exec", "-T", "web", "ping", "-c", "1", "-W", "5", "db"))  # by service name, on the back network

    env = ok(p.dy("exec", "-T", "web", "sh", "-c", 'echo "$GREETING/$MODE"'))
    assert env == "hello from web.env/staging\n"
    assert ok(p.dy("exec", "-T", "db", "sh", "-c", "echo $DB_NAME")) == "shop\n"
    logs = {tuple(part.strip() for part in line.split("|", 1)) for line in ok(p.dy("logs", "--no-color")).splitlines()}
    assert {("db-1", "db ready"), ("migrate-1", "migration done"), ("web-1", "web up")} <= logs  # v2's prefixes

    assert ok(p.dy("run", "--rm", "-T", "migrate", "cat", "/data/migrated")) == "migrated\n"
    (p.dir / "extra").mkdir()
    (p.dir / "extra" / "f").write_text("from -v\n")
    out = ok(p.dy("run", "--rm", "-T", "-v", "./extra:/mnt:ro", "--cap-drop", "NET_RAW",
                  "migrate", "sh", "-c", "cat /mnt/f; grep CapEff /proc/self/status"))
    assert out.startswith("from -v\n")
    assert not int(out.split()[-1], 16) & (1 << 13), "--cap-drop NET_RAW (bit 13) not dropped"
    name = ok(p.dy("run", "-d", "-l", "run.label=yes", "migrate", "sleep", "30")).strip()
    assert container_json(d, name)["Config"]["Labels"]["run.label"] == "yes"
    d.cli("rm", "-f", name)
    assert len(p.leftovers()["containers"]) == 3, "run --rm left its container"

    ok(p.dy("--profile", "debug", "up", "-d", "--wait", "debug"))
    assert "debug" in ok(p.dy("--profile", "debug", "ps", "--services")).split()
    assert container_json(d, f"{p.name}-db-1")["Id"] == db["Id"], "bringing up debug recreated db"

    ok(p.dy("--profile", "debug", "down", "-v"))
    assert p.leftovers() == {}
    assert d.cli("image", "inspect", f"{p.name}-db").returncode == 0, "down without --rmi keeps the built image"
    d.cli("rmi", f"{p.name}-db")


SHARED_NETNS = """
services:
  app:
    image: busybox
    command: ["sleep", "1000"]
    stop_signal: SIGKILL
  sidecar:
    image: busybox
    command: ["sleep", "1000"]
    network_mode: service:app
    stop_signal: SIGKILL
networks:
  default:
    ipam: {config: [{subnet: "${SUBNET}"}]}
"""


def _netns(p: Project, container: str) -> str:
    return os.readlink(f"/proc/{container_json(p.d, container)['State']['Pid']}/ns/net")


@pytest.mark.parametrize("tool", ["dockyard", "v2"])
def test_network_mode_service_shares_the_network_namespace(project: Project, compose_v2: str, tool: str) -> None:
    p = project
    (p.dir / "compose.yaml").write_text(SHARED_NETNS)
    def dy(*args: str) -> str:
        return ok(p.dy(*args))

    def v2(*args: str) -> str:
        return ok(p.v2(compose_v2, *args))

    run, other = (dy, v2) if tool == "dockyard" else (v2, dy)
    run("up", "-d", "--wait")
    app, sidecar = f"{p.name}-app-1", f"{p.name}-sidecar-1"
    assert _netns(p, app) == _netns(p, sidecar)
    app_id = container_json(p.d, app)["Id"]
    assert container_json(p.d, sidecar)["HostConfig"]["NetworkMode"] == f"container:{app_id}"
    other("up", "-d", "--wait")  # the other tool finds it converged: nothing recreated
    assert container_json(p.d, app)["Id"] == app_id
    assert container_json(p.d, sidecar)["HostConfig"]["NetworkMode"] == f"container:{app_id}"
    other("down")
    assert p.leftovers() == {}


def test_cp_and_events_print_as_compose_v2(project: Project, compose_v2: str) -> None:
    p = project
    (p.dir / "compose.yaml").write_text(SHARED_NETNS.replace("    network_mode: service:app\n", ""))
    (p.dir / "note.txt").write_text("copied in\n")
    ok(p.dy("up", "-d", "--wait"))
    ok(p.dy("cp", "note.txt", "app:/tmp/note.txt"))
    assert ok(p.dy("exec", "-T", "app", "cat", "/tmp/note.txt")) == "copied in\n"
    ok(p.dy("cp", "app:/tmp/note.txt", str(p.dir / "out.txt")))
    assert (p.dir / "out.txt").read_text() == "copied in\n"
    r = p.dy("cp", "nosuch:/x", str(p.dir / "x"))
    assert r.returncode == 1 and 'no container found for service "nosuch"' in r.stderr

    def follow(argv: list[str]) -> subprocess.Popen[str]:
        return subprocess.Popen(argv, cwd=p.dir, env=p.env, stdout=subprocess.PIPE, text=True)

    dy_argv = [str(BIN / "dockyard"), "-H", p.d.host, "compose", "-p", p.name]
    watchers = [follow([*dy_argv, "events", "--json", "app"]), follow([compose_v2, "-p", p.name, "events", "--json",
                                                                       "app"]),
                follow([*dy_argv, "events", "app"])]
    try:
        time.sleep(2)  # both streams open
        ok(p.dy("kill", "sidecar"))  # not followed: another service
        ok(p.dy("kill", "app"))
        time.sleep(2)
    finally:
        for w in watchers:
            w.terminate()
    dy_json, v2_json, dy_text = (w.communicate(timeout=10)[0] for w in watchers)
    assert dy_json and dy_json == v2_json, (dy_json, v2_json)
    die = json.loads(dy_json.splitlines()[-1])
    assert (die["service"], die["type"]) == ("app", "container")
    assert not any(k.startswith("com.docker.compose.") for k in die["attributes"])
    assert f"container {die['action']} {die['id']} (" in dy_text and dy_text.endswith(")\n\n")
    ok(p.dy("down"))
    assert p.leftovers() == {}


RESTARTS = """
services:
  db:
    image: busybox
    command: ["sleep", "1000"]
    stop_signal: SIGKILL
    environment:
      - V=${V:-1}
  web:
    image: busybox
    command: ["sleep", "1000"]
    stop_signal: SIGKILL
    depends_on:
      db: {condition: service_started, restart: true}
  other:
    image: busybox
    command: ["sleep", "1000"]
    stop_signal: SIGKILL
    depends_on: [db]
networks:
  default:
    ipam: {config: [{subnet: "${SUBNET}"}]}
"""


@pytest.mark.parametrize("tool", ["dockyard", "v2"])
def test_depends_on_restart_follows_the_dependency(project: Project, compose_v2: str, tool: str) -> None:
    """``restart: true``: a dependency recreated by up, or restarted, restarts web; other stays."""
    p = project
    (p.dir / "compose.yaml").write_text(RESTARTS)

    def run(*args: str, env: dict[str, str] | None = None) -> str:
        if tool == "dockyard":
            return ok(p.dy(*args, env=env))
        return ok(subprocess.run([compose_v2, "-p", p.name, *args], cwd=p.dir, env={**p.env, **(env or {})},
                                 capture_output=True, text=True, timeout=180))

    def started() -> dict[str, tuple[str, str]]:
        return {s: (c["Id"], c["State"]["StartedAt"]) for s in ("db", "web", "other")
                for c in [container_json(p.d, f"{p.name}-{s}-1")]}

    run("up", "-d")
    first = started()
    time.sleep(1.1)
    run("up", "-d", env={"V": "2"})
    second = started()
    assert second["db"][0] != first["db"][0], "db's config changed: recreated"
    assert second["web"][0] == first["web"][0] and second["web"][1] != first["web"][1], "web restarted in place"
    assert second["other"] == first["other"], "other (no restart: true) untouched"
    time.sleep(1.1)
    run("restart", "db", env={"V": "2"})
    third = started()
    assert third["web"][1] != second["web"][1] and third["other"] == second["other"]
    run("down", "-t", "0")
    assert p.leftovers() == {}
