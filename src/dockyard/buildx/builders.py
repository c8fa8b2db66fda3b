"""``--builder NAME`` (and ``BUILDX_BUILDER``) where the only builder is the daemon's own, classic
one: what buildx answers (``store/storeutil.GetNodeGroup`` and ``builder.Validate``), for the
plugin and for ``dockyard compose build`` (Compose v2 hands the name to ``buildx bake --builder``).

buildx looks the name up in its own store (``$BUILDX_CONFIG`` or ``<docker config>/buildx``,
``instances/<lowercased name>``), then among the docker contexts (each one a builder of the
``docker`` driver). A context builder other than the current context is refused ("use `docker
--context=X buildx` ..."); a name that is neither is ``no builder "X" found``. A builder of buildx's
store (``docker buildx create``: a BuildKit container or a remote BuildKit) cannot be used by
Dockyard's plugin, which builds only with the daemon's classic builder: refused by name."""

from __future__ import annotations

import os

from dockyard import errors


def _store_dir(config: str | None) -> str:
    from dockyard.cli.config import config_dir

    return os.environ.get("BUILDX_CONFIG") or os.path.join(config_dir(config), "buildx")


def _go_quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def check(name: str, current: str, config: str | None = None) -> None:
    """Refuse builder ``name`` as buildx would, ``current`` being the docker CLI's current context
    (the default one under ``-H`` / ``DOCKER_HOST``, so always under Compose v2); "" is the
    current builder."""
    if not name:
        return
    if os.path.isfile(os.path.join(_store_dir(config), "instances", name.lower())):
        raise errors.InvalidArgument(f"builder {_go_quote(name)} is one of buildx's own (docker buildx create): "
                                     "Dockyard's docker-buildx builds only with the daemon's classic builder, "
                                     f"the builder {_go_quote(current)}")
    if name == current:
        return
    from dockyard.cli import context

    if name == context.DEFAULT or name in context.names(config):
        raise errors.InvalidArgument(f"use `docker --context={name} buildx` to switch to context {_go_quote(name)}")
    raise errors.NotFound(f"no builder {_go_quote(name)} found")
