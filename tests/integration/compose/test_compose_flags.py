"""Compose v2's flags and keys beside the basics, each against the real Compose v2 on the same
daemon: lifecycle hooks, ``gpus``, ``build`` and ``run`` flags, the ``--progress`` writers."""

from __future__ import annotations

import json
import re
import subprocess
import urllib.request

from tests.integration.compose.conftest import Project, container_json, ok

NETWORK = """
networks:
  default:
    ipam:
      config: [{subnet: "${SUBNET}"}]
"""

HOOKS = """
services:
  web:
    image: busybox
    command: ["sleep", "1000"]
    stop_grace_period: 1s
    volumes: ["marks:/marks"]
    post_start:
      - command: ["sh", "-c", "echo started-$$TOOL >> /marks/log"]
        environment: {TOOL: hooked}
    pre_stop:
      - command: sh -c 'echo stopping >> /marks/log'
volumes:
  marks: {}
""" + NETWORK


def _tools(p: Project, v2: str) -> list[tuple[str, object]]:
    return [("dockyard", p.dy), ("v2", lambda *a, **kw: p.v2(v2, *a, **kw))]


def _volume_file(p: Project, volume: str, path: str) -> str:
    r = p.d.cli("run", "--rm", "-v", f"{volume}:/m", "busybox", "cat", f"/m/{path}")
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout.decode()


def test_post_start_and_pre_stop_hooks_run_as_v2_runs_them(project: Project, compose_v2: str) -> None:
    """v2 2.40.3 runs pre_stop before each stop of `stop`, `down` and `restart` (and post_start after a
    restart) when it reads the project's files; for `-p NAME` without `-f` (its `projectOrName`) it
    reads none and knows the project from its containers' labels, so no hook runs. Both tools run the
    same hooks for the same command lines (our harness always passes `-p`)."""
    p = project
    (p.dir / "compose.yaml").write_text(HOOKS)
    logs = {}
    f = ("-f", "compose.yaml")
    for tool, run in _tools(p, compose_v2):
        ok(run("up", "-d"))  # type: ignore[operator]
        assert ok(run("exec", "-T", "web", "cat", "/marks/log")) == "started-hooked\n"  # type: ignore[operator]
        ok(run("stop"))  # type: ignore[operator]  # -p alone: no hook
        ok(run("up", "-d"))  # type: ignore[operator]
        ok(run(*f, "stop"))  # type: ignore[operator]
        ok(run("up", "-d"))  # type: ignore[operator]
        ok(run(*f, "restart"))  # type: ignore[operator]
        ok(run("restart"))  # type: ignore[operator]  # -p alone: no hook
        ok(run(*f, "down"))  # type: ignore[operator]
        ok(run("up", "-d"))  # type: ignore[operator]
        ok(run("down"))  # type: ignore[operator]  # -p alone: no hook
        logs[tool] = _volume_file(p, f"{p.name}_marks", "log")
        ok(run("down", "-v"))  # type: ignore[operator]
        assert p.leftovers() == {}
    assert logs["v2"] == ("started-hooked\n" * 2 + "stopping\n" + "started-hooked\n"
                          + "stopping\nstarted-hooked\n" + "stopping\n" + "started-hooked\n"), logs
    assert logs["dockyard"] == logs["v2"]


def test_pre_stop_runs_before_up_scales_a_service_down_as_v2(project: Project, compose_v2: str) -> None:
    """v2's up removes a scaled-down container by stopAndRemoveContainer, pre_stop first."""
    p = project
    (p.dir / "compose.yaml").write_text(HOOKS)
    logs = {}
    for tool, run in _tools(p, compose_v2):
        ok(run("up", "-d", "--scale", "web=2"))  # type: ignore[operator]
        ok(run("up", "-d"))  # type: ignore[operator]
        assert container_json(p.d, f"{p.name}-web-1")["State"]["Running"]
        assert p.d.cli("inspect", f"{p.name}-web-2").returncode != 0, tool
        logs[tool] = _volume_file(p, f"{p.name}_marks", "log")
        ok(run("down", "-v"))  # type: ignore[operator]
        assert p.leftovers() == {}
    assert logs["v2"] == "started-hooked\nstarted-hooked\nstopping\n", logs
    assert logs["dockyard"] == logs["v2"]


