"""YAML 1.2 as Compose v2 (go-yaml v3) reads it, on PyYAML."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from dockyard.compose import yamlload


@pytest.mark.parametrize("text,expected", [
    ("on", "on"), ("yes", "yes"), ("off", "off"), ("y", "y"), ("No", "No"),   # 1.1 booleans are strings
    ("true", True), ("False", False), ("TRUE", True),
    ("010", 8), ("019", 19), ("0o10", 8), ("0x1f", 31), ("-3", -3),                       # 1.2 octal is 0o
    ("1:30", "1:30"),                                                          # no sexagesimal
    ("2001-12-14", "2001-12-14"),                                              # no timestamps
    ("1.5", 1.5), (".inf", float("inf")), ("~", None), ("null", None), ("", None),
    ("'yes'", "yes"), ('"010"', "010"),
])
def test_scalars(text: str, expected: object) -> None:
    assert yamlload.load(f"v: {text}")["v"] == expected


def test_anchors_aliases_and_merge_keys() -> None:
    data = yamlload.load("""
x-base: &base {image: busybox, environment: {A: "1"}, restart: "no"}
services:
  a:
    <<: *base
    restart: always
  b: *base
  c:
    <<: [*base, {user: nobody}]
""")
    assert data["services"]["a"] == {"image": "busybox", "environment": {"A": "1"}, "restart": "always"}
    assert data["services"]["b"]["restart"] == "no"
    assert data["services"]["c"]["user"] == "nobody"


def test_duplicate_keys_are_refused_with_lines() -> None:
    with pytest.raises(yamlload.ComposeYAMLError, match=r"^failed to parse f\.yml: line 3: mapping key \"image\" "
                                                        r"already defined at line 2$"):
        yamlload.load("a:\n  image: x\n  image: y\n", "f.yml")


def test_syntax_errors_name_the_file() -> None:
    with pytest.raises(yamlload.ComposeYAMLError, match="f.yml"):
        yamlload.load("a: [1, 2\n", "f.yml")


def test_line_of_a_path() -> None:
    text = "services:\n  web:\n    image: x\n    ports:\n      - 80\n      - bad\n"
    assert yamlload.line_of(text, ("services", "web", "ports", 1)) == 6
    assert yamlload.line_of(text, ("services", "web")) == 2


# What Compose v2 2.40.3 (go-yaml v3) printed for each file (`config -q`), measured 2026-12-08.
V2_YAML_ERRORS = [
    ("services:\n  a:\n    image: busybox\n    command: a: b\n",
     "yaml: line 4: mapping values are not allowed in this context"),
    ("services:\n  a:\n    image: [busybox\n", "yaml: line 2: did not find expected ',' or ']'"),
    ("services:\n  a:\n   image: x\n  b: c\n d: e\n", "yaml: line 4: did not find expected key"),
    ('services:\n  a:\n    image: "busybox\n', "yaml: line 3: found unexpected end of stream"),
    ("services:\n\ta:\n", "yaml: line 2: found character that cannot start any token"),
    ("services:\n  a: *x\n", "yaml: unknown anchor 'x' referenced"),
    ("services:\n  a:\n    image: busybox\n    - x\n", "yaml: line 2: did not find expected key"),
]


@pytest.mark.parametrize(("text", "v2"), V2_YAML_ERRORS, ids=[str(i) for i in range(len(V2_YAML_ERRORS))])
def test_syntax_errors_in_go_yamls_words(text: str, v2: str) -> None:
    with pytest.raises(yamlload.ComposeYAMLError) as err:
        yamlload.load(text, "f.yml")
    assert str(err.value) == f"f.yml: {v2}"


@pytest.mark.parametrize(("text", "v2"), V2_YAML_ERRORS, ids=[str(i) for i in range(len(V2_YAML_ERRORS))])
def test_syntax_errors_against_compose_v2(text: str, v2: str, tmp_path: Path, compose_v2: str) -> None:
    """The same files through the real Compose v2 (when its binary is here): its words are ours."""
    (tmp_path / "compose.yaml").write_text(text)
    r = subprocess.run([compose_v2, "config", "-q"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                       env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)})
    assert r.returncode != 0
    assert r.stderr.strip() == v2
    with pytest.raises(yamlload.ComposeYAMLError) as err:
        yamlload.load(text, str(tmp_path / "compose.yaml"))
    assert str(err.value) == f"{tmp_path / 'compose.yaml'}: {r.stderr.strip()}"
