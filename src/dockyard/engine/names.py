"""Container names: Docker's validation, its ``adjective_surname`` generator, and the environment
of legacy links (``--link name:alias``)."""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from dockyard import errors

if TYPE_CHECKING:
    from dockyard.engine.container import Container

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


def in_use(name: str, by: str) -> errors.Conflict:
    """dockerd's error for a name another container (``by``, its ID) holds."""
    return errors.Conflict(f'Conflict. The container name "/{name}" is already in use by container "{by}". '
                           "You have to remove (or rename) that container to be able to reuse that name.")


def check_free(containers: Iterable[Container], name: str, own: str = "") -> None:
    """dockerd's conflict when a container other than ``own`` (an ID) holds ``name``."""
    for c in containers:
        if c.name == f"/{name}" and c.id != own:
            raise in_use(name, c.id)


def generate(taken: set[str]) -> str:
    for _ in range(100):
        name = f"{random.choice(LEFT)}_{random.choice(RIGHT)}"
        if name not in taken:
            return name
    return f"{random.choice(LEFT)}_{random.choice(RIGHT)}{random.randint(1, 99999)}"


def link_env(get: Callable[[str], Container], name: str, links: list[str]) -> list[str]:
    """Legacy links' environment (``ALIAS_NAME``, ``ALIAS_ENV_*``), as dockerd gives it; /etc/hosts is
    the network's part. Ports (``ALIAS_PORT_*``) need the linked container's address: not given."""
    env: list[str] = []
    for link in links:
        target, _, alias = link.partition(":")
        other = get(target)
        alias = (alias or other.name).strip("/").split("/")[-1]
        prefix = alias.upper().replace("-", "_")
        env.append(f"{prefix}_NAME=/{name}/{alias}")
        for e in other.config.env or []:
            key, eq, value = e.partition("=")
            if eq and key not in ("HOME", "PATH"):
                env.append(f"{prefix}_ENV_{key}={value}")
    return env


def split_link(link: str) -> tuple[str, str]:
    """A legacy link's (target, alias), from ``target[:alias]`` or the stored ``/target:/linker/alias``."""
    target, _, alias = link.partition(":")
    target = target.strip("/")
    return target, (alias.rstrip("/").split("/")[-1] if alias else target)


def stored_links(get: Callable[[str], Container], name: str, links: list[str]) -> list[str]:
    """Legacy links as dockerd records them: ``/<target>:/<this container>/<alias>``."""
    return [f"{get(target).name}:/{name}/{alias}" for target, alias in map(split_link, links)]
