"""Registry credentials as the docker CLI keeps them: in ``config.json`` (``auths``, base64
``user:password``), or in a credential helper, ``docker-credential-<name>`` on PATH, named by
``credHelpers[<registry>]`` or ``credsStore`` (the helper protocol: ``store``/``get``/``erase``/``list``
with JSON on stdin and stdout). With a helper, ``auths`` keeps an empty entry per registry, as docker does."""

from __future__ import annotations

import base64
import json
import subprocess

from dockyard.cli.config import load_config, save_config
from dockyard.cli.errors import CLIError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

HUB_KEY = "https://index.docker.io/v1/"
TOKEN_USER = "<token>"  # a helper's Username when the Secret is an identity token


def server_key(server: str) -> str:
    host = server.removeprefix("https://").removeprefix("http://").split("/", 1)[0]
    return HUB_KEY if host in ("", "docker.io", "index.docker.io", "registry-1.docker.io") else host


def helper_for(cfg: dict[str, Any], key: str) -> str:
    return str((cfg.get("credHelpers") or {}).get(key) or cfg.get("credsStore") or "")


def _call(helper: str, action: str, data: str) -> str:
    program = f"docker-credential-{helper}"
    try:
        r = subprocess.run([program, action], input=data.encode(), capture_output=True, timeout=60)
    except FileNotFoundError:
        raise CLIError(f'error getting credentials - err: exec: "{program}": executable file not found in $PATH, '
                       "out: ``") from None
    out = r.stdout.decode(errors="replace").strip()
    if r.returncode != 0:
        if "credentials not found" in out:
            raise KeyError(out)
        raise CLIError(f"error {action} credentials - err: exit status {r.returncode}, out: `{out}`")
    return out


def get(server: str, override: str | None = None) -> dict[str, str]:
    """{"username", "password"} or {"identitytoken"} for ``server``; {} when nothing is stored."""
    cfg = load_config(override)
    key = server_key(server)
    helper = helper_for(cfg, key)
    if helper:
        try:
            found = json.loads(_call(helper, "get", key) or "{}")
        except KeyError:
            return {}
        if found.get("Username") == TOKEN_USER:
            return {"identitytoken": found.get("Secret", "")}
        if not found.get("Username") and not found.get("Secret"):  # the pass helper's "nothing stored"
            return {}
        return {"username": found.get("Username", ""), "password": found.get("Secret", "")}
    entry = (cfg.get("auths") or {}).get(key) or {}
    out: dict[str, str] = {}
    if entry.get("auth"):
        user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
        out.update(username=user, password=password)
    if entry.get("identitytoken"):
        out["identitytoken"] = entry["identitytoken"]
    return out


def store(server: str, username: str, password: str, token: str = "", override: str | None = None) -> None:
    cfg = load_config(override)
    key = server_key(server)
    helper = helper_for(cfg, key)
    auths = cfg.setdefault("auths", {})
    if helper:
        secret = {"ServerURL": key, "Username": TOKEN_USER if token else username, "Secret": token or password}
        _call(helper, "store", json.dumps(secret))
        auths[key] = {}
    elif token:
        auths[key] = {"auth": base64.b64encode(f"{username}:".encode()).decode(), "identitytoken": token}
    else:
        auths[key] = {"auth": base64.b64encode(f"{username}:{password}".encode()).decode()}
    save_config(cfg, override)


def erase(server: str, override: str | None = None) -> bool:
    """Forget ``server``'s credentials; False when there were none."""
    cfg = load_config(override)
    key = server_key(server)
    helper = helper_for(cfg, key)
    known = key in (cfg.get("auths") or {})
    if helper:
        try:
            _call(helper, "erase", key)
            known = True
        except KeyError:
            pass
    if key in (cfg.get("auths") or {}):
        del cfg["auths"][key]
        save_config(cfg, override)
    return known


def registry_auth(domain: str, override: str | None = None) -> str:
    """The ``X-Registry-Auth`` value for ``domain``."""
    auth: dict[str, str] = {"serveraddress": domain, **get(domain, override)}
    return base64.urlsafe_b64encode(json.dumps(auth).encode()).decode()
