"""Compose v2's default build against dockyardd, with no environment variables (issue 16): with
Dockyard's ``docker-buildx`` in the CLI plugins, Compose 2.40.3 takes its default path (Bake: it
runs ``docker-buildx bake --file - --progress rawjson --metadata-file F``), which the plugin builds
with the classic ``POST /build``. Differential: the image has the layers and config that
``dockyard compose build`` makes of the same project. Without the plugin, Compose v2 falls back to
buildx's docker-container driver, which pulls moby/buildkit (not run here: it reaches the internet).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import BIN, Daemon
from tests.integration.compose.conftest import Project, ok

pytestmark = pytest.mark.root

BUILD_PROJECT = """
services:
  app:
    build:
      context: ./app
      args: {WORD: "$${HOME}-literal"}
      labels: {org.example.built-by: compose}
    command: ["sh", "-c", "cat /word /ctx/hello.txt; ls /ctx; exec sleep 1000"]
    stop_signal: SIGKILL
networks:
  default:
    ipam: {config: [{subnet: "${SUBNET}"}]}
"""

DOCKERFILE = """FROM busybox
ARG WORD
RUN echo "$WORD" > /word
COPY . /ctx/
"""


@pytest.fixture
def v2_project(project: Project) -> Iterator[Project]:
    """The project as a user runs Compose v2: no COMPOSE_BAKE, no DOCKER_BUILDKIT; the plugin in
    the CLI config's ``cli-plugins`` (``make demo`` links it into ~/.docker/cli-plugins)."""
    plugin = BIN / "docker-buildx"
    assert plugin.exists(), "the docker-buildx entry point is not installed (pip install -e .)"
    for name in ("COMPOSE_BAKE", "DOCKER_BUILDKIT", "BUILDX_BUILDER", "BUILDKIT_PROGRESS"):
        project.env.pop(name, None)
    plugins = Path(project.env["DOCKER_CONFIG"]) / "cli-plugins"
    plugins.mkdir(parents=True)
    (plugins / "docker-buildx").symlink_to(plugin)
    app = project.dir / "app"
    app.mkdir()
    (app / "Dockerfile").write_text(DOCKERFILE)
    (app / "hello.txt").write_text("hello from the context\n")
    (project.dir / "compose.yaml").write_text(BUILD_PROJECT)
    yield project


def image(d: Daemon, ref: str) -> dict:  # type: ignore[type-arg]
    r = d.cli("image", "inspect", ref)
    assert r.returncode == 0, r.stderr.decode()
    return json.loads(r.stdout)[0]  # type: ignore[no-any-return]


def logs_until(p: Project, binary: str, text: str) -> str:
    import time

    out = ""
    for _ in range(100):
        out = ok(p.v2(binary, "logs", "--no-color"))
        if text in out:
            break
        time.sleep(0.1)
    return out


def test_compose_v2_builds_by_default_through_dockyard_buildx(v2_project: Project, compose_v2: str) -> None:
    p = v2_project
    r = p.v2(compose_v2, "build")
    out = ok(r) + r.stderr
    assert "buildx isn't installed" not in out and "booting buildkit" not in out, out
    assert "[app 3/4] RUN echo \"$WORD\" > /word" in out, out  # the plugin's rawjson, shown by Compose
    assert "Built" in out, out
    by_v2 = image(p.d, f"{p.name}-app")
    labels = by_v2["Config"]["Labels"]
    assert labels["org.example.built-by"] == "compose"
    assert labels["com.docker.compose.project"] == p.name and labels["com.docker.compose.service"] == "app"

    ok(p.dy("build"))  # differential: dockyard compose's own build of the same project
    by_dy = image(p.d, f"{p.name}-app")
    assert by_dy["RootFS"]["Layers"] == by_v2["RootFS"]["Layers"]
    for key in ("Cmd", "Entrypoint", "Env", "WorkingDir", "User"):
        assert by_dy["Config"].get(key) == by_v2["Config"].get(key), key
    drop = {"com.docker.compose.version"}  # Compose v2 labels its builds with its version
    assert {k: v for k, v in by_dy["Config"]["Labels"].items() if k not in drop} == \
        {k: v for k, v in labels.items() if k not in drop}

    ok(p.v2(compose_v2, "up", "-d"))
    out = logs_until(p, compose_v2, "hello.txt")  # `ls /ctx` lists the context after the cat
    assert "${HOME}-literal" in out, out  # Compose's $${ escape for Bake undone, the ARG passed literally
    assert "hello from the context" in out
    ok(p.v2(compose_v2, "down"))
    assert p.leftovers() == {}


