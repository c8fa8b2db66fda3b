"""`--builder NAME` where the only builder is the daemon's classic one: Dockyard's docker-buildx
answers as buildx does (store/storeutil.GetNodeGroup, builder.Validate): the current context's
builder is the daemon's; another context is "use `docker --context=X buildx`"; anything else is
`no builder "X" found`; a builder of buildx's own store is refused by name. The name comes from
`--builder` of the command, buildx's global `--builder`, `inspect NAME` or BUILDX_BUILDER."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dockyard import errors
from dockyard.buildx import builders, plugin
from dockyard.cli import context


def make_context(name: str) -> None:
    meta = Path(context.meta_dir(name))
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(json.dumps({"Name": name, "Metadata": {}, "Endpoints": {
        "docker": {"Host": "unix:///tmp/none.sock", "SkipTLSVerify": False}}}))


def test_check_answers_as_buildx() -> None:
    make_context("remote")
    builders.check("", "default")
    builders.check("default", "default")
    builders.check("remote", "remote")
    with pytest.raises(errors.InvalidArgument, match=r'^use `docker --context=remote buildx` to switch to context "remote"$'):
        builders.check("remote", "default")
    with pytest.raises(errors.InvalidArgument, match='to switch to context "default"'):
        builders.check("default", "remote")
    with pytest.raises(errors.NotFound, match=r'^no builder "nope" found$'):
        builders.check("nope", "default")
    instances = Path(os.environ["DOCKER_CONFIG"]) / "buildx" / "instances"
    instances.mkdir(parents=True)
    (instances / "mybuilder").write_text("{}")
    with pytest.raises(errors.InvalidArgument, match="builds only with the daemon's classic builder"):
        builders.check("MyBuilder", "default")  # buildx lowercases the name it looks up


@pytest.mark.parametrize("argv", [
    ["buildx", "build", "--builder", "nope", "-q", "."],
    ["buildx", "--builder", "nope", "bake", "--file", "-"],  # buildx's global flag, before the command
    ["buildx", "--builder=nope", "du"],
    ["buildx", "inspect", "nope"],
    ["buildx", "prune", "-f", "--builder=nope"],
])
def test_plugin_refuses_an_unknown_builder_before_reaching_a_daemon(argv: list[str],
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert plugin.main(["-H", "unix:///tmp/no-daemon-here.sock", *argv]) == 1
    assert capsys.readouterr().err == 'ERROR: no builder "nope" found\n'


def test_buildx_builder_variable_and_the_current_context(capsys: pytest.CaptureFixture[str]) -> None:
    make_context("remote")
    os.environ["BUILDX_BUILDER"] = "remote"
    assert plugin.main(["-H", "unix:///tmp/no-daemon-here.sock", "buildx", "du"]) == 1  # -H: the default context
    assert capsys.readouterr().err == 'ERROR: use `docker --context=remote buildx` to switch to context "remote"\n'
    assert plugin.builder_name("du", ["--builder", "x", "--builder=y"], "root") == "y"
    assert plugin.builder_name("inspect", ["--bootstrap", "z"], "root") == "z"
    assert plugin.builder_name("bake", ["--file", "-"], "root") == "root"
