"""``dockyard context``: named daemon endpoints in the docker CLI's own store, so both CLIs share them.

``<config>/contexts/meta/<sha256(name)>/meta.json`` holds the name, the description and the
``docker`` endpoint (``Host``, ``SkipTLSVerify``); ``<config>/contexts/tls/<sha256(name)>/docker/``
its ``ca.pem``/``cert.pem``/``key.pem``; ``currentContext`` in ``config.json`` names the one in use.
The context is chosen by ``--context``, then ``DOCKER_CONTEXT``, then ``currentContext``; a name
that does not exist is an error, never a quiet fall back to the default socket."""

from __future__ import annotations

import argparse
import json
import os
import sys

from dockyard.cli.config import config_dir, load_config, save_config
from dockyard.cli.errors import CLIError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from dockyard.cli.main import Command
    from dockyard.client.http import TLSConfig

DEFAULT = "default"


def _hash(name: str) -> str:
    import hashlib

    return hashlib.sha256(name.encode()).hexdigest()


def meta_dir(name: str, override: str | None = None) -> str:
    return os.path.join(config_dir(override), "contexts", "meta", _hash(name))


def tls_dir(name: str, override: str | None = None) -> str:
    return os.path.join(config_dir(override), "contexts", "tls", _hash(name))


def load(name: str, override: str | None = None) -> dict[str, Any]:
    """The stored context ``name`` (the default one is made up from DOCKER_HOST)."""
    if name == DEFAULT:
        from dockyard.client.http import resolve_host

        return {"Name": DEFAULT, "Metadata": {"Description": "Current DOCKER_HOST based configuration"},
                "Endpoints": {"docker": {"Host": resolve_host(None), "SkipTLSVerify": False}}}
    path = os.path.join(meta_dir(name, override), "meta.json")
    try:
        with open(path, "rb") as f:
            return json.loads(f.read())  # type: ignore[no-any-return]
    except FileNotFoundError:
        raise CLIError(f'context "{name}" does not exist') from None
    except (OSError, ValueError) as err:
        raise CLIError(f'context "{name}": {err}') from None


def names(override: str | None = None) -> list[str]:
    root = os.path.join(config_dir(override), "contexts", "meta")
    found = []
    for entry in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        try:
            with open(os.path.join(root, entry, "meta.json"), "rb") as f:
                found.append(json.loads(f.read())["Name"])
        except (OSError, ValueError, KeyError):
            continue
    return sorted(found)


def current(override: str | None = None, flag: str | None = None) -> str:
    """The context in use: ``--context``, DOCKER_CONTEXT, config.json's currentContext, or default."""
    if flag:
        return flag
    if os.environ.get("DOCKER_CONTEXT"):
        return os.environ["DOCKER_CONTEXT"]
    return load_config(override).get("currentContext") or DEFAULT


def endpoint(flag: str | None, override: str | None = None) -> tuple[str | None, TLSConfig | None]:
    """(host, TLS) of the chosen context; (None, None) for the default one."""
    name = current(override, flag)
    if name == DEFAULT:
        return None, None
    if not flag and not os.environ.get("DOCKER_CONTEXT") and not os.path.isdir(meta_dir(name, override)):
        from dockyard.cli.config import config_path

        raise CLIError(f'Current context "{name}" is not found on the file system, please check your config file '
                       f"at {config_path(override)}")
    try:
        docker = (load(name, override).get("Endpoints") or {}).get("docker") or {}
    except CLIError as err:
        raise CLIError(f"unable to resolve docker endpoint: {err}") from None
    host = docker.get("Host")
    if not host:
        raise CLIError(f'context "{name}": no docker endpoint')
    tls_path = os.path.join(tls_dir(name, override), "docker")
    if not os.path.isdir(tls_path):
        return host, None
    from dockyard.client.http import TLSConfig

    files = {f: os.path.join(tls_path, f"{f}.pem") for f in ("ca", "cert", "key")}
    return host, TLSConfig(verify=not docker.get("SkipTLSVerify") and os.path.exists(files["ca"]),
                           cacert=files["ca"], cert=files["cert"], key=files["key"], tls=True)


