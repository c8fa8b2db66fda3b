"""The field-by-field table of docs/conformance.md covers every create field of the swagger."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
SWAGGER = REPO.parent / "shared" / "spec" / "engine-api-swagger.yaml"
DEFINITIONS = ("ContainerConfig", "HostConfig", "EndpointSettings", "EndpointIPAMConfig", "HealthConfig", "Mount")


def _fields(defs: dict, name: str) -> set[str]:
    out: set[str] = set()
    for part in defs[name].get("allOf", [defs[name]]):
        out |= _fields(defs, part["$ref"].rsplit("/", 1)[1]) if "$ref" in part else set(part.get("properties", {}))
    return out


def _table() -> dict[str, str]:
    rows = re.findall(r"^\| `(\w+\.\w+)` \| [^|]+ \| ([^|]+) \|$", (REPO / "docs" / "conformance.md").read_text(), re.M)
    return dict(rows)


def test_every_create_field_of_the_swagger_is_in_the_table() -> None:
    if not SWAGGER.exists():
        pytest.fail(f"{SWAGGER} is missing: the workplace lays ../shared beside the checkout")
    defs = yaml.safe_load(SWAGGER.read_text())["definitions"]
    wanted = {f"{d}.{f}" for d in DEFINITIONS for f in _fields(defs, d)}
    assert wanted - set(_table()) == set()


def test_the_tests_the_table_names_exist() -> None:
    named = {cell.strip().strip("`") for cell in _table().values() if cell.strip() != "—"}
    assert named and {t for t in named if not (REPO / t).is_file()} == set()
