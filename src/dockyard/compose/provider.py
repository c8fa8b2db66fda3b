"""``provider:`` services, as Compose v2 runs them (``pkg/compose/plugins.go``).

A provider service has no container: ``up`` runs the provider's executable (the docker CLI plugin
``docker-<type>``, else ``<type>`` on ``PATH``) as ``<exe> compose --project-name=P up
[--option=value ...] SERVICE`` and reads its stdout, a stream of JSON messages
``{"type": "info"|"error"|"setenv"|"debug", "message": ...}``. Each ``setenv`` ``KEY=VALUE``
becomes ``<SERVICE>_KEY=VALUE`` in the environment of every service that depends on it;
``down`` runs the same with ``down``. ``<exe> compose metadata`` (optional) names the options
each command takes and which are required: with it, only those options are passed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

from dockyard import errors

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from dockyard.compose.project import Project

SYSTEM_PLUGIN_DIRS = ("/usr/local/lib/docker/cli-plugins", "/usr/local/libexec/docker/cli-plugins",
                      "/usr/lib/docker/cli-plugins", "/usr/libexec/docker/cli-plugins")


class ProviderError(errors.FailedPrecondition):
    pass


def _environ(project: Project) -> dict[str, str]:
    return {**os.environ, **project.environment}


def _config_dir(env: dict[str, str]) -> str:
    return env.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")


def executable(kind: str, env: dict[str, str]) -> str:
    """The docker CLI plugin ``docker-<kind>`` (the user's plugins, then the system's), else
    ``<kind>`` on ``PATH``."""
    if kind == "compose":
        raise ProviderError("'compose' is not a valid provider type")
    for d in (os.path.join(_config_dir(env), "cli-plugins"), *SYSTEM_PLUGIN_DIRS):
        path = os.path.join(d, "docker-" + kind)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    found = shutil.which(kind, path=env.get("PATH", os.defpath))
    if found is None:
        raise ProviderError(f'exec: "{kind}": executable file not found in $PATH')
    return found


def metadata(exe: str, kind: str, env: dict[str, str]) -> dict[str, Any]:
    """``<exe> compose metadata``, or ``{}`` when the provider has none; kept, as v2 keeps it, in
    ``<docker config>/compose/providers/<kind>.json`` for editors."""
    try:
        r = subprocess.run([exe, "compose", "metadata"], env=env, capture_output=True, timeout=60)
        found = json.loads(r.stdout) if r.returncode == 0 else {}
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return {}
    if not isinstance(found, dict):
        return {}
    keep = os.path.join(_config_dir(env), "compose", "providers")
    try:
        os.makedirs(keep, mode=0o700, exist_ok=True)
        with open(os.path.join(keep, kind + ".json"), "wb") as f:
            f.write(r.stdout)
    except OSError:
        pass  # only a convenience for editors, as in v2
    return found


def command_line(project: Project, service: str, command: str, exe: str, meta: dict[str, Any]) -> list[str]:
    provider = project.services[service]["provider"]
    params = {p.get("name"): p for p in ((meta.get(command) or {}).get("parameters") or [])}
    options: dict[str, list[str]] = provider.get("options") or {}
    if meta:
        for name, p in params.items():
            if p.get("required") and name not in options:
                raise ProviderError(f'required parameter "{name}" is missing from provider "{provider["type"]}" '
                                    "definition")
    args = [exe, "compose", f"--project-name={project.name}", command]
    args += [f"--{k}={v}" for k, values in options.items() for v in values if not meta or k in params]
    return [*args, service]


def run(project: Project, service: str, command: str, out: Callable[[str], None]) -> dict[str, str]:
    """Runs the provider of ``service`` for ``command`` (``up``/``down``), printing v2's progress
    lines; returns the variables it set."""
    env = _environ(project)
    kind = project.services[service]["provider"]["type"]
    exe = executable(kind, env)
    argv = command_line(project, service, command, exe, metadata(exe, kind, env))
    action, doing, done = ("create", "Creating", "Created") if command == "up" else ("remove", "Removing", "Removed")
    out(f" {service}  {doing}")
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    try:
        variables = _read_messages(proc.stdout, service, out)
    except ProviderError:
        proc.kill()
        raise
    finally:
        proc.stdout.close()
        rc = proc.wait()
    if rc != 0:
        out(f" {service}  exit status {rc}")
        raise ProviderError(f"failed to {action} service provider: exit status {rc}")
    out(f" {service}  {done}")
    return variables


def _read_messages(stream: Any, service: str, out: Callable[[str], None]) -> dict[str, str]:
    """The provider's JSON messages, one after the other (as Go's ``json.Decoder`` reads them)."""
    variables: dict[str, str] = {}
    decoder = json.JSONDecoder()
    pending = ""
    for raw in stream:
        pending += raw.decode(errors="replace")
        while pending.strip():
            try:
                msg, end = decoder.raw_decode(pending.lstrip())
            except ValueError:
                break  # the rest of the message is still to come
            pending = pending.lstrip()[end:]
            _message(msg, service, out, variables)
    if pending.strip():
        raise ProviderError(f"invalid response from plugin: {pending.strip()}")
    return variables


def _message(msg: Any, service: str, out: Callable[[str], None], variables: dict[str, str]) -> None:
    kind = msg.get("type", "") if isinstance(msg, dict) else ""
    text = str(msg.get("message", "")) if isinstance(msg, dict) else ""
    if kind == "error":
        out(f" {service}  {text}")
        raise ProviderError(text)
    if kind == "info":
        out(f" {service}  {text}")
    elif kind == "setenv":
        key, sep, value = text.partition("=")
        if not sep:
            raise ProviderError(f"invalid response from plugin: {text}")
        variables[key] = value
    elif kind != "debug":
        raise ProviderError(f"invalid response from plugin: {kind}")


def up(project: Project, service: str, out: Callable[[str], None], dry_run: bool = False) -> None:
    """``up`` of a provider service: run, its variables given to the dependents."""
    if dry_run:
        out(f" {service}  Creating")
        return
    inject(project, service, run(project, service, "up", out))


def down_all(project: Project, out: Callable[[str], None]) -> None:
    """``<provider> compose down SERVICE`` for the project's provider services, dependents first."""
    from dockyard.compose.project import order

    for s in reversed(order(project.services)):
        if "provider" in project.services[s]:
            run(project, s, "down", out)


def inject(project: Project, service: str, variables: dict[str, str]) -> None:
    """``<SERVICE>_KEY=VALUE`` into the environment of each service depending on ``service``."""
    prefix = service.upper() + "_"
    for svc in project.services.values():
        if service in (svc.get("depends_on") or {}):
            svc["environment"] = {**(svc.get("environment") or {}), **{prefix + k: v for k, v in variables.items()}}
