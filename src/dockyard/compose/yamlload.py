"""YAML 1.2 (core schema) on top of PyYAML's C parser.

PyYAML resolves plain scalars by YAML 1.1's rules (``on``/``yes``/``off`` are booleans, ``010`` is
octal, ``1:30`` is sexagesimal, dates become ``datetime``). Compose files are read as YAML 1.2 by
Compose v2 (go-yaml v3), so this loader swaps the implicit resolvers for 1.2's core schema and keeps
everything else of PyYAML: libyaml's speed, anchors and aliases, and ``<<`` merge keys (which
compose files use although 1.2 dropped them). Duplicate keys are refused, as go-yaml refuses them.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from dockyard import errors

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ComposeYAMLError(errors.InvalidArgument):
    pass


class Loader(_Base):  # type: ignore[misc]
    yaml_implicit_resolvers: dict[str | None, list[tuple[str, re.Pattern[str]]]] = {}
    yaml_constructors = dict(_Base.yaml_constructors)


def _resolver(tag: str, pattern: str, first: str) -> None:
    Loader.add_implicit_resolver(tag, re.compile(pattern, re.X), list(first))


_resolver("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF")
_resolver("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789")
_resolver("tag:yaml.org,2002:float",
          r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
          "-+.0123456789")
_resolver("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""])  # type: ignore[arg-type]
_resolver("tag:yaml.org,2002:merge", r"^<<$", "<")


def _int(loader: Any, node: Any) -> int:
    value = loader.construct_scalar(node)
    if value.startswith("0o"):
        return int(value[2:], 8)
    if value.startswith("0x"):
        return int(value[2:], 16)
    digits = value.lstrip("+-")
    if len(digits) > 1 and digits[0] == "0" and set(digits) <= set("01234567"):  # go-yaml v3, so Compose v2: 0440 is octal
        return int(value, 8)
    return int(value, 10)


def _float(loader: Any, node: Any) -> float:
    value = loader.construct_scalar(node).lower()
    if value.endswith("inf"):
        return float("-inf") if value.startswith("-") else float("inf")
    return float(value)


def _bool(loader: Any, node: Any) -> bool:
    return bool(loader.construct_scalar(node).lower() == "true")


def _mapping(loader: Any, node: Any) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:  # the node's own keys; those a << merge brings may be overridden
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node)
        if key in seen:
            shown = f'"{key}"' if isinstance(key, str) else str(key)
            raise ComposeYAMLError(f"line {key_node.start_mark.line + 1}: mapping key {shown} already defined at "
                                   f"line {seen[key] + 1}")
        seen[key] = key_node.start_mark.line
    loader.flatten_mapping(node)
    return dict(loader.construct_pairs(node, deep=True))


Loader.add_constructor("tag:yaml.org,2002:int", _int)
Loader.add_constructor("tag:yaml.org,2002:float", _float)
Loader.add_constructor("tag:yaml.org,2002:bool", _bool)
Loader.add_constructor("tag:yaml.org,2002:map", _mapping)
Loader.add_constructor("tag:yaml.org,2002:timestamp", Loader.yaml_constructors["tag:yaml.org,2002:str"])


def load(text: str, filename: str = "<input>") -> Any:
    """The one document of ``text``, read as YAML 1.2. Errors in go-yaml's words, so Compose v2's,
    after the file's name: ``f.yml: yaml: line 4: mapping values are not allowed in this context``;
    a duplicate key as v2 words it, ``failed to parse f.yml: line 4: mapping key "a" already defined
    at line 2``."""
    try:
        return yaml.load(text, Loader=Loader)
    except yaml.MarkedYAMLError as err:
        message = go_message(err, text)
        if message is None:
            raise ComposeYAMLError(f"{filename}: {str(err).replace('<unicode string>', filename)}") from err
        raise ComposeYAMLError(f"{filename}: {message}") from err
    except yaml.YAMLError as err:
        raise ComposeYAMLError(f"{filename}: {str(err).replace('<unicode string>', filename)}") from err
    except ComposeYAMLError as err:
        raise ComposeYAMLError(f"failed to parse {filename}: {err}") from err


def go_message(err: yaml.MarkedYAMLError, text: str) -> str | None:
    """libyaml's error as go-yaml v3 (a port of libyaml) reports it: ``yaml: line N: <problem>``,
    N the context's line when that is not the first, else the problem's (0-based, one more for a
    scanner's error), no line when that is 0; an undefined alias as ``unknown anchor 'x'
    referenced``. None for what go-yaml words in ways of its own."""
    if isinstance(err, yaml.composer.ComposerError) and err.problem == "found undefined alias":
        mark = err.problem_mark
        rest = text.splitlines()[mark.line][mark.column + 1:] if mark is not None else ""
        name = re.match(r"[^\s,\[\]{}]*", rest)
        return f"yaml: unknown anchor '{name.group(0) if name else ''}' referenced"
    if not isinstance(err, (yaml.scanner.ScannerError, yaml.parser.ParserError)) or not err.problem:
        return None
    context, problem = err.context_mark, err.problem_mark
    line = context.line if context is not None and context.line else problem.line if problem is not None else 0
    if line and isinstance(err, yaml.scanner.ScannerError):
        line += 1
    return f"yaml: line {line}: {err.problem}" if line else f"yaml: {err.problem}"


def line_of(text: str, path: tuple[Any, ...]) -> int | None:
    """The 1-based line where ``path`` (keys and indexes) starts in ``text``, or None."""
    try:
        node = yaml.compose(text, Loader=Loader)
    except yaml.YAMLError:
        return None
    line = None
    for step in path:
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if getattr(k, "value", None) == str(step)), None)
            if match is None:
                break
            line = match[0].start_mark.line + 1
            node = match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
            node = node.value[step]
            line = node.start_mark.line + 1
        else:
            break
    return line
