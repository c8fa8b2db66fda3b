"""The loader: files, merge, extends, profiles, names, env files and what is refused. The
expectations are Compose v2's (2.40.3) for the same input (the corpus tests compare whole models)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard import errors
from dockyard.compose import envfile, loader, merge


def load(tmp: Path, files: dict[str, str], **kw: object) -> loader.Project:
    for name, text in files.items():
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / name).write_text(text)
    kw.setdefault("environ", {})
    return loader.load(loader.Options(workdir=str(tmp), **kw))  # type: ignore[arg-type]


@pytest.mark.parametrize("base,over,key,expected", [
    ({"command": "a b"}, {"command": ["c"]}, "command", ["c"]),                      # replaced
    ({"environment": ["A=1", "B=2"]}, {"environment": {"B": 3}}, "environment", {"A": "1", "B": "3"}),
    ({"labels": {"a": "1"}}, {"labels": ["b=2"]}, "labels", {"a": "1", "b": "2"}),
    ({"ports": ["80:80"]}, {"ports": ["81:81", "80:80"]}, "ports",
     [{"mode": "ingress", "target": 80, "published": "80", "protocol": "tcp"},
      {"mode": "ingress", "target": 81, "published": "81", "protocol": "tcp"}]),
    ({"volumes": ["/x:/data"]}, {"volumes": ["/y:/data", "/z:/other"]}, "volumes",
     ["/y:/data", "/z:/other"]),                                                     # by target
    ({"dns": "1.1.1.1"}, {"dns": ["8.8.8.8", "1.1.1.1"]}, "dns", ["1.1.1.1", "8.8.8.8"]),
    ({"logging": {"driver": "json-file", "options": {"a": "1"}}}, {"logging": {"options": {"b": "2"}}}, "logging",
     {"driver": "json-file", "options": {"a": "1", "b": "2"}}),
    ({"logging": {"driver": "json-file", "options": {"a": "1"}}}, {"logging": {"driver": "local"}}, "logging",
     {"driver": "local"}),
    ({"ulimits": {"nofile": {"soft": 1, "hard": 2}}}, {"ulimits": {"nofile": 5}}, "ulimits", {"nofile": 5}),
    ({"healthcheck": {"test": ["CMD", "a"], "retries": 3}}, {"healthcheck": {"test": ["CMD", "b"]}}, "healthcheck",
     {"test": ["CMD", "b"], "retries": 3}),
    ({"build": "."}, {"build": {"target": "t"}}, "build", {"context": ".", "target": "t"}),
    ({"depends_on": ["a"]}, {"depends_on": {"b": {"condition": "service_healthy"}}}, "depends_on",
     {"a": {"condition": "service_started", "required": True},
      "b": {"condition": "service_healthy", "required": True}}),
])
def test_merge_rules(base: dict, over: dict, key: str, expected: object) -> None:  # type: ignore[type-arg]
    assert merge.merge_service(base, over)[key] == expected


def test_override_files_merge_in_order(tmp_path: Path) -> None:
    p = load(tmp_path, {"compose.yaml": "services:\n  a:\n    image: busybox\n    environment: [X=1]\n",
                        "compose.override.yaml": "services:\n  a:\n    environment: [Y=2]\n"})
    assert p.services["a"]["environment"] == {"X": "1", "Y": "2"}
    assert [Path(f).name for f in p.config_files] == ["compose.yaml", "compose.override.yaml"]


def test_extends_same_file_and_chain(tmp_path: Path) -> None:
    p = load(tmp_path, {"compose.yaml": """
services:
  base: {image: busybox, environment: {A: "1"}, command: sleep 1}
  mid: {extends: base, environment: {B: "2"}}
  top: {extends: {service: mid}, command: [echo, hi]}
"""})
    assert p.services["top"]["environment"] == {"A": "1", "B": "2"}
    assert p.services["top"]["command"] == ["echo", "hi"]
    assert "extends" not in p.services["top"]


def test_extends_cycle_is_refused(tmp_path: Path) -> None:
    with pytest.raises(loader.ComposeError, match="circular reference"):
        load(tmp_path, {"compose.yaml": "services:\n  a: {extends: b, image: x}\n  b: {extends: a, image: x}\n"})


@pytest.mark.parametrize("profiles,named,expected", [
    ([], [], ["always"]),
    (["debug"], [], ["always", "dbg"]),
    (["*"], [], ["always", "dbg", "other"]),
    ([], ["dbg"], ["always", "dbg"]),           # naming a service enables it
])
def test_profiles(tmp_path: Path, profiles: list[str], named: list[str], expected: list[str]) -> None:
    p = load(tmp_path, {"compose.yaml": """
services:
  always: {image: busybox}
  dbg: {image: busybox, profiles: [debug]}
  other: {image: busybox, profiles: [other]}