def test_compose_v2_build_applies_dockerignore_as_dockyard_build(v2_project: Project, compose_v2: str) -> None:
    """The context is sent as ``dockyard build`` sends it (``.dockerignore`` applied by the client,
    ``!`` exceptions too), by Compose v2 through the plugin and by ``dockyard compose build``."""
    p = v2_project
    for name in ("secret.txt", "notes.md", "keep.md"):
        (p.dir / "app" / name).write_text(f"{name}\n")
    (p.dir / "app" / ".dockerignore").write_text("secret.txt\n*.md\n!keep.md\n")
    ok(p.v2(compose_v2, "build"))
    by_v2 = image(p.d, f"{p.name}-app")
    r = p.d.cli("build", "-q", "-t", f"{p.name}-cli", "--build-arg", "WORD=${HOME}-literal", str(p.dir / "app"))
    assert r.returncode == 0, r.stderr.decode()
    assert image(p.d, f"{p.name}-cli")["RootFS"]["Layers"] == by_v2["RootFS"]["Layers"]
    r = p.d.cli("run", "--rm", f"{p.name}-app", "ls", "/ctx")
    assert r.stdout.decode().split() == ["Dockerfile", "hello.txt", "keep.md"], r.stdout
    ok(p.dy("build"))  # dockyard compose's own build: the same context, so the same layers
    assert image(p.d, f"{p.name}-app")["RootFS"]["Layers"] == by_v2["RootFS"]["Layers"]
    p.d.cli("rmi", f"{p.name}-cli")


def test_compose_v2_up_build_labels_the_image_and_a_second_up_keeps_the_container(
        v2_project: Project, compose_v2: str) -> None:
    p = v2_project
    (p.dir / "app" / "hello.txt").write_text("second version\n")
    r = p.v2(compose_v2, "up", "-d", "--build")
    ok(r)
    built = image(p.d, f"{p.name}-app")["Id"]
    first = p.d.cli("inspect", f"{p.name}-app-1")
    c = json.loads(first.stdout)[0]
    # the metadata file's containerimage.digest: the image ID, which Compose records to see staleness
    assert c["Config"]["Labels"]["com.docker.compose.image"] == built
    assert c["Image"] == built
    assert "second version" in logs_until(p, compose_v2, "second version")
    r = p.v2(compose_v2, "up", "-d")
    ok(r)
    assert "Running" in r.stderr + r.stdout, r.stderr
    again = json.loads(p.d.cli("inspect", f"{p.name}-app-1").stdout)[0]
    assert again["Id"] == c["Id"]
    ok(p.v2(compose_v2, "down"))
    assert p.leftovers() == {}


def test_compose_v2_build_failure_shows_the_step_and_its_error(v2_project: Project, compose_v2: str) -> None:
    p = v2_project
    (p.dir / "app" / "Dockerfile").write_text("FROM busybox\nRUN echo about to fail; exit 3\n")
    r = p.v2(compose_v2, "build")
    assert r.returncode != 0, r.stdout
    out = r.stdout + r.stderr
    assert "about to fail" in out, out  # the step's output, as a vertex log
    assert "returned a non-zero code: 3" in r.stderr, r.stderr


SECRETS_PROJECT = """
services:
  app:
    build:
      context: ./app
      secrets: [token, envtok]
secrets:
  token: {file: ./token.txt}
  envtok: {environment: MYTOK}
"""


def test_compose_v2_build_secrets_reach_run_mounts(v2_project: Project, compose_v2: str) -> None:
    """Build secrets, which v2's classic path refuses (`the classic builder doesn't support secrets`):
    Bake's ``id=…,type=file,src=…`` and ``type=env`` reach ``RUN --mount=type=secret``, not the image."""
    p = v2_project
    (p.dir / "compose.yaml").write_text(SECRETS_PROJECT)
    (p.dir / "token.txt").write_text("from-a-file")
    p.env["MYTOK"] = "from-the-env"
    (p.dir / "app" / "Dockerfile").write_text(
        "FROM busybox\nRUN --mount=type=secret,id=token --mount=type=secret,id=envtok "
        "cat /run/secrets/token /run/secrets/envtok > /copied\n")
    ok(p.v2(compose_v2, "build"))
    r = p.d.cli("run", "--rm", f"{p.name}-app", "sh", "-c", "cat /copied; echo; ls -A /run 2>&1")
    assert r.returncode != 0, r.stdout  # mounted for the step only, no mount point left (as BuildKit)
    assert r.stdout.decode() == "from-a-filefrom-the-env\nls: /run: No such file or directory\n", r.stdout


