"""Dockyard's docker-buildx without a daemon: the plugin protocol, bake definitions as Compose v2
writes them (``$${`` escapes, groups, inherits) turned into classic ``POST /build`` requests, and
what the classic builder cannot do refused by name."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from dockyard import errors
from dockyard.buildx import bake, buildcmd, plugin


def test_metadata_is_what_the_cli_plugin_manager_and_compose_check(capsys: pytest.CaptureFixture[str]) -> None:
    assert plugin.main(["docker-cli-plugin-metadata"]) == 0
    meta = json.loads(capsys.readouterr().out)
    assert meta["SchemaVersion"] == "0.1.0" and meta["Vendor"]
    major, minor = (int(x) for x in meta["Version"].lstrip("v").split(".")[:2])
    assert (major, minor) >= (0, 17)  # Compose: "compose build requires buildx 0.17 or later"


def test_under_the_docker_cli_the_first_argument_is_the_plugin_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert plugin.main(["buildx", "version"]) == 0
    assert capsys.readouterr().out.startswith("github.com/docker/buildx v0.17")
    assert plugin.main(["buildx", "create"]) == 1
    assert "unknown command 'create'" in capsys.readouterr().err


def test_compose_escapes_are_undone_and_variables_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAG", "v2")
    defn = bake.load_definition(["-"], io.StringIO(json.dumps({"target": {"a": {
        "args": {"X": "$${HOME}", "Y": "${TAG}-$${TAG}"}, "tags": ["app:${TAG}"]}}})))
    t = bake.resolve(defn, ["a"])["a"]
    assert t["args"] == {"X": "${HOME}", "Y": "v2-${TAG}"} and t["tags"] == ["app:v2"]
    monkeypatch.delenv("TAG")
    with pytest.raises(errors.InvalidArgument, match="'TAG' is not defined"):
        bake.resolve(defn, ["a"])


def test_groups_nest_targets_inherit_and_later_files_win(tmp_path: Path) -> None:
    first = tmp_path / "a.json"
    first.write_text(json.dumps({"group": {"default": {"targets": ["all"]}, "all": {"targets": ["x", "y"]}},
                                 "target": {"base": {"args": {"A": "1"}, "target": "t"},
                                            "x": {"inherits": ["base"], "args": {"B": "2"}}, "y": {}}}))
    second = tmp_path / "b.json"
    second.write_text(json.dumps({"target": {"y": {"tags": ["y:1"]}, "x": {"args": {"C": "3"}}}}))
    got = bake.resolve(bake.load_definition([str(first), str(second)], io.StringIO()), [])
    assert sorted(got) == ["x", "y"]
    assert got["x"] == {"args": {"A": "1", "B": "2", "C": "3"}, "target": "t"}  # maps merged key by key
    assert got["y"] == {"tags": ["y:1"]}
    with pytest.raises(errors.NotFound, match="failed to find target nope"):
        bake.resolve(bake.load_definition([str(first)], io.StringIO()), ["nope"])


def test_a_compose_target_becomes_build_parameters(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile.dev").write_text("FROM busybox\n")
    t = {"context": str(tmp_path), "dockerfile": str(tmp_path / "Dockerfile.dev"), "args": {"A": "1"},
         "labels": {"l": "v"}, "tags": ["p-app", "p-app:x"], "cache-from": ["type=registry,ref=c:1", "c:2",
                                                                             "type=local,src=/x"],
         "target": "dev", "network": "host", "pull": True, "extra-hosts": {"h": "1.2.3.4,5.6.7.8"},
         "output": ["type=docker"], "shm-size": 1024, "platforms": ["linux/amd64"]}
    req = bake.request_for("app", t, no_cache=True)
    assert req.dockerfile == "Dockerfile.dev" and _tar(req) == {"Dockerfile.dev": b"FROM busybox\n"} and not req.push
    p = req.params
    assert p["t"] == ["p-app", "p-app:x"] and json.loads(p["buildargs"]) == {"A": "1"}
    assert json.loads(p["labels"]) == {"l": "v"} and json.loads(p["cachefrom"]) == ["c:1", "c:2"]
    assert (p["target"], p["networkmode"], p["pull"], p["nocache"], p["platform"]) == \
        ("dev", "host", True, True, "linux/amd64")
    assert p["extrahosts"] == ["h:1.2.3.4", "h:5.6.7.8"]
    assert req.warnings == ["target app: shm-size is not supported by the classic builder, left out"]


def test_a_dockerfile_outside_the_context_or_inline_travels_in_the_tar(tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN true\n")
    req = bake.request_for("a", {"context": str(ctx), "dockerfile": str(tmp_path / "Dockerfile")})
    assert req.dockerfile.startswith(".dockerfile.") and _tar(req) == {req.dockerfile: b"FROM busybox\nRUN true\n"}
    req = bake.request_for("a", {"context": str(ctx), "dockerfile-inline": "FROM busybox\n"})
    assert _tar(req)[req.dockerfile] == b"FROM busybox\n" and req.params["dockerfile"] == req.dockerfile


def _tar(req: bake.Request) -> dict[str, bytes]:
    """The regular files of the request's planned context tar: name -> content."""
    with tarfile.open(fileobj=io.BytesIO(req.context.finish())) as tf:
        return {m.name: tf.extractfile(m).read() for m in tf.getmembers() if m.isfile()}  # type: ignore[union-attr]