"""}, profiles=profiles, services=named)
    assert list(p.services) == expected


def test_compose_profiles_env(tmp_path: Path) -> None:
    p = load(tmp_path, {"compose.yaml": "services:\n  a: {image: x, profiles: [p]}\n"},
             environ={"COMPOSE_PROFILES": "p"})
    assert list(p.services) == ["a"]


def test_depending_on_a_disabled_service_is_refused(tmp_path: Path) -> None:
    with pytest.raises(loader.ComposeError, match='depends on undefined service "b"'):
        load(tmp_path, {"compose.yaml": "services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, profiles: [p]}\n"})


@pytest.mark.parametrize("dirname,kw,env,text,expected", [
    ("My.Project_1", {}, {}, "", "myproject_1"),
    ("x", {"project_name": "given"}, {"COMPOSE_PROJECT_NAME": "envname"}, "name: top\n", "given"),
    ("x", {}, {"COMPOSE_PROJECT_NAME": "envname"}, "name: top\n", "envname"),
    ("x", {}, {}, "name: top\n", "top"),
    ("x", {}, {"N": "fromvar"}, "name: ${N}\n", "fromvar"),
    ("-_Lead", {}, {}, "", "lead"),
])
def test_project_name(tmp_path: Path, dirname: str, kw: dict, env: dict, text: str,  # type: ignore[type-arg]
                      expected: str) -> None:
    d = tmp_path / dirname
    d.mkdir()
    assert load(d, {"compose.yaml": text + "services:\n  a: {image: x}\n"}, environ=env, **kw).name == expected


def test_invalid_project_name(tmp_path: Path) -> None:
    with pytest.raises(loader.ComposeError, match='invalid project name "Bad!"'):
        load(tmp_path, {"compose.yaml": "services:\n  a: {image: x}\n"}, project_name="Bad!")


def test_dotenv_and_env_file_option(tmp_path: Path) -> None:
    files = {"compose.yaml": "services:\n  a: {image: 'busybox:${TAG}'}\n", ".env": "TAG=dot\n", "other.env": "TAG=o\n"}
    assert load(tmp_path, files).services["a"]["image"] == "busybox:dot"
    assert load(tmp_path, files, env_files=["other.env"]).services["a"]["image"] == "busybox:o"
    assert load(tmp_path, files, environ={"TAG": "os"}).services["a"]["image"] == "busybox:os"  # os wins


def test_casts_interpolated_numbers_and_booleans(tmp_path: Path) -> None:
    p = load(tmp_path, {"compose.yaml": "services:\n  a: {image: x, deploy: {replicas: '${N}'}, init: '${I}'}\n"},
             environ={"N": "3", "I": "true"})
    assert p.services["a"]["deploy"]["replicas"] == 3 and p.services["a"]["init"] is True


@pytest.mark.parametrize("text,message", [
    ("services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [a]}\n", "dependency cycle detected"),
    ("services:\n  a: {image: x, depends_on: [zz]}\n", 'depends on undefined service "zz"'),
    ("services:\n  a: {image: x}\n  b:\n    image: x\n    priviledged: true\n",
     r"compose\.yaml: services\.b additional properties 'priviledged' not allowed \(line 5\)"),
    ("services:\n  a: {image: x, networks: [nope]}\n", "undefined network nope"),
    ("services:\n  a: {image: x, volumes: ['nope:/x']}\n", "undefined volume nope"),
    ("services:\n  a: {image: x, ports: ['80:80', '0.0.0.0:80:80/tcp']}\n", "publishes port 80/tcp twice"),
    ("services:\n  a: {command: x}\n", "neither an image nor a build context"),
    ("services:\n  a: {image: '${X:?need X}'}\n", "required variable X is missing a value: need X"),
])
def test_refused_before_anything_is_created(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(errors.InvalidArgument, match=message):
        load(tmp_path, {"compose.yaml": text})


def test_no_file_found(tmp_path: Path) -> None:
    with pytest.raises(loader.ComposeError, match="no configuration file provided"):
        loader.load(loader.Options(workdir=str(tmp_path), project_directory=str(tmp_path), environ={}))


@pytest.mark.parametrize("text,expected", [
    ("A=1\n", {"A": "1"}),
    ("export B = two words # comment\n", {"B": "two words"}),
    ("C='lit ${A}'\n", {"C": "lit ${A}"}),
    ('A=1\nD="x\\ny ${A}"\n', {"A": "1", "D": "x\ny 1"}),
    ("E=${HOME:-h}\n", {"E": "h"}),
    ("G=a#b\n", {"G": "a#b"}),
    ("H=\n", {"H": ""}),
    ('M="multi\nline"\n', {"M": "multi\nline"}),
    ("# only a comment\n\n", {}),
])
def test_env_files(text: str, expected: dict) -> None:  # type: ignore[type-arg]
    assert envfile.parse(text) == expected


@pytest.mark.parametrize("body, message", [
    ("    bogus: 1\n", "compose.yaml: services.a additional properties 'bogus' not allowed (line 4)"),
    ("    healthcheck:\n      interval: 10x\n", "'services[a].healthcheck.interval' invalid duration: '10x'"),
    ("    mem_limit: lots\n", "'services[a].mem_limit' invalid size: 'lots'"),
    ("    stop_grace_period: 1y\n", "'services[a].stop_grace_period' invalid duration: '1y'"),
])
def test_bad_values_are_named_by_their_path_and_line(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(errors.InvalidArgument) as err:
        load(tmp_path, {"compose.yaml": "services:\n  a:\n    image: busybox\n" + body})
    assert message in str(err.value)
