"""``config --format json`` for a corpus of compose files, against goldens Compose v2 printed and,
when the binary is here (see ``compose_oracle``), against Compose v2 itself."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from dockyard.compose import configout, loader

sys_path_dir = Path(__file__).parent
CORPUS = sys_path_dir / "corpus"
CASES = sorted(p.name for p in CORPUS.iterdir() if (p / "expected.json").exists())
ENV = {"PATH": "/usr/bin:/bin", "HOME": "/root"}


def _args(case: Path) -> list[str]:
    f = case / "args"
    return f.read_text().split() if f.exists() else []


def ours(case: Path) -> dict:  # type: ignore[type-arg]
    args = _args(case)
    files = [args[i + 1] for i, a in enumerate(args) if a == "-f"]
    profiles = [args[i + 1] for i, a in enumerate(args) if a == "--profile"]
    project = loader.load(loader.Options(files=files, profiles=profiles, environ=ENV, workdir=str(case)))
    return json.loads(configout.to_json(configout.model(project, as_json=True)))


def golden(case: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((case / "expected.json").read_text().replace("@DIR@", str(case)))  # type: ignore[no-any-return]


def test_the_corpus_is_there() -> None:
    assert len(CASES) >= 4


@pytest.mark.parametrize("name", CASES)
def test_config_equals_compose_v2_golden(name: str) -> None:
    assert ours(CORPUS / name) == golden(CORPUS / name)


@pytest.mark.parametrize("name", CASES)
def test_config_equals_compose_v2_live(name: str, compose_v2: str) -> None:
    case = CORPUS / name
    r = subprocess.run([compose_v2, *_args(case), "config", "--format", "json"], cwd=case, env=ENV,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert ours(case) == json.loads(r.stdout)


@pytest.mark.parametrize("name", CASES)
def test_services_marshal_byte_for_byte_as_compose_v2(name: str) -> None:
    """The config-hash input: each service as Go writes it (field order, sorted maps, escapes)
    equals Compose v2's own ``config --format json`` output for it, byte for byte."""
    from dockyard.compose import gojson

    case = CORPUS / name
    args = _args(case)
    files = [args[i + 1] for i, a in enumerate(args) if a == "-f"]
    profiles = [args[i + 1] for i, a in enumerate(args) if a == "--profile"]
    project = loader.load(loader.Options(files=files, profiles=profiles, environ=ENV, workdir=str(case)))
    printed = configout.model(project, as_json=True)["services"]
    for service, expected in golden(case)["services"].items():
        go = json.dumps(expected, separators=(",", ":"), ensure_ascii=False)
        for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
            go = go.replace(char, escape)
        assert gojson.marshal(printed[service], "service").decode() == go, service
