"""The loaded project (``Project``) and the dependency order of its services.

Kept apart from ``loader`` so that commands served from the project cache (``projcache``)
import neither YAML nor the loader: a plain class, no dataclasses (whose import costs ~10 ms of
every command's start).
"""

from __future__ import annotations

from dockyard import errors

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path
    from typing import Any

FIELDS = ("name", "working_dir", "config_files", "services", "networks", "volumes", "secrets", "configs",
          "extensions", "environment", "disabled", "profiles", "models")


class ComposeError(errors.InvalidArgument):
    pass


class Project:
    def __init__(self, name: str, working_dir: Path | str, config_files: list[str], services: dict[str, dict[str, Any]],
                 networks: dict[str, dict[str, Any]], volumes: dict[str, dict[str, Any]],
                 secrets: dict[str, dict[str, Any]], configs: dict[str, dict[str, Any]], extensions: dict[str, Any],
                 environment: dict[str, str], disabled: dict[str, dict[str, Any]] | None = None,
                 profiles: list[str] | None = None, models: dict[str, dict[str, Any]] | None = None) -> None:
        self.name = name
        self.workdir = str(working_dir)  # kept as text: pathlib costs ~5 ms of a cached command's start
        self.config_files = config_files
        self.services = services
        self.networks = networks
        self.volumes = volumes
        self.secrets = secrets
        self.configs = configs
        self.extensions = extensions
        self.environment = environment
        self.disabled = disabled if disabled is not None else {}
        self.profiles = profiles if profiles is not None else []
        self.models = models if models is not None else {}  # the top-level models the services use

    @property
    def working_dir(self) -> Path:
        from pathlib import Path

        return Path(self.workdir)

    def service(self, name: str) -> dict[str, Any]:
        if name not in self.services:
            raise errors.NotFound(f"no such service: {name}")
        return self.services[name]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "services": self.services}
        for key in ("networks", "volumes", "secrets", "configs", "models"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        out.update(self.extensions)
        return out

    def fields(self) -> tuple[Any, ...]:
        """The project as plain data (``working_dir`` as a string), for the cache."""
        return tuple(self.workdir if f == "working_dir" else getattr(self, f) for f in FIELDS)

    @classmethod
    def from_fields(cls, values: tuple[Any, ...]) -> Project:
        return cls(**dict(zip(FIELDS, values, strict=True)))


def with_dependencies(services: Mapping[str, Any], named: list[str] | None, follow: bool = True) -> set[str]:
    """The services named (all without names; one the project lacks is refused) and, with
    ``follow``, every service they depend on."""
    for name in named or ():
        if name not in services:
            raise errors.NotFound(f"no such service: {name}")
    wanted = set(named or services)
    todo = list(wanted) if follow else []
    while todo:
        for dep in services[todo.pop()].get("depends_on") or {}:
            if dep in services and dep not in wanted:
                wanted.add(dep)
                todo.append(dep)
    return wanted


def order(services: Mapping[str, Any]) -> list[str]:
    """Services in dependency order (dependencies first); a cycle is refused."""
    out: list[str] = []
    state: dict[str, int] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = path[path.index(name):] + [name]
            raise ComposeError("dependency cycle detected: " + " -> ".join(cycle))
        state[name] = 1
        for dep in sorted(services[name].get("depends_on") or {}):
            if dep in services:
                visit(dep, path + [name])
        state[name] = 2
        out.append(name)

    for name in sorted(services):
        visit(name, [])
    return out
