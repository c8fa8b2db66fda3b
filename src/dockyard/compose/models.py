"""``models:`` (Docker Model Runner). Compose v2 pulls and configures each model through the
``docker model`` CLI plugin and its runner before it creates anything; Dockyard has no Model
Runner, so a command that would run a service using models is refused up front, in v2's words
for a missing runner, naming the models. ``config`` renders them (loader, configout)."""

from __future__ import annotations

from dockyard import errors

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

    from dockyard.compose.project import Project


class ModelsUnavailable(errors.FailedPrecondition):
    pass


def refuse(project: Project, services: Iterable[str]) -> None:
    """Raises when any of ``services`` uses a model."""
    wanted = sorted({m for s in services for m in project.services[s].get("models") or {}})
    if not wanted:
        return
    named = ", ".join(f"{m} ({(project.models.get(m) or {}).get('model') or m})" for m in wanted)
    raise ModelsUnavailable(f"'models' support requires Docker Model plugin: the Model Runner is not available "
                            f"on Dockyard (model {named})")
