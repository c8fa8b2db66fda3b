"""Interpolation, table-driven; each expectation is what Compose v2 (2.40.3) gives for the same value
(checked with its ``config``, see ``corpus/include``)."""

from __future__ import annotations

import pytest

from dockyard.compose.interpolate import InterpolationError, MissingVariable, interpolate, substitute

ENV = {"A": "a", "E": "", "MODE": "prod"}


@pytest.mark.parametrize("text,expected", [
    ("$A", "a"),
    ("${A}", "a"),
    ("pre${A}post", "preapost"),
    ("$$A", "$A"),
    ("$$$A", "$a"),
    ("${U:-d}", "d"),
    ("${E:-d}", "d"),          # empty counts as unset with the colon
    ("${E-d}", ""),            # ... and as set without it
    ("${U-d}", "d"),
    ("${A:+alt}", "alt"),
    ("${E:+alt}", ""),
    ("${E+alt}", "alt"),
    ("${U+alt}", ""),
    ("${U:-${V:-deep}}", "deep"),
    ("${U:-${A}x}", "ax"),
    ("${U}", ""),
    ("$U", ""),
    ("cost: 5$", "cost: 5$"),
    ("$1", "$1"),
    ("${A:?must}", "a"),
])
def test_substitute(text: str, expected: str) -> None:
    assert substitute(text, ENV.get) == expected


@pytest.mark.parametrize("text,message", [
    ("${U:?set U}", "required variable U is missing a value: set U"),
    ("${E:?}", "required variable E is missing a value"),
    ("${U?}", "required variable U is missing a value"),
])
def test_required_variables(text: str, message: str) -> None:
    with pytest.raises(MissingVariable, match=message):
        substitute(text, ENV.get)


def test_set_but_empty_satisfies_question_without_colon() -> None:
    assert substitute("${E?no}", ENV.get) == ""


@pytest.mark.parametrize("text", ["${", "${ A}", "${A", "${-x}", "${A!x}"])
def test_invalid_format(text: str) -> None:
    with pytest.raises(InterpolationError, match="invalid interpolation format"):
        substitute(text, ENV.get)


def test_values_not_keys_and_the_path_in_errors() -> None:
    data = {"services": {"$A": {"image": "busybox:${MODE}", "command": ["echo", "$$HOME", 3]}}}
    assert interpolate(data, ENV) == {"services": {"$A": {"image": "busybox:prod",
                                                           "command": ["echo", "$HOME", 3]}}}
    with pytest.raises(MissingVariable, match=r"error while interpolating services\.a\.image: required variable "
                                              r"NOPE is missing a value: set NOPE"):
        interpolate({"services": {"a": {"image": "${NOPE:?set NOPE}"}}}, ENV)
