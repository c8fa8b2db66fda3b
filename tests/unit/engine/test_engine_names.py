"""Container names: Docker's rule ``[a-zA-Z0-9][a-zA-Z0-9_.-]+`` and the generator."""

from __future__ import annotations

import re

import pytest

from dockyard import errors
from dockyard.engine import names


@pytest.mark.parametrize(("given", "stored"), [("web", "web"), ("/web", "web"), ("a.b_c-1", "a.b_c-1"),
                                               ("9lives", "9lives"), ("Ab", "Ab")])
def test_valid_names_lose_the_leading_slash(given: str, stored: str) -> None:
    assert names.validate(given) == stored


@pytest.mark.parametrize("bad", ["", "a", "/", "_web", "-web", ".web", "we b", "web/x", "wéb", "//web"])
def test_invalid_names(bad: str) -> None:
    with pytest.raises(errors.InvalidArgument, match=r"Invalid container name .* only \[a-zA-Z0-9\]"):
        names.validate(bad)


def test_a_trailing_newline_is_not_part_of_a_valid_name() -> None:
    with pytest.raises(errors.InvalidArgument):
        names.validate("web\n")


def test_generated_names_are_adjective_underscore_surname_and_free() -> None:
    half = {f"{left}_{right}" for left in names.LEFT[::2] for right in names.RIGHT}
    for _ in range(20):
        assert names.generate(half) not in half
    for _ in range(20):
        name = names.generate(set())
        left, _, right = name.partition("_")
        assert left in names.LEFT and right in names.RIGHT
        names.validate(name)


def test_generator_adds_a_number_when_every_pair_is_taken() -> None:
    taken = {f"{left}_{right}" for left in names.LEFT for right in names.RIGHT}
    name = names.generate(taken)
    assert name not in taken
    assert re.fullmatch(r"[a-z]+_[a-z]+\d+", name)
