"""YAML 1.2 as Compose v2 (go-yaml v3) reads it, on PyYAML."""

from __future__ import annotations

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
    with pytest.raises(yamlload.ComposeYAMLError, match=r"f\.yml: line 3: mapping key 'image' already defined at "
                                                        r"line 2"):
        yamlload.load("a:\n  image: x\n  image: y\n", "f.yml")


def test_syntax_errors_name_the_file() -> None:
    with pytest.raises(yamlload.ComposeYAMLError, match="f.yml"):
        yamlload.load("a: [1, 2\n", "f.yml")


def test_line_of_a_path() -> None:
    text = "services:\n  web:\n    image: x\n    ports:\n      - 80\n      - bad\n"
    assert yamlload.line_of(text, ("services", "web", "ports", 1)) == 6
    assert yamlload.line_of(text, ("services", "web")) == 2
