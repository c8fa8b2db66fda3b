"""What keeps a compose command's start short: the project cache (``projcache``: used only while
every file and variable it was made from is unchanged), the lite parser (the same namespace as
argparse's), and a warm command that imports neither YAML nor the loader nor argparse."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from dockyard.compose import cli, projcache

BASE = "services:\n  web:\n    image: busybox:${TAG:-1}\n    env_file: [{path: web.env, required: false}]\n"


def _args(**kw: object) -> SimpleNamespace:
    base: dict[str, object] = {"file": [], "project_name": None, "project_directory": None, "env_file": None,
                               "profile": []}
    return SimpleNamespace(**{**base, **kw})


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("TAG", raising=False)
    monkeypatch.delenv("COMPOSE_FILE", raising=False)
    monkeypatch.delenv("COMPOSE_PROJECT_NAME", raising=False)
    d = tmp_path / "proj"
    d.mkdir()
    (d / "compose.yaml").write_text(BASE)
    monkeypatch.chdir(d)
    return d


def _image() -> str:
    return str(cli.load_project(_args()).services["web"]["image"])


def _cached() -> bool:
    options = ([], None, None, None, [], True, [])
    return projcache.load(projcache.key(repr(options), os.environ), os.environ) is not None


def test_a_second_load_comes_from_the_cache(workdir: Path) -> None:
    assert not _cached()
    assert _image() == "busybox:1"
    assert _cached()
    project = cli.load_project(_args())
    assert project.name == "proj" and str(project.working_dir) == str(workdir)
    assert project.environment.get("HOME") == os.environ.get("HOME")


def test_an_edited_file_an_added_override_and_a_new_env_file_are_misses(workdir: Path) -> None:
    _image()
    (workdir / "compose.yaml").write_text(BASE.replace("${TAG:-1}", "${TAG:-2}"))
    assert not _cached()
    assert _image() == "busybox:2"
    (workdir / "compose.override.yaml").write_text("services:\n  web:\n    image: busybox:3\n")
    assert _image() == "busybox:3"
    (workdir / "compose.override.yaml").unlink()
    (workdir / ".env").write_text("TAG=4\n")
    assert _image() == "busybox:4"
    (workdir / "web.env").write_text("A=1\n")
    assert cli.load_project(_args()).services["web"]["environment"] == {"A": "1"}


def test_the_environment_is_part_of_the_key(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _image() == "busybox:1"
    monkeypatch.setenv("TAG", "5")
    assert _image() == "busybox:5"
    monkeypatch.setenv("_", "/usr/bin/something-else")  # the shell's last command is not
    assert _cached()


def test_the_cache_keeps_no_variable_of_the_environment(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKYARD_TEST_SECRET", "s3cr3t-value")
    (workdir / ".env").write_text("FROM_FILE=yes\n")
    project = cli.load_project(_args())
    assert project.environment["FROM_FILE"] == "yes"
    entries = list((workdir.parent / "cache" / "dockyard" / "compose-projects").iterdir())
    assert entries and all(b"s3cr3t-value" not in e.read_bytes() for e in entries)
    assert all(e.stat().st_mode & 0o077 == 0 for e in entries)


@pytest.mark.parametrize("argv", [
    ["up", "-d"], ["-p", "x", "up", "-d", "--scale", "web=3", "web"], ["--profile", "a", "-f", "c.yaml", "down", "-v"],
    ["down", "--rmi", "local", "-t", "3"], ["ps", "-a", "--format", "json"], ["-H", "unix:///s", "logs", "-f", "web"],
    ["up", "--wait", "--wait-timeout", "30", "--pull", "never"], ["config", "--format", "json", "-q"],
])
def test_the_lite_parser_gives_argparse_s_namespace(argv: list[str]) -> None:
    word = cli.command_word(argv)
    assert vars(cli._parser(word, lite=True).parse_args(argv)) == vars(cli._parser(word).parse_args(argv))


def test_a_warm_command_imports_no_yaml_loader_or_argparse(workdir: Path) -> None:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = [sys.executable, "-X", "importtime", "-m", "dockyard.cli.main", "-H", "unix:///nonexistent.sock",
           "compose", "ps"]
    subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, timeout=60)  # fills the cache
    r = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, timeout=60)
    imported = {line.split("|")[-1].strip() for line in r.stderr.decode().splitlines() if line.startswith("import time")}
    assert "dockyard.compose.commands" in imported, r.stderr.decode()[-2000:]
    for heavy in ("yaml", "dockyard.compose.loader", "argparse", "jsonschema", "re", "typing"):
        assert heavy not in imported, f"a warm compose ps imported {heavy}"
