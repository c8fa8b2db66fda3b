"""Validation against the Compose Specification's JSON schema (``compose-spec.json``, shipped
beside this module), with messages naming the file, the path and the line as Compose v2 does:
``validating compose.yaml: services.web additional properties 'on' not allowed (line 7)``."""

from __future__ import annotations

import hashlib
import json
import os
import re
from functools import cache
from pathlib import Path
from typing import Any

from dockyard import errors
from dockyard.compose.yamlload import line_of

SCHEMA_PATH = Path(__file__).with_name("compose-spec.json")


class SchemaError(errors.InvalidArgument):
    pass


@cache
def _validator() -> Any:
    import jsonschema

    schema = json.loads(SCHEMA_PATH.read_text())
    return jsonschema.Draft7Validator(schema, format_checker=None)


def _cache_marker(data: Any) -> Path | None:
    """Where a file saying "this exact instance is valid" lives: a valid project is not checked
    (nor jsonschema imported, ~0.25 s of a command) again until it or the schema changes."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if not os.path.isabs(base):
        return None
    digest = hashlib.sha256(SCHEMA_PATH.read_bytes())
    digest.update(json.dumps(data, sort_keys=True, default=repr).encode())
    return Path(base, "dockyard", "compose-valid", digest.hexdigest())


def validate(data: Any, filename: str, text: str | None = None) -> None:
    """Raise ``SchemaError`` for the first (deepest, most relevant) violation in ``data``."""
    marker = _cache_marker(data)
    if marker is not None and marker.exists():
        return
    import jsonschema.exceptions

    found = list(_validator().iter_errors(data))
    if not found:
        _remember(marker)
        return
    err = jsonschema.exceptions.best_match(found)
    path = tuple(err.absolute_path)
    where = ".".join(str(p) for p in path)
    message = _message(err)
    extra = _extra(err)
    line = line_of(text, path + extra[:1]) if text is not None else None  # the line of the key not allowed
    suffix = f" (line {line})" if line else ""
    raise SchemaError(f"validating {filename}: {where + ' ' if where else ''}{message}{suffix}")


def _remember(marker: Path | None) -> None:
    if marker is None:
        return
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    except OSError:
        return  # a read-only home: validate every time


def _extra(err: Any) -> tuple[str, ...]:
    """The keys an ``additionalProperties`` error is about."""
    if err.validator != "additionalProperties" or not isinstance(err.instance, dict):
        return ()
    extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
    return tuple(e for e in extra if not any(re.match(p, e) for p in err.schema.get("patternProperties", {})))


def _message(err: Any) -> str:
    if err.validator == "additionalProperties":
        return f"additional properties {', '.join(repr(e) for e in _extra(err))} not allowed"
    if err.validator == "type":
        expected = err.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return f"must be a {expected}"
    if err.validator == "required":
        return str(err.message)
    return str(err.message)