def _docker_option(spec: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for item in spec.split(","):
        if not item:
            continue
        k, eq, v = item.partition("=")
        if not eq or k not in ("host", "ca", "cert", "key", "skip-tls-verify", "from"):
            raise CLIError(f"unable to create docker endpoint config: unrecognized config key: {k}")
        fields[k] = v
    return fields


def _validate(name: str) -> None:
    import re

    if name == DEFAULT:
        raise CLIError('"default" is a reserved context name')
    if not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.+-]+", name):
        raise CLIError(f'context name "{name}" is invalid, names are validated against regexp '
                       '"^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$"')


def _write(name: str, description: str, docker: dict[str, str], override: str | None,
           base: dict[str, Any] | None = None) -> None:
    import shutil

    endpoint: dict[str, Any] = dict((base or {}).get("Endpoints", {}).get("docker") or {})
    if "host" in docker:
        endpoint["Host"] = docker["host"]
    endpoint.setdefault("Host", "")
    endpoint["SkipTLSVerify"] = docker.get("skip-tls-verify", str(endpoint.get("SkipTLSVerify", False))).lower() \
        == "true"
    if not endpoint["Host"]:
        from dockyard.client.http import resolve_host

        endpoint["Host"] = resolve_host(None)
    meta = {"Name": name, "Metadata": {"Description": description}, "Endpoints": {"docker": endpoint}}
    d = meta_dir(name, override)
    os.makedirs(d, mode=0o755, exist_ok=True)
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump(meta, f, separators=(",", ":"))
    tls_files = {k: docker[k] for k in ("ca", "cert", "key") if docker.get(k)}
    if tls_files:
        dest = os.path.join(tls_dir(name, override), "docker")
        os.makedirs(dest, mode=0o700, exist_ok=True)
        for k, src in tls_files.items():
            shutil.copyfile(os.path.expanduser(src), os.path.join(dest, f"{k}.pem"))


def cmd_create(c: Any, a: argparse.Namespace) -> int:
    _validate(a.name)
    if os.path.isdir(meta_dir(a.name, a.config)):
        raise CLIError(f'context "{a.name}" already exists')
    base = load(a.source, a.config) if a.source else None
    docker = _docker_option(a.docker or "")
    if not a.docker and base is None:
        base = load(current(a.config, None), a.config)
    description = a.description if a.description is not None else (base or {}).get("Metadata", {}).get(
        "Description", "") if a.source else (a.description or "")
    _write(a.name, description, docker, a.config, base)
    print(a.name)
    print(f'Successfully created context "{a.name}"', file=sys.stderr)
    return 0


def cmd_update(c: Any, a: argparse.Namespace) -> int:
    _validate(a.name)
    base = load(a.name, a.config)
    description = a.description if a.description is not None else base.get("Metadata", {}).get("Description", "")
    _write(a.name, description, _docker_option(a.docker or ""), a.config, base)
    print(a.name)
    print(f'Successfully updated context "{a.name}"', file=sys.stderr)
    return 0


def cmd_use(c: Any, a: argparse.Namespace) -> int:
    if a.name != DEFAULT:
        load(a.name, a.config)
    cfg = load_config(a.config)
    if a.name == DEFAULT:
        cfg.pop("currentContext", None)
    else:
        cfg["currentContext"] = a.name
    save_config(cfg, a.config)
    print(a.name)
    print(f'Current context is now "{a.name}"', file=sys.stderr)
    if os.environ.get("DOCKER_HOST") and a.name != DEFAULT:
        print("Warning: DOCKER_HOST environment variable overrides the active context. To use "
              f'"{a.name}", either set the global --context flag, or unset DOCKER_HOST environment variable.',
              file=sys.stderr)
    return 0


def cmd_show(c: Any, a: argparse.Namespace) -> int:
    print(current(a.config, a.context))
    return 0


def cmd_rm(c: Any, a: argparse.Namespace) -> int:
    import shutil

    in_use = current(a.config, None)
    failed = []
    for name in a.names:
        if name == DEFAULT:
            failed.append(f'failed to remove context {name}: default context cannot be removed')
            continue
        if not os.path.isdir(meta_dir(name, a.config)):
            failed.append(f'{name}: context "{name}" does not exist')
            continue
        if name == in_use and not a.force:
            failed.append(f'failed to remove context {name}: failed to remove metadata: context "{name}" is in use, '
                          "set -f flag to force remove")
            continue
        if name == in_use:
            cfg = load_config(a.config)
            cfg.pop("currentContext", None)
            save_config(cfg, a.config)
        shutil.rmtree(meta_dir(name, a.config), ignore_errors=True)
        shutil.rmtree(tls_dir(name, a.config), ignore_errors=True)
        print(name)
    if failed:
        raise CLIError("\n".join(failed))
    return 0


