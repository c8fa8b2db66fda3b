"""``provider:`` and ``models:``: ``config`` renders them as Compose v2 2.40.3 (YAML goldens: the
corpus cases with an ``expected.yaml``; their JSON is in the corpus test), and the pieces of the
provider protocol and the models refusal (the runs against v2: tests/integration/compose)."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest
from test_compose_config_corpus import ENV

from dockyard.compose import configout, loader, models, provider
from dockyard.compose.project import ComposeError, Project

CASE = Path(__file__).parent / "corpus" / "provider-models"


def _load(workdir: Path, files: list[str] | None = None) -> Project:
    return loader.load(loader.Options(files=files or [], environ=ENV, workdir=str(workdir)))


YAML_CASES = sorted(p.name for p in CASE.parent.iterdir() if (p / "expected.yaml").exists())


@pytest.mark.parametrize("name", YAML_CASES)
def test_config_yaml_equals_compose_v2_golden(name: str) -> None:
    case = CASE.parent / name
    assert configout.to_yaml(configout.model(_load(case))) == (case / "expected.yaml").read_text()


@pytest.mark.parametrize("name", YAML_CASES)
def test_config_yaml_equals_compose_v2_live(name: str, compose_v2: str) -> None:
    case = CASE.parent / name
    r = subprocess.run([compose_v2, "config"], cwd=case, env=ENV, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert configout.to_yaml(configout.model(_load(case))) == r.stdout


def test_only_used_models_are_kept_and_providers_join_no_network() -> None:
    p = _load(CASE)
    assert list(p.models) == ["embed", "llm"]
    assert "networks" not in p.services["db"]
    assert p.services["web"]["models"] == {"embed": None, "llm": None}
    assert p.services["db"]["provider"]["options"] == {"public": ["true"], "size": ["10", "20"], "type": ["mysql"]}


def test_an_undefined_model_is_refused_in_v2s_words(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: busybox\n    models: [nope]\n")
    with pytest.raises(ComposeError, match="service \"web\" refers to undefined model nope: invalid compose project"):
        _load(tmp_path)


def test_models_refused_naming_the_model() -> None:
    p = _load(CASE)
    models.refuse(p, ["db", "tunnel"])  # no models: nothing to refuse
    with pytest.raises(models.ModelsUnavailable) as err:
        models.refuse(p, ["api", "web"])
    assert str(err.value).startswith("'models' support requires Docker Model plugin")
    assert "embed (ai/mxbai-embed-large), llm (ai/smollm2)" in str(err.value)


def test_provider_messages_as_gos_json_decoder_reads_them() -> None:
    printed: list[str] = []
    stream = io.BytesIO(b'{"type":"info","message":"one"}{"type":"setenv","message":"A=b=c"}\n'
                        b'  {"type": "debug", "message": "x"}\n{"type":"setenv",\n"message":"B="}\n')
    assert provider._read_messages(stream, "db", printed.append) == {"A": "b=c", "B": ""}
    assert printed == [" db  one"]
    for bad, said in ((b'{"type":"nope","message":"x"}', "invalid response from plugin: nope"),
                      (b'{"type":"setenv","message":"NOEQUALS"}', "invalid response from plugin: NOEQUALS"),
                      (b'{"type":"error","message":"boom"}', "boom"),
                      (b'{"type":"info"', 'invalid response from plugin: {"type":"info"')):
        with pytest.raises(provider.ProviderError, match=said):
            provider._read_messages(io.BytesIO(bad), "db", printed.append)


def test_provider_command_line_and_metadata() -> None:
    p = _load(CASE)
    args = provider.command_line(p, "db", "up", "/x/prov", {})
    assert args == ["/x/prov", "compose", "--project-name=provider-models", "up", "--public=true", "--size=10",
                    "--size=20", "--type=mysql", "db"]
    meta = {"up": {"parameters": [{"name": "size", "required": True}]}}
    assert provider.command_line(p, "db", "up", "/x/prov", meta)[4:] == ["--size=10", "--size=20", "db"]
    with pytest.raises(provider.ProviderError, match='required parameter "region" is missing from provider '
                                                      '"awesomecloud" definition'):
        provider.command_line(p, "db", "up", "/x/prov", {"up": {"parameters": [{"name": "region", "required": True}]}})
    with pytest.raises(provider.ProviderError, match="'compose' is not a valid provider type"):
        provider.executable("compose", ENV)
    with pytest.raises(provider.ProviderError, match='exec: "no-such-provider-e3": executable file not found'):
        provider.executable("no-such-provider-e3", {**ENV, "DOCKER_CONFIG": "/nonexistent"})


def test_setenv_variables_go_to_the_dependents_prefixed() -> None:
    p = _load(CASE)
    provider.inject(p, "db", {"URL": "u", "TOKEN": "t"})
    assert p.services["web"]["environment"] == {"DB_URL": "u", "DB_TOKEN": "t"}
    assert "environment" not in p.services["api"]