def test_a_failing_post_start_hook_fails_up_in_v2s_words(project: Project, compose_v2: str) -> None:
    p = project
    (p.dir / "compose.yaml").write_text("""
services:
  web:
    image: busybox
    command: ["sleep", "1000"]
    stop_signal: SIGKILL
    post_start:
      - command: ["sh", "-c", "exit 3"]
""" + NETWORK)
    for _tool, run in _tools(p, compose_v2):
        r = run("up", "-d")  # type: ignore[operator]
        assert r.returncode != 0
        assert "web hook exited with status 3" in r.stderr
        ok(run("down"))  # type: ignore[operator]
    assert p.leftovers() == {}


def test_gpus_are_asked_for_as_v2_asks_and_refused_by_the_engine(project: Project, compose_v2: str) -> None:
    p = project
    (p.dir / "compose.yaml").write_text("""
services:
  web:
    image: busybox
    command: ["sleep", "1000"]
    gpus: all
""" + NETWORK)
    for _tool, run in _tools(p, compose_v2):
        r = run("up", "-d")  # type: ignore[operator]
        assert r.returncode != 0
        refusal = 'Error response from daemon: could not select device driver "" with capabilities: [[gpu]]'
        assert r.stderr.splitlines()[-2:] == [f" Container {p.name}-web-1  {refusal}", refusal]
        ok(run("down"))  # type: ignore[operator]
    assert p.leftovers() == {}


def test_label_file_labels_the_containers_as_v2_does(project: Project, compose_v2: str) -> None:
    p = project
    (p.dir / "labels.env").write_text("A=1\n# comment\nB=from-file\n")
    (p.dir / "compose.yaml").write_text("""
services:
  web:
    image: busybox
    command: ["sleep", "1000"]
    stop_signal: SIGKILL
    label_file: ./labels.env
    labels: {B: wins}
""" + NETWORK)
    labels = {}
    for tool, run in _tools(p, compose_v2):
        ok(run("up", "-d"))  # type: ignore[operator]
        found = container_json(p.d, f"{p.name}-web-1")["Config"]["Labels"]
        labels[tool] = {k: v for k, v in found.items() if not k.startswith("com.docker.compose.image")}
        ok(run("down"))  # type: ignore[operator]
    assert labels["v2"]["A"] == "1" and labels["v2"]["B"] == "wins"
    assert labels["dockyard"] == labels["v2"]


def test_build_flags(project: Project, compose_v2: str) -> None:
    p = project
    (p.dir / "ctx").mkdir()
    (p.dir / "ctx" / "Dockerfile").write_text('FROM busybox\nARG X=dflt\nRUN echo "x=$X" > /x\n')
    (p.dir / "compose.yaml").write_text(f"""
services:
  app:
    build: {{context: ./ctx, args: {{X: fromfile}}}}
    image: {p.name}-appimg
    depends_on: [base]
  base:
    build: ./ctx
""" + NETWORK)
    made = {}
    for tool, run in _tools(p, compose_v2):
        ok(run("build", "--build-arg", "X=cli", "app"))  # type: ignore[operator]
        r = p.d.cli("run", "--rm", f"{p.name}-appimg", "cat", "/x")
        made[tool] = r.stdout.decode()
    assert made == {"dockyard": "x=cli\n", "v2": "x=cli\n"}
    assert p.d.cli("image", "inspect", f"{p.name}-base").returncode != 0  # never built so far
    r = p.dy("build", "-q", "--with-dependencies", "app")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    assert p.d.cli("image", "inspect", f"{p.name}-base").returncode == 0
    assert p.d.cli("run", "--rm", f"{p.name}-appimg", "cat", "/x").stdout == b"x=fromfile\n"
    r = p.dy("build", "--ssh", "default")
    assert r.returncode != 0
    assert "the classic builder doesn't support SSH keys, set DOCKER_BUILDKIT=1 to use BuildKit" in r.stderr