def _inspect_obj(name: str, override: str | None) -> dict[str, Any]:
    meta = load(name, override)
    tls_path = os.path.join(tls_dir(name, override), "docker")
    material = {"docker": sorted(f for f in os.listdir(tls_path))} if os.path.isdir(tls_path) else {}
    return {**meta, "TLSMaterial": material,
            "Storage": {"MetadataPath": meta_dir(name, override) if name != DEFAULT else "<IN MEMORY>",
                        "TLSPath": tls_dir(name, override) if name != DEFAULT else "<IN MEMORY>"}}


def cmd_inspect(c: Any, a: argparse.Namespace) -> int:
    from dockyard.cli.format import print_objects

    objs = [_inspect_obj(n, a.config) for n in (a.names or [current(a.config, a.context)])]
    print_objects(objs, a.format)  # type: ignore[arg-type]
    return 0


CONTEXT_TABLE = "table {{.Name}}{{if .Current}} *{{end}}\t{{.Description}}\t{{.DockerEndpoint}}\t{{.Error}}"
CONTEXT_HEADERS = {"Name": "NAME", "Description": "DESCRIPTION", "DockerEndpoint": "DOCKER ENDPOINT",
                   "Current": "", "Error": "ERROR"}


def cmd_ls(c: Any, a: argparse.Namespace) -> int:
    from dockyard.cli.template import Row, print_rows

    in_use = current(a.config, a.context)
    rows = []
    for name in [DEFAULT, *names(a.config)]:
        try:
            meta = load(name, a.config)
            error = ""
        except CLIError as err:
            meta, error = {"Name": name}, str(err)
        host = ((meta.get("Endpoints") or {}).get("docker") or {}).get("Host", "")
        rows.append(Row({"Name": name, "Description": (meta.get("Metadata") or {}).get("Description", ""),
                         "DockerEndpoint": host, "Current": name == in_use, "Error": error},
                        "*context.ClientContext"))
    fmt = "{{.Name}}" if a.quiet else (a.format if a.format and a.format != "table" else CONTEXT_TABLE)
    print_rows(fmt, rows, CONTEXT_HEADERS)
    return 0


def register(cmd: Command) -> None:
    p = cmd("context", lambda c, a: 0, "Manage contexts", usage="COMMAND")
    p.set_defaults(offline=True)
    sub = p.add_subparsers(dest="context_cmd", metavar="COMMAND")
    s = sub.add_parser("create", summary="Create a context", usage_line="dockyard context create [OPTIONS] CONTEXT")
    s.set_defaults(fn=cmd_create)
    s.add_argument("--description", default=None, help="Description of the context")
    s.add_argument("--docker", default="", metavar="stringToString",
                   help="set the docker endpoint (host=, ca=, cert=, key=, skip-tls-verify=)")
    s.add_argument("--from", dest="source", default="", help="create context from a named context")
    s.add_argument("name")
    s = sub.add_parser("update", summary="Update a context", usage_line="dockyard context update [OPTIONS] CONTEXT")
    s.set_defaults(fn=cmd_update)
    s.add_argument("--description", default=None, help="Description of the context")
    s.add_argument("--docker", default="", metavar="stringToString", help="set the docker endpoint")
    s.add_argument("name")
    s = sub.add_parser("use", summary="Set the current docker context", usage_line="dockyard context use CONTEXT")
    s.set_defaults(fn=cmd_use)
    s.add_argument("name")
    s = sub.add_parser("show", summary="Print the name of the current context")
    s.set_defaults(fn=cmd_show)
    s = sub.add_parser("rm", aliases=["remove"], summary="Remove one or more contexts")
    s.set_defaults(fn=cmd_rm)
    s.add_argument("-f", "--force", action="store_true", help="Force the removal of a context in use")
    s.add_argument("names", nargs="+")
    s = sub.add_parser("inspect", summary="Display detailed information on one or more contexts")
    s.set_defaults(fn=cmd_inspect)
    s.add_argument("-f", "--format", default="", help="Format the output using the given Go template")
    s.add_argument("names", nargs="*")
    s = sub.add_parser("ls", aliases=["list"], summary="List contexts")
    s.set_defaults(fn=cmd_ls)
    s.add_argument("--format", default="", help="Pretty-print contexts using a Go template")
    s.add_argument("-q", "--quiet", action="store_true", help="Only show context names")
