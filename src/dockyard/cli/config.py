"""The docker CLI's configuration directory (``--config``, ``DOCKER_CONFIG``, ``~/.docker``) and its
``config.json``, shared with the docker CLI: auths, credsStore, credHelpers, currentContext,
psFormat, imagesFormat."""

from __future__ import annotations

import os

from dockyard.client.jsonlite import loads

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def config_dir(override: str | None = None) -> str:
    return override or os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")


def config_path(override: str | None = None) -> str:
    return os.path.join(config_dir(override), "config.json")


def load_config(override: str | None = None) -> dict[str, Any]:
    try:
        with open(config_path(override), "rb") as f:
            data = loads(f.read() or b"{}")
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        from dockyard.cli.errors import CLIError

        raise CLIError(f"WARNING: Error loading config file: {config_path(override)}: {err}") from None
    return data if isinstance(data, dict) else {}


def save_config(cfg: dict[str, Any], override: str | None = None) -> None:
    path = config_path(override)
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    import json

    tmp = path + ".tmp"
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        json.dump(cfg, f, indent="\t")
    os.replace(tmp, path)