RUN = """
services:
  web:
    image: busybox
    command: ["sleep", "1000"]
    stop_signal: SIGKILL
    networks:
      default:
        aliases: [www]
  tool:
    image: busybox
    environment: {SVC: "1"}
  gone:
    image: nothere.invalid/nothing:1
    pull_policy: never
""" + NETWORK


def test_run_flags_against_v2(project: Project, compose_v2: str) -> None:
    p = project
    (p.dir / "run.env").write_text("FROM_FILE=1\nBOTH=file\n")
    seen: dict[str, dict[str, object]] = {}
    for tool, run in _tools(p, compose_v2):
        (p.dir / "compose.yaml").write_text(RUN.replace("  gone:", "  old:\n    image: busybox\n    command: "
                                                        "['sleep', '1000']\n    stop_signal: SIGKILL\n  gone:"))
        ok(run("up", "-d", "web", "old"))  # type: ignore[operator]
        (p.dir / "compose.yaml").write_text(RUN)
        out: dict[str, object] = {}
        out["env"] = ok(run("run", "--rm", "-T", "--env-from-file", "run.env", "-e", "BOTH=flag", "tool",  # type: ignore[operator]
                            "sh", "-c", "env | grep -E '^(FROM_FILE|BOTH|SVC)=' | sort"))
        aliased = ok(run("run", "-d", "--use-aliases", "web", "sleep", "100")).strip()  # type: ignore[operator]
        plain = ok(run("run", "-d", "web", "sleep", "100")).strip()  # type: ignore[operator]
        assert re.fullmatch(r"[0-9a-f]{64}", aliased) and re.fullmatch(r"[0-9a-f]{64}", plain), (aliased, plain)
        for key, cid in (("aliased", aliased), ("plain", plain)):
            info = container_json(p.d, cid)
            aliases = info["NetworkSettings"]["Networks"][f"{p.name}_default"]["Aliases"]
            out[key] = [re.sub(r"-run-[0-9a-f]{12}$", "-run-SLUG", a) for a in aliases]
            out[key + "-name"] = re.sub(r"-run-[0-9a-f]{12}$", "-run-SLUG", info["Name"].lstrip("/"))
        r = run("run", "--rm", "-T", "-q", "tool", "echo", "QUIET")  # type: ignore[operator]
        out["quiet"] = (r.returncode, r.stdout)
        out["pull-never"] = run("run", "--rm", "-T", "--no-deps", "gone", "true").returncode != 0  # type: ignore[operator]
        before = {c["Labels"].get("com.docker.compose.service") for c in _containers(p)}
        ok(run("run", "--rm", "-T", "--remove-orphans", "tool", "true"))  # type: ignore[operator]
        after = {c["Labels"].get("com.docker.compose.service") for c in _containers(p)}
        out["orphans"] = (sorted(s for s in before if s), sorted(s for s in after if s))
        seen[tool] = out
        p.cleanup()
    assert seen["v2"]["env"] == "BOTH=flag\nFROM_FILE=1\nSVC=1\n"
    assert seen["v2"]["orphans"] == (["old", "web"], ["web"])
    assert seen["dockyard"] == seen["v2"]


def _containers(p: Project) -> list[dict]:  # type: ignore[type-arg]
    r = p.d.cli("ps", "-a", "--filter", f"label=com.docker.compose.project={p.name}", "--format", "{{json .}}")
    rows = [json.loads(line) for line in r.stdout.decode().splitlines() if line]
    return [{"Labels": dict(kv.split("=", 1) for kv in row["Labels"].split(",") if "=" in kv)} for row in rows]


TWO = """
services:
  a:
    image: busybox
    command: ["sleep", "1000"]
    stop_signal: SIGKILL
  b:
    image: busybox
    command: ["sleep", "1000"]
    stop_signal: SIGKILL
    depends_on: [a]
""" + NETWORK