def test_bake_writes_metadata_per_target_and_rawjson_status(v2_project: Project) -> None:
    p = v2_project
    defn = {"group": {"default": {"targets": ["one", "two"]}},
            "target": {"one": {"context": str(p.dir / "app"), "tags": [f"{p.name}-one:v1"],
                               "args": {"WORD": "one"}},
                       "two": {"context": str(p.dir / "app"), "dockerfile": str(p.dir / "app" / "Dockerfile"),
                               "tags": [f"{p.name}-two", f"{p.name}-two:extra"], "args": {"WORD": "two"},
                               "output": ["type=docker"]}}}
    meta = p.dir / "meta.json"
    env = {k: v for k, v in p.env.items() if k != "DOCKER_CONFIG"}
    r = subprocess.run([str(BIN / "docker-buildx"), "bake", "--file", "-", "--progress", "rawjson",
                        "--metadata-file", str(meta)], input=json.dumps(defn), env=env, cwd=p.dir,
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    statuses = [json.loads(line) for line in r.stderr.splitlines()]
    names = {v["name"] for s in statuses for v in s.get("vertexes", [])}
    assert {"[one 1/4] FROM busybox", "[two 3/4] RUN echo \"$WORD\" > /word"} <= names, names
    last = {v["digest"]: v for s in statuses for v in s.get("vertexes", [])}
    assert len(last) == 8 and all(v.get("completed") and not v.get("error") for v in last.values()), last
    md = json.loads(meta.read_text())
    assert md["one"]["containerimage.digest"] == image(p.d, f"{p.name}-one:v1")["Id"]
    assert md["two"]["image.name"] == f"{p.name}-two,{p.name}-two:extra"
    assert md["two"]["containerimage.digest"] == image(p.d, f"{p.name}-two:extra")["Id"]
    assert md["one"]["containerimage.digest"] != md["two"]["containerimage.digest"]
    for ref in (f"{p.name}-one:v1", f"{p.name}-two", f"{p.name}-two:extra"):
        p.d.cli("rmi", ref)


def test_docker_cli_build_goes_through_the_plugin(v2_project: Project) -> None:
    """The docker CLI (23+) runs `docker buildx build` for `docker build` once buildx is installed, and
    `docker buildx <cmd>` for `docker builder <cmd>`."""
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker CLI")
    version = subprocess.run([docker, "version", "-f", "{{.Client.Version}}"], capture_output=True, text=True,
                             env={**os.environ, "DOCKER_HOST": "unix:///nonexistent"}).stdout.strip()
    if not version or int(version.split(".")[0]) < 23:
        pytest.skip(f"docker CLI {version or '?'} does not hand builds to buildx")
    p = v2_project
    meta = p.dir / "build-meta.json"
    r = subprocess.run([docker, "build", "-q", "-t", f"{p.name}-cli", "--build-arg", "WORD=cli",
                        "--metadata-file", str(meta), "app"], env=p.env, cwd=p.dir, capture_output=True,
                       text=True, timeout=180)
    assert r.returncode == 0, r.stderr  # --metadata-file: buildx's flag, unknown to the classic `docker build`
    built = image(p.d, f"{p.name}-cli")["Id"]
    assert r.stdout.strip() == built
    assert json.loads(meta.read_text())["containerimage.digest"] == built
    p.d.cli("rmi", f"{p.name}-cli")

    def builder(*args: str) -> str:  # `docker builder <cmd>` is `docker buildx <cmd>` then
        r = subprocess.run([docker, "builder", *args], env=p.env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return r.stdout

    assert "running   classic" in builder("ls")
    assert "RECLAIMABLE" in builder("du")  # the RUN step's cache entry
    assert "Total reclaimed space:" in builder("prune", "-af")
    assert builder("du").split() == ["Reclaimable:", "0B", "Total:", "0B"]


def test_builder_flag_answers_as_v2_through_buildx(v2_project: Project, compose_v2: str) -> None:
    """`build --builder NAME` where the daemon's is the only builder: Compose v2 hands NAME to
    `buildx bake --builder`, which refuses a name it does not know; `default` (the context Compose
    v2's DOCKER_HOST makes current) is the daemon's. dockyard compose answers the same, also to
    BUILDX_BUILDER on `up --build`."""
    p = v2_project
    outs = {}
    for tool, run in (("v2", lambda *a: p.v2(compose_v2, *a)), ("dockyard", p.dy)):
        r = run("build", "--builder", "nope")
        assert r.returncode != 0, (tool, r.stdout, r.stderr)
        assert 'no builder "nope" found' in r.stderr, (tool, r.stderr)
        outs[tool] = r.stderr.strip().splitlines()[-1]
        p.env["BUILDX_BUILDER"] = "nope"
        r = run("up", "-d", "--build")
        assert r.returncode != 0 and 'no builder "nope" found' in r.stderr, (tool, r.stderr)
        del p.env["BUILDX_BUILDER"]
        ok(run("build", "--builder", "default"))
    assert outs["dockyard"] == outs["v2"], outs
    assert p.leftovers() == {}
