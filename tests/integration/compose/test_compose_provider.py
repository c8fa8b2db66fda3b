"""``provider:`` and ``models:`` services against the real Compose v2 on the same daemon: a provider
executable written here (on ``PATH``) is run for ``up`` and ``down`` with the same arguments, its
``setenv`` variables reach the dependent's container under the same names, its messages print as
v2 prints them; a project using models is refused (Dockyard has no Model Runner)."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.integration.compose.conftest import Project, container_json, ok

NETWORK = """
networks:
  default:
    ipam:
      config: [{subnet: "${SUBNET}"}]
"""

PROVIDER = """#!%s
import json, os, sys
args = sys.argv[1:]
if args[:2] == ["compose", "metadata"]:
    if os.environ.get("PROV_META"):
        print(os.environ["PROV_META"])
        sys.exit(0)
    sys.exit(1)
with open(os.environ["PROV_LOG"], "a") as f:
    f.write(" ".join(args) + "\\n")
def say(kind, message):
    print(json.dumps({"type": kind, "message": message}), flush=True)
if args[2] == "up":
    say("info", "provisioning " + args[-1])
    say("debug", "a detail")
    say("setenv", "URL=mysql://db.example:3306/app")
    say("setenv", "TOKEN=a=b")
    if os.environ.get("PROV_FAIL"):
        say("error", "quota exceeded")
        sys.exit(1)
else:
    say("info", "releasing " + args[-1])
"""

WITH_PROVIDER = """
services:
  db:
    provider:
      type: dyprov
      options:
        size: ["10", "20"]
  web:
    image: busybox
    command: ["sleep", "1000"]
    stop_signal: SIGKILL
    depends_on: [db]
""" + NETWORK


def _tools(p: Project, v2: str) -> list[tuple[str, object]]:
    return [("dockyard", p.dy), ("v2", lambda *a, **kw: p.v2(v2, *a, **kw))]


def _provider(p: Project) -> Path:
    bindir = p.dir / "bin"
    bindir.mkdir(exist_ok=True)
    exe = bindir / "dyprov"
    exe.write_text(PROVIDER % sys.executable)
    exe.chmod(0o755)
    p.env["PATH"] = f"{bindir}:{p.env['PATH']}"
    p.env["PROV_LOG"] = str(p.dir / "calls.log")
    return p.dir / "calls.log"


def _provider_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip().startswith("db ")]


def _env(p: Project) -> list[str]:
    env = container_json(p.d, f"{p.name}-web-1")["Config"]["Env"]
    return sorted(e for e in env if e.startswith("DB_"))


def test_provider_up_and_down_as_v2(project: Project, compose_v2: str) -> None:
    p = project
    log = _provider(p)
    (p.dir / "compose.yaml").write_text(WITH_PROVIDER)
    seen: dict[str, tuple[object, ...]] = {}
    for tool, run in _tools(p, compose_v2):
        log.write_text("")
        up = run("up", "-d")  # type: ignore[operator]
        assert up.returncode == 0, up.stderr
        env = _env(p)
        one_off = run("run", "--rm", "web", "sh", "-c", "echo $DB_URL")  # type: ignore[operator]
        assert one_off.returncode == 0, one_off.stderr
        down = run("-f", "compose.yaml", "down")  # type: ignore[operator]
        assert down.returncode == 0, down.stderr
        assert p.leftovers() == {}
        seen[tool] = (env, one_off.stdout, log.read_text(), _provider_lines(up.stdout + up.stderr),
                      _provider_lines(down.stdout + down.stderr))
    assert seen["dockyard"] == seen["v2"]
    env, one_off, calls, up_lines, down_lines = seen["dockyard"]
    assert env == ["DB_TOKEN=a=b", "DB_URL=mysql://db.example:3306/app"]
    # run runs the provider again but gives the one-off the service as it was before (no DB_*), as v2
    # (its startDependencies works on a copy of the project without the run's service)
    assert one_off == "\n"
    assert calls == (f"compose --project-name={p.name} up --size=10 --size=20 db\n" * 2
                     + f"compose --project-name={p.name} down --size=10 --size=20 db\n")
    assert up_lines == ["db  Creating", "db  provisioning db", "db  Created"]
    assert down_lines == ["db  Removing", "db  releasing db", "db  Removed"]


def test_down_by_project_name_alone_runs_no_provider_down_as_v2(project: Project, compose_v2: str) -> None:
    """`down -p NAME` without `-f`: v2 loads no compose file (`projectOrName`), the project is what its
    containers tell, and a provider service has none: its `down` is not run. With `-f` it is."""
    p = project
    log = _provider(p)
    (p.dir / "compose.yaml").write_text(WITH_PROVIDER)
    for tool, run in _tools(p, compose_v2):
        ok(run("up", "-d"))  # type: ignore[operator]
        log.write_text("")
        r = run("down")  # type: ignore[operator]
        ok(r)
        assert log.read_text() == "", tool
        assert "releasing" not in r.stdout + r.stderr, tool
        assert p.leftovers() == {}
        ok(run("-f", "compose.yaml", "down"))  # type: ignore[operator]
        assert log.read_text() == f"compose --project-name={p.name} down --size=10 --size=20 db\n", tool


def test_provider_metadata_and_errors_as_v2(project: Project, compose_v2: str) -> None:
    p = project
    log = _provider(p)
    (p.dir / "compose.yaml").write_text(WITH_PROVIDER.replace('size: ["10", "20"]', 'size: ["10"]\n        other: x'))
    meta = '{"description": "t", "up": {"parameters": [{"name": "size", "required": true}]}, "down": {}}'
    printed: dict[str, list[str]] = {}
    for tool, run in _tools(p, compose_v2):
        log.write_text("")
        p.env["PROV_META"] = meta
        ok(run("up", "-d"))  # type: ignore[operator]
        assert log.read_text() == f"compose --project-name={p.name} up --size=10 db\n"  # options the metadata names
        ok(run("-f", "compose.yaml", "down"))  # type: ignore[operator]
        p.env["PROV_META"] = meta.replace('"size"', '"region"')
        r = run("up", "-d")  # type: ignore[operator]
        assert r.returncode != 0
        assert 'required parameter "region" is missing from provider "dyprov" definition' in r.stderr
        printed[tool] = [r.stderr]
        del p.env["PROV_META"]
        p.env["PROV_FAIL"] = "1"
        r = run("up", "-d")  # type: ignore[operator]
        del p.env["PROV_FAIL"]
        assert r.returncode != 0
        assert " db  quota exceeded\nquota exceeded\n" in r.stderr
        printed[tool].append(r.stderr)
        assert p.d.cli("inspect", f"{p.name}-web-1").returncode != 0  # the dependent was not created
        ok(run("down"))  # type: ignore[operator]
        assert p.leftovers() == {}
    assert printed["dockyard"] == printed["v2"]


def test_models_are_refused_naming_the_model(project: Project, compose_v2: str) -> None:
    p = project
    (p.dir / "compose.yaml").write_text("""
services:
  web:
    image: busybox
    command: ["sleep", "1000"]
    models: [llm]
models:
  llm:
    model: ai/smollm2
""" + NETWORK)
    for tool, run in _tools(p, compose_v2):
        r = run("up", "-d")  # type: ignore[operator]
        assert r.returncode != 0
        assert "'models' support requires Docker Model plugin" in r.stderr
        if tool == "dockyard":
            assert "llm (ai/smollm2)" in r.stderr and "Model Runner is not available" in r.stderr
            assert p.leftovers() == {}  # refused before anything was made
        ok(run("down"))  # type: ignore[operator]
        assert p.leftovers() == {}