@pytest.mark.parametrize(("target", "message"), [
    ({"platforms": ["linux/amd64", "linux/arm64"]}, "Multi-platform build is not supported"),
    ({"output": ["type=local,dest=out"]}, "output type 'local' is not supported"),
    ({"ssh": ["default"]}, "ssh forwarding is not supported"),
    ({"contexts": {"base": "target:b"}}, "additional contexts are not supported"),
    ({"call": "lint"}, "--call=lint is not supported"),
    ({"context": "https://example.invalid/repo.git"}, "remote contexts are not supported"),
])
def test_what_the_classic_builder_cannot_do_is_refused(tmp_path: Path, target: dict[str, object],
                                                        message: str) -> None:
    with pytest.raises(errors.InvalidArgument, match=message):
        bake.request_for("a", {"context": str(tmp_path), **target})


def test_registry_output_pushes(tmp_path: Path) -> None:
    assert bake.request_for("a", {"context": str(tmp_path), "output": ["type=registry"]}).push
    assert bake.request_for("a", {"context": str(tmp_path), "output": ["type=image,push=true"]}).push
    assert not bake.request_for("a", {"context": str(tmp_path), "output": ["type=image,push=false"]}).push


def test_metadata_file_is_what_compose_reads(tmp_path: Path) -> None:
    out = tmp_path / "m.json"
    bake.write_metadata(str(out), {"app": ("sha256:" + "a" * 64, ["p-app", "p-app:1"])})
    assert json.loads(out.read_text()) == {"app": {"containerimage.config.digest": "sha256:" + "a" * 64,
                                                   "containerimage.digest": "sha256:" + "a" * 64,
                                                   "image.name": "p-app,p-app:1"}}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_build_flags_become_a_target(tmp_path: Path) -> None:
    a = buildcmd._parser().parse_args([str(tmp_path), "-t", "x:1", "-f", "sub/Df", "--build-arg", "A=1",
                                        "--build-arg", "UNSET_HERE_X", "--add-host", "h:1.1.1.1",
                                        "--add-host", "h=2.2.2.2", "--platform", "linux/amd64", "--push"])
    t = buildcmd.target_of(a)
    assert t["dockerfile"] == str(Path("sub/Df").resolve())  # relative to the working directory
    assert t["args"] == {"A": "1"} and t["tags"] == ["x:1"] and t["platforms"] == ["linux/amd64"]
    assert t["extra-hosts"] == {"h": "1.1.1.1,2.2.2.2"} and t["output"] == ["type=registry"]