def _last_frame(stderr: str) -> list[str]:
    """The last frame of a tty writer's output, colors and timings left out."""
    frame = stderr.rsplit("\x1b[0G\x1b[?25l", 1)[-1].split("\x1b[?25h", 1)[0]
    plain = re.sub(r"\x1b\[[0-9;]*m", "", frame)
    return [re.sub(r"\d+\.\ds $", "T", line) for line in plain.splitlines()]


def test_progress_writers_print_what_v2_prints(project: Project, compose_v2: str) -> None:
    p = project
    (p.dir / "compose.yaml").write_text(TWO)
    seen: dict[str, dict[str, object]] = {}
    for tool, run in _tools(p, compose_v2):
        out: dict[str, object] = {}
        out["up-tty"] = _last_frame(ok_err(run("--progress", "tty", "up", "-d")))  # type: ignore[operator]
        out["down-tty"] = _last_frame(ok_err(run("--progress", "tty", "down")))  # type: ignore[operator]
        out["up-json"] = sorted(ok_err(run("--progress", "json", "up", "-d")).splitlines())  # type: ignore[operator]
        out["stop-tty"] = _last_frame(ok_err(run("--progress", "tty", "stop")))  # type: ignore[operator]
        out["down-quiet"] = ok_err(run("--progress", "quiet", "down"))  # type: ignore[operator]
        r = run("--progress", "tty", "--ansi", "never", "ps")  # type: ignore[operator]
        out["tty-never"] = (r.returncode, r.stderr.strip())
        seen[tool] = out
    assert seen["v2"]["up-tty"] == ["[+] Running 3/3", f" ✔ Network {p.name}_default  CreatedT",
                                    f" ✔ Container {p.name}-a-1    StartedT",
                                    f" ✔ Container {p.name}-b-1    StartedT"]
    assert seen["v2"]["stop-tty"][0] == "[+] Stopping 2/2"
    assert seen["dockyard"] == seen["v2"]
    assert p.leftovers() == {}


def ok_err(r: subprocess.CompletedProcess[str]) -> str:
    ok(r)
    return r.stderr


def test_attached_up_shows_hook_output_and_names_as_v2(project: Project, compose_v2: str) -> None:
    p = project
    (p.dir / "compose.yaml").write_text("""
services:
  web:
    image: busybox
    command: ["sh", "-c", "echo main; sleep 1; echo bye"]
    post_start:
      - command: ["sh", "-c", "echo from-hook; echo line2"]
""" + NETWORK)
    seen = {}
    for tool, run in _tools(p, compose_v2):
        r = run("up", "--no-color")  # type: ignore[operator]
        ok(r)
        # the padding follows when the hook's name was registered (v2: while the logs ran): not compared
        seen[tool] = sorted(re.sub(r" +\| ", " | ", line) for line in r.stdout.split("\n") if line)
        ok(run("down"))  # type: ignore[operator]
    assert seen["v2"] == sorted(["Attaching to web-1", "web-1 | main", "web-1 -> | from-hook", "web-1 -> | line2",
                                 "web-1 | bye", "\x1b[Kweb-1 exited with code 0"])  # "\r" read as a line end
    assert seen["dockyard"] == seen["v2"]


def test_build_push_pushes_the_services_with_an_image(project: Project, compose_v2: str, registry: str) -> None:
    p = project
    (p.dir / "ctx").mkdir()
    (p.dir / "ctx" / "Dockerfile").write_text("FROM busybox\nRUN echo pushed > /p\n")
    seen = {}
    for tool, run in _tools(p, compose_v2):
        repo = f"{p.name}-{tool}"
        (p.dir / "compose.yaml").write_text(f"""
services:
  app:
    build: ./ctx
    image: {registry}/{repo}:v1
  other:
    image: busybox
""" + NETWORK)  # one service built: v2 pushes the project once per service built, concurrently
        r = run("build", "--push")  # type: ignore[operator]
        ok(r)
        with urllib.request.urlopen(f"http://{registry}/v2/{repo}/tags/list", timeout=10) as resp:
            seen[tool] = (json.loads(resp.read())["tags"], " other Skipped " in r.stderr.split("\n"))
    assert seen == {"v2": (["v1"], True), "dockyard": (["v1"], True)}
