"""Compose files to a ``Project``: the order of Compose v2's loader.

For each file (``-f``, ``COMPOSE_FILE``, or ``compose.yaml`` & co. found from the working
directory up): YAML 1.2, interpolation from the environment (``os.environ`` over ``.env`` or the
``--env-file`` files), values cast where the schema wants a number or a boolean, validation,
``include``, ``extends``; then the files merge in order, the profiles drop the services they
disable, names are given, and every service is normalized (``normalize``). Everything that can be
refused is refused here, before anything is created.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard.compose import envfile, merge, normalize, projcache, schema, shapes, yamlload
from dockyard.compose.interpolate import interpolate
from dockyard.compose.project import ComposeError, Project, order

__all__ = ["ComposeError", "Options", "Project", "load", "order"]

DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
OVERRIDE_FILES = ("compose.override.yaml", "compose.override.yml", "docker-compose.override.yaml",
                  "docker-compose.override.yml")
_PROJECT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


@dataclass
class Options:
    files: list[str] = field(default_factory=list)
    project_name: str | None = None
    project_directory: str | None = None
    env_files: list[str] | None = None
    profiles: list[str] = field(default_factory=list)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    interpolate: bool = True
    workdir: str | None = None
    services: list[str] = field(default_factory=list)  # services named on the command line (enable profiles)


def normalize_name(name: str) -> str:
    """A directory name as a project name: lower case, only ``[a-z0-9_-]``, starting with a letter or digit."""
    name = re.sub(r"[^a-z0-9_-]", "", name.lower())
    return re.sub(r"^[^a-z0-9]+", "", name)


def find_files(opts: Options) -> list[Path]:
    if opts.files:
        base = Path(opts.workdir or os.getcwd())
        return [Path(f) if f == "-" else (base / f).absolute() for f in opts.files]
    env_files = opts.environ.get("COMPOSE_FILE")
    if env_files:
        sep = opts.environ.get("COMPOSE_PATH_SEPARATOR", os.pathsep)
        base = Path(opts.project_directory or opts.workdir or os.getcwd())
        return [(base / f).absolute() for f in env_files.split(sep) if f]
    d = Path(opts.project_directory or opts.workdir or os.getcwd()).absolute()
    for parent in (d, *d.parents):
        found = next((parent / n for n in DEFAULT_FILES if projcache.is_file(parent / n)), None)
        if found:
            override = next((parent / n for n in OVERRIDE_FILES if projcache.is_file(parent / n)), None)
            return [found] + ([override] if override else [])
    raise ComposeError("no configuration file provided: not found")


def environment(opts: Options, project_dir: Path) -> dict[str, str]:
    """``os.environ`` over the env files (``--env-file``, else ``<project dir>/.env`` when present)."""
    files = [Path(f) if os.path.isabs(f) else Path(opts.workdir or os.getcwd()) / f for f in opts.env_files] \
        if opts.env_files else [project_dir / ".env"]
    env: dict[str, str] = {}
    for f in files:
        if not opts.env_files and not projcache.exists(f):
            continue
        env.update(envfile.read(f, lambda k: opts.environ.get(k, env.get(k))))
    env.update(opts.environ)
    return env


def load(opts: Options) -> Project:
    files = find_files(opts)
    project_dir = Path(opts.project_directory).absolute() if opts.project_directory else \
        (Path(opts.workdir or os.getcwd()) if files[0] == Path("-") else files[0].parent)
    env = environment(opts, project_dir)
    model: dict[str, Any] = {}
    for f in files:
        model = merge.merge_top(model, _load_file(f, env, opts.interpolate, project_dir, seen=()))
    name = _project_name(opts, env, model, project_dir)
    return _build_project(model, name, project_dir, [str(f) for f in files], env, opts)


def _read(path: Path) -> str:
    if path == Path("-"):
        return sys.stdin.read()
    try:
        return projcache.read_text(path)
    except OSError as err:
        raise ComposeError(f"open {path}: {err.strerror.lower() if err.strerror else err}") from err


def _load_file(path: Path, env: Mapping[str, str], interp: bool, project_dir: Path,
               seen: tuple[Path, ...]) -> dict[str, Any]:
    """One file, interpolated, validated, with its includes merged in and its extends resolved."""
    text = _read(path)
    data = yamlload.load(text, str(path)) or {}
    if not isinstance(data, dict):
        raise ComposeError(f"{path}: top-level object must be a mapping")
    if interp:
        data = interpolate(data, env)
    data = cast(data)
    schema.validate(data, str(path), text)
    base = project_dir if path == Path("-") else path.parent
    data = _resolve_extends_all(data, path, base, env, interp)
    for inc in data.pop("include", None) or []:
        data = _include(data, inc, base, env, interp, seen + (path,))
    return data


def _include(data: dict[str, Any], inc: Any, base: Path, env: Mapping[str, str], interp: bool,
             seen: tuple[Path, ...]) -> dict[str, Any]:
    spec = {"path": inc} if isinstance(inc, str) else dict(inc)
    paths = [Path(normalize.resolve_path(base, p)) for p in shapes.as_list(spec["path"])]
    sub_dir = Path(normalize.resolve_path(base, spec["project_directory"])) if spec.get("project_directory") \
        else paths[0].parent
    sub_env = dict(env)
    for ef in shapes.as_list(spec.get("env_file")) or ([sub_dir / ".env"] if projcache.exists(sub_dir / ".env") else []):
        sub_env = {**envfile.read(Path(normalize.resolve_path(base, str(ef))), env.get), **env}
    included: dict[str, Any] = {}
    for p in paths:
        if p in seen:
            raise ComposeError(f"include cycle detected: {p}")
        included = merge.merge_top(included, _load_file(p, sub_env, interp, sub_dir, seen))
    _absolutize(included, sub_dir)
    for key in ("services", "networks", "volumes", "configs", "secrets"):
        for name, value in (included.get(key) or {}).items():
            mine = (data.get(key) or {})
            if name in mine and mine[name] != value:
                raise ComposeError(f"{key}.{name} conflicts with imported resource")
            data.setdefault(key, {})
            if data[key] is None:
                data[key] = {}
            data[key][name] = value
    return data


def _absolutize(data: dict[str, Any], base: Path) -> None:
    """Relative paths of an included or extended file made absolute against its own directory."""
    for svc in (data.get("services") or {}).values():
        _absolutize_service(svc or {}, base)
    for key in ("secrets", "configs"):
        for spec in (data.get(key) or {}).values():
            if isinstance(spec, dict) and spec.get("file"):
                spec["file"] = normalize.resolve_path(base, spec["file"])


def _absolutize_service(svc: dict[str, Any], base: Path) -> None:
    if "build" in svc:
        b = shapes.build_dict(svc["build"])
        b["context"] = normalize.resolve_path(base, str(b.get("context") or "."))
        svc["build"] = b
    if "env_file" in svc:
        svc["env_file"] = [{**e, "path": normalize.resolve_path(base, e["path"])} if isinstance(e, dict)
                           else normalize.resolve_path(base, e) for e in shapes.as_list(svc["env_file"])]
    if "volumes" in svc:
        vols = []
        for v in svc["volumes"]:
            long = shapes.volume_long(v)
            if long.get("type") == "bind" and long.get("source"):
                long["source"] = normalize.resolve_path(base, long["source"])
                vols.append(long)
            else:
                vols.append(v)
        svc["volumes"] = vols


def _resolve_extends_all(data: dict[str, Any], path: Path, base: Path, env: Mapping[str, str],
                         interp: bool) -> dict[str, Any]:
    services = data.get("services") or {}
    resolved: dict[str, dict[str, Any]] = {}
    for name in services:
        resolved[name] = _extends(name, services, path, base, env, interp, resolved, ())
    if services:
        data = {**data, "services": resolved}
    return data


def _extends(name: str, services: dict[str, Any], path: Path, base: Path, env: Mapping[str, str], interp: bool,
             done: dict[str, dict[str, Any]], chain: tuple[tuple[Path, str], ...]) -> dict[str, Any]:
    if name in done:
        return done[name]
    if (path, name) in chain:
        raise ComposeError(f"circular reference with extends in service {name!r} of {path}")
    if name not in services:
        raise ComposeError(f"cannot extend service {name!r} in {path}: service not found")
    svc = dict(services[name] or {})
    ext = svc.pop("extends", None)
    if ext is None:
        return svc
    ext = {"service": ext} if isinstance(ext, str) else ext
    if ext.get("file"):
        other = Path(normalize.resolve_path(base, ext["file"]))
        text = _read(other)
        other_data = cast(interpolate(yamlload.load(text, str(other)) or {}, env) if interp else
                          yamlload.load(text, str(other)) or {})
        schema.validate(other_data, str(other), text)
        parent = _extends(ext["service"], other_data.get("services") or {}, other, other.parent, env, interp, {},
                          chain + ((path, name),))
        parent = dict(parent)
        _absolutize_service(parent, other.parent)
    else:
        parent = _extends(ext["service"], services, path, base, env, interp, done, chain + ((path, name),))
    merged = merge.merge_service({k: v for k, v in parent.items() if k not in ("depends_on",)} if ext.get("file")
                                 else parent, svc)
    return merged


def _project_name(opts: Options, env: Mapping[str, str], model: dict[str, Any], project_dir: Path) -> str:
    for _source, name in (("-p", opts.project_name), ("COMPOSE_PROJECT_NAME", env.get("COMPOSE_PROJECT_NAME")),
                         ("name", model.get("name"))):
        if name:
            if not _PROJECT_NAME.match(name):
                raise ComposeError(f'invalid project name "{name}": must consist only of lowercase alphanumeric '
                                   "characters, hyphens, and underscores as well as start with a letter or number")
            return str(name)
    name = normalize_name(project_dir.name)
    if not name:
        raise ComposeError(f"project name must not be empty (directory {project_dir})")
    return name


def _build_project(model: dict[str, Any], name: str, project_dir: Path, files: list[str], env: dict[str, str],
                   opts: Options) -> Project:
    lookup = env.get
    raw = model.get("services") or {}
    profiles = list(opts.profiles) or [p for p in env.get("COMPOSE_PROFILES", "").split(",") if p]
    services: dict[str, dict[str, Any]] = {}
    disabled: dict[str, dict[str, Any]] = {}
    for sname, svc in raw.items():
        try:
            svc = normalize.service(svc or {}, project_dir, lookup)
        except normalize.FieldError as err:
            raise ComposeError(f"'services[{sname}].{err.key}' {err}") from None
        if "image" not in svc and "build" not in svc and "provider" not in svc:
            raise ComposeError(f'service "{sname}" has neither an image nor a build context specified: '
                               "invalid compose project")
        enabled = not svc.get("profiles") or "*" in profiles or bool(set(svc["profiles"]) & set(profiles)) \
            or sname in opts.services
        (services if enabled else disabled)[sname] = svc
    _enable_dependencies(services, disabled, opts.services)
    _check_dependencies(services, disabled)
    networks = {k: normalize.resource("networks", k, v, name, project_dir) for k, v in
                (model.get("networks") or {}).items()}
    if any("default" in (s.get("networks") or {}) for s in services.values()) and "default" not in networks:
        networks["default"] = {"name": f"{name}_default"}
    _check_references(services, networks, model)
    used_nets = {n for s in services.values() for n in (s.get("networks") or {})}
    used_vols = {v.get("source") for s in services.values() for v in s.get("volumes") or []
                 if v.get("type") == "volume"}
    used_secrets = {r["source"] for s in services.values()
                    for r in [*(s.get("secrets") or []), *((s.get("build") or {}).get("secrets") or [])]}
    used_configs = {r["source"] for s in services.values() for r in s.get("configs") or []}
    volumes = {k: normalize.resource("volumes", k, v, name, project_dir) for k, v in
               (model.get("volumes") or {}).items() if k in used_vols}
    secrets = {k: normalize.resource("secrets", k, v, name, project_dir) for k, v in
               (model.get("secrets") or {}).items() if k in used_secrets}
    configs = {k: normalize.resource("configs", k, v, name, project_dir) for k, v in
               (model.get("configs") or {}).items() if k in used_configs}
    networks = {k: v for k, v in networks.items() if k in used_nets}
    used_models = {m for s in services.values() for m in s.get("models") or {}}
    models = {k: v or {} for k, v in (model.get("models") or {}).items() if k in used_models}
    ext = {k: v for k, v in model.items() if k.startswith("x-")}
    return Project(name=name, working_dir=project_dir, config_files=files, services=dict(sorted(services.items())),
                   networks=dict(sorted(networks.items())), volumes=dict(sorted(volumes.items())),
                   secrets=dict(sorted(secrets.items())), configs=dict(sorted(configs.items())), extensions=ext,
                   environment=env, disabled=disabled, profiles=profiles, models=dict(sorted(models.items())))


def _enable_dependencies(services: dict[str, Any], disabled: dict[str, Any], named: list[str]) -> None:
    """Services named on the command line bring the disabled services they depend on."""
    todo = [n for n in named if n in services]
    while todo:
        for dep in (services[todo.pop()].get("depends_on") or {}):
            if dep in disabled:
                services[dep] = disabled.pop(dep)
                todo.append(dep)


def _check_dependencies(services: dict[str, Any], disabled: dict[str, Any]) -> None:
    for name, svc in services.items():
        deps = svc.get("depends_on") or {}
        for dep, spec in list(deps.items()):
            if dep not in services:
                if dep in disabled or not spec.get("required", True):
                    if spec.get("required", True) and dep in disabled:
                        raise ComposeError(f'service "{name}" depends on undefined service "{dep}": '
                                           "invalid compose project")
                    del deps[dep]
                    continue
                raise ComposeError(f'service "{name}" depends on undefined service "{dep}": invalid compose project')
    order(services)


def _check_references(services: dict[str, Any], networks: dict[str, Any], model: dict[str, Any]) -> None:
    volumes = model.get("volumes") or {}
    for name, svc in services.items():
        for net in svc.get("networks") or {}:
            if net not in networks:
                raise ComposeError(f'service "{name}" refers to undefined network {net}: invalid compose project')
        for v in svc.get("volumes") or []:
            if v.get("type") == "volume" and v.get("source") and v["source"] not in volumes:
                raise ComposeError(f'service "{name}" refers to undefined volume {v["source"]}: '
                                   "invalid compose project")
        for kind in ("secrets", "configs"):
            for ref in svc.get(kind) or []:
                if ref["source"] not in (model.get(kind) or {}):
                    raise ComposeError(f'service "{name}" refers to undefined {kind[:-1]} {ref["source"]}: '
                                       "invalid compose project")
        for m in svc.get("models") or {}:
            if m not in (model.get("models") or {}):
                raise ComposeError(f'service "{name}" refers to undefined model {m}: invalid compose project')
        _check_ports(name, svc)


def _check_ports(name: str, svc: dict[str, Any]) -> None:
    seen: set[tuple[str, str, str]] = set()
    for p in svc.get("ports") or []:
        if not p.get("published"):
            continue
        key = (p.get("host_ip") or "0.0.0.0", p["published"], p["protocol"])
        if key in seen:
            raise ComposeError(f'service "{name}" publishes port {p["published"]}/{p["protocol"]} twice')
        seen.add(key)


# --- casting: strings the interpolation produced where the schema wants numbers and booleans --------

_BOOL_PATHS = [re.compile(p) for p in (
    r"services\.[^.]+\.(init|privileged|read_only|stdin_open|tty|oom_kill_disable)$",
    r"services\.[^.]+\.healthcheck\.disable$",
    r"services\.[^.]+\.volumes\.\[\]\.(read_only|bind\.create_host_path|volume\.nocopy)$",
    r"services\.[^.]+\.depends_on\.[^.]+\.(required|restart)$",
    r"(networks|volumes|secrets|configs)\.[^.]+\.external$",
    r"networks\.[^.]+\.(internal|attachable|enable_ipv6|enable_ipv4)$",
)]
_INT_PATHS = [re.compile(p) for p in (
    r"services\.[^.]+\.(scale|cpu_shares|pids_limit|oom_score_adj|mem_swappiness|cpu_count|cpu_percent)$",
    r"services\.[^.]+\.deploy\.replicas$",
    r"services\.[^.]+\.healthcheck\.retries$",
    r"services\.[^.]+\.ulimits\.[^.]+(\.(soft|hard))?$",
    r"services\.[^.]+\.ports\.\[\]\.target$",
)]
_TRUE = {"true", "yes", "y", "on"}
_FALSE = {"false", "no", "n", "off"}


def cast(data: Any, path: str = "") -> Any:
    if isinstance(data, dict):
        return {k: cast(v, f"{path}.{k}" if path else str(k)) for k, v in data.items()}
    if isinstance(data, list):
        return [cast(v, f"{path}.[]") for v in data]
    if isinstance(data, str):
        if any(p.match(path) for p in _BOOL_PATHS):
            low = data.lower()
            if low in _TRUE | _FALSE:
                return low in _TRUE
        elif any(p.match(path) for p in _INT_PATHS) and re.fullmatch(r"-?[0-9]+", data):
            return int(data)
    return data
