"""Container names: Docker's validation and its ``adjective_surname`` generator."""

from __future__ import annotations

import random
import re

from dockyard import errors

VALID = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")

LEFT = ("admiring", "bold", "brave", "busy", "calm", "clever", "dazzling", "eager", "elegant", "focused",
        "gallant", "happy", "jolly", "keen", "kind", "loving", "modest", "nifty", "quirky", "sharp",
        "serene", "stoic", "tender", "vibrant", "wizardly", "zealous")
RIGHT = ("albattani", "babbage", "bohr", "curie", "darwin", "einstein", "euler", "faraday", "gauss",
         "hopper", "hypatia", "kepler", "lamarr", "lovelace", "meitner", "newton", "noether", "pascal",
         "ritchie", "shannon", "tesla", "thompson", "turing", "wozniak", "yalow")


def validate(name: str) -> str:
    if not VALID.fullmatch(name):
        raise errors.InvalidArgument(f'Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed')
    return name.lstrip("/")


def generate(taken: set[str]) -> str:
    for _ in range(100):
        name = f"{random.choice(LEFT)}_{random.choice(RIGHT)}"
        if name not in taken:
            return name
    return f"{random.choice(LEFT)}_{random.choice(RIGHT)}{random.randint(1, 99999)}"
