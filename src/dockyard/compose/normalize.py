"""One service, one resource, in the long form Compose v2's ``config`` prints.

Short syntaxes become long ones, relative paths absolute, ``env_file`` is read into
``environment``, ``links`` add a ``depends_on``, durations print as Go prints them and sizes as
byte counts; a service with neither ``networks`` nor ``network_mode`` joins ``default``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from dockyard import errors
from dockyard.compose import envfile, projcache, shapes
from dockyard.compose.configout import ordered

_DURATIONS = ("stop_grace_period",)
_HEALTH_DURATIONS = ("timeout", "interval", "start_period", "start_interval")
_SIZES = ("mem_limit", "mem_reservation", "memswap_limit", "shm_size")
_LISTS = ("dns", "dns_search", "dns_opt", "tmpfs", "cap_add", "cap_drop", "security_opt", "group_add", "expose")


class FieldError(errors.InvalidArgument):
    """A value of one key that cannot be read (a duration, a size): ``key`` says which, the loader
    adds the service (``'services[web].healthcheck.interval' invalid duration: '10x'``, as v2)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def _at(key: str, convert: Callable[[Any], Any], value: Any) -> Any:
    try:
        return convert(value)
    except errors.InvalidArgument as err:
        raise FieldError(key, str(err)) from None


def _duration(key: str, value: Any) -> str:
    return str(_at(key, lambda v: shapes.go_duration(shapes.duration_seconds(v)), value))


def _size(key: str, value: Any) -> str:
    return str(_at(key, shapes.bytes_value, value))


def resolve_path(base: Path, path: str) -> str:
    if path.startswith("~"):
        return os.path.expanduser(path)
    return str(base / path) if not os.path.isabs(path) else path


def service(svc: dict[str, Any], base: Path, lookup: Callable[[str], str | None]) -> dict[str, Any]:
    s = dict(svc)
    s.pop("extends", None)
    if "build" in s:
        s["build"] = _build(s["build"], base, lookup)
    for key in ("command", "entrypoint"):
        if key in s and s[key] is not None:
            s[key] = shapes.command_list(s[key])
    env: dict[str, str | None] = {}
    for ref in shapes.as_list(s.pop("env_file", None)):
        path, required = (str(ref["path"]), ref.get("required", True)) if isinstance(ref, dict) else (ref, True)
        file = Path(resolve_path(base, path))
        if not required and not projcache.exists(file):
            continue
        env.update(envfile.read(file, lookup))
    env.update(shapes.to_mapping(s.get("environment")))
    if env or "environment" in s:
        s["environment"] = {k: (lookup(k) if v is None else v) for k, v in env.items()}
    if "label_file" in s:  # read into labels, which win over the files; kept (absolute) for the hash, as v2
        from_files: dict[str, str] = {}
        s["label_file"] = [resolve_path(base, path) for path in shapes.as_list(s["label_file"])]
        for path in s["label_file"]:
            from_files.update(envfile.read(Path(path), lookup))
        s["labels"] = {**from_files, **shapes.to_mapping(s.get("labels"))}
    for key in ("labels", "sysctls", "annotations"):
        if key in s:
            s[key] = shapes.to_mapping(s[key])
    if "gpus" in s:
        s["gpus"] = _gpus(s["gpus"])
    for key in ("post_start", "pre_stop"):
        if key in s:
            s[key] = [{**h, "command": shapes.command_list(h["command"])} if isinstance(h.get("command"), str)
                      else h for h in s[key] or []]
    if "extra_hosts" in s:
        s["extra_hosts"] = [f"{k}={v}" for k, v in shapes.to_mapping(s["extra_hosts"], "extra_hosts").items()]
    for key in _LISTS:
        if key in s:
            s[key] = [str(v) for v in shapes.as_list(s[key])]
    if "ports" in s:
        s["ports"] = shapes.ports_long(s["ports"])
    if isinstance(s.get("develop"), dict) and s["develop"].get("watch"):
        s["develop"] = {**s["develop"], "watch": [_trigger(t, base) for t in s["develop"]["watch"]]}
    if "volumes" in s:
        s["volumes"] = [service_volume(v, base) for v in s["volumes"]]
    if "devices" in s:
        s["devices"] = [_device(d) for d in s["devices"]]
    deps = shapes.depends_dict(s.get("depends_on"))
    for link in shapes.as_list(s.get("links")):
        deps.setdefault(link.split(":")[0], {"condition": "service_started", "restart": True, "required": True})
    for key in ("network_mode", "ipc", "pid", "uts", "cgroup"):
        if str(s.get(key) or "").startswith("service:"):
            deps.setdefault(s[key][len("service:"):], {"condition": "service_started", "restart": True,
                                                       "required": True})
    for source in shapes.as_list(s.get("volumes_from")):
        if not source.startswith("container:"):
            deps.setdefault(source.split(":")[0], {"condition": "service_started", "required": True})
    if deps:
        s["depends_on"] = deps
    if "models" in s:  # a Go map: written sorted, each entry in ServiceModelConfig's field order
        given: dict[str, Any] = {m: None for m in s["models"]} if isinstance(s["models"], list) else s["models"] or {}
        s["models"] = {m: None if given[m] is None else ordered(given[m], ("endpoint_var", "model_var"))
                       for m in sorted(given)}
    if isinstance(s.get("provider"), dict) and s["provider"].get("options"):
        s["provider"] = {**s["provider"], "options": {k: [_go_text(x) for x in (v if isinstance(v, list) else [v])]
                                                      for k, v in sorted(s["provider"]["options"].items())}}
    if "network_mode" not in s and "provider" not in s:  # compose-go gives a provider no default network
        s["networks"] = shapes.networks_dict(s.get("networks")) or {"default": None}
    elif "networks" in s:
        s["networks"] = shapes.networks_dict(s["networks"])
    if "healthcheck" in s:
        s["healthcheck"] = _healthcheck(s["healthcheck"])
    for key in _DURATIONS:
        if key in s:
            s[key] = _duration(key, s[key])
    for key in _SIZES:
        if key in s:
            s[key] = _size(key, s[key])
    if "secrets" in s:
        s["secrets"] = [_file_ref(r, "/run/secrets/") for r in s["secrets"]]
    if "configs" in s:
        s["configs"] = [_file_ref(r, "") for r in s["configs"]]
    if "deploy" in s:
        s["deploy"] = _deploy(s["deploy"] or {})
    if "blkio_config" in s:
        s["blkio_config"] = _blkio(s["blkio_config"] or {})
    if "mem_swappiness" in s:  # a UnitBytes in compose-go: written as a string
        s["mem_swappiness"] = str(_at("mem_swappiness", shapes.bytes_value, s["mem_swappiness"]))
    if "cpus" in s:
        s["cpus"] = _at("cpus", float, s["cpus"])
    if "tmpfs" in s:
        s["tmpfs"] = [str(t) for t in s["tmpfs"]]
    return s


def _go_text(value: Any) -> str:
    """A provider option as compose-go reads it into a string: booleans lower case."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _build(value: Any, base: Path, lookup: Callable[[str], str | None]) -> dict[str, Any]:
    b = shapes.build_dict(value)
    context = str(b.get("context") or ".")
    if "://" not in context and not context.startswith("git@"):
        b["context"] = os.path.normpath(resolve_path(base, context))
    if "dockerfile_inline" not in b:
        b.setdefault("dockerfile", "Dockerfile")
    if "args" in b:
        args = shapes.to_mapping(b["args"])
        b["args"] = {k: (v if v is not None else lookup(k)) for k, v in args.items()
                     if v is not None or lookup(k) is not None}
    if "labels" in b:
        b["labels"] = shapes.to_mapping(b["labels"])
    if "secrets" in b:
        b["secrets"] = [_file_ref(r, "") for r in b["secrets"]]
    return b


def service_volume(item: Any, base: Path) -> dict[str, Any]:
    v = shapes.volume_long(item)
    if v.get("type") == "bind" and v.get("source"):
        v["source"] = os.path.normpath(resolve_path(base, v["source"]))
        if not isinstance(item, dict):
            v.setdefault("bind", {"create_host_path": True})
    if v.get("type") == "tmpfs" and isinstance(v.get("tmpfs"), dict) and "size" in v["tmpfs"]:
        v["tmpfs"] = {**v["tmpfs"], "size": str(shapes.bytes_value(v["tmpfs"]["size"]))}
    return v


def _device(item: Any) -> dict[str, Any]:
    if isinstance(item, dict):
        return item
    parts = str(item).split(":")
    out = {"source": parts[0], "target": parts[1] if len(parts) > 1 else parts[0]}
    out["permissions"] = parts[2] if len(parts) > 2 else "rwm"
    return out


_GPU_KEYS = ("capabilities", "driver", "count", "device_ids", "options")


def _gpus(value: Any) -> list[dict[str, Any]]:
    """``gpus: all`` or a list of device requests, as compose-go's ``DeviceRequest`` list (``all``
    is ``count: -1``), keys in its field order."""
    if value == "all":
        return [{"count": -1}]
    out = []
    for g in value or []:
        g = {**g, "count": -1} if g.get("count") == "all" else dict(g)
        out.append({k: g[k] for k in (*_GPU_KEYS, *sorted(g)) if k in g})
    return out


def _trigger(t: dict[str, Any], base: Path) -> dict[str, Any]:
    """A ``develop.watch`` trigger as v2 prints it: its path absolute, ``include``/``ignore`` lists,
    ``exec.command`` split as a command line."""
    out = {**t, "path": os.path.normpath(resolve_path(base, t["path"]))}
    for key in ("include", "ignore"):
        if isinstance(out.get(key), str):
            out[key] = [out[key]]
    if isinstance(out.get("exec"), dict) and isinstance(out["exec"].get("command"), str):
        out["exec"] = {**out["exec"], "command": shapes.command_list(out["exec"]["command"])}
    return out


def _file_ref(item: Any, default_dir: str) -> dict[str, Any]:
    ref = {"source": item} if isinstance(item, str) else dict(item)
    if ref.get("mode") is not None:  # compose-go's FileMode: written as an octal string
        mode = ref["mode"]
        ref["mode"] = "0" + format(int(mode, 8) if isinstance(mode, str) else int(mode), "o")
    if default_dir and not ref.get("target"):
        ref["target"] = default_dir + ref["source"]
    elif default_dir and not ref["target"].startswith("/"):
        ref["target"] = default_dir + ref["target"]
    return ref


def _healthcheck(h: dict[str, Any]) -> dict[str, Any]:
    out = dict(h)
    test = out.get("test")
    if isinstance(test, str):
        out["test"] = ["CMD-SHELL", test]
    for key in _HEALTH_DURATIONS:
        if key in out:
            out[key] = _duration(f"healthcheck.{key}", out[key])
    return out


def _blkio(b: dict[str, Any]) -> dict[str, Any]:
    """Throttle rates as compose-go's UnitBytes (bytes, written as a string)."""
    out = dict(b)
    for key in ("device_read_bps", "device_read_iops", "device_write_bps", "device_write_iops"):
        if out.get(key):
            out[key] = [{**d, "rate": _size(f"blkio_config.{key}", d["rate"])} for d in out[key]]
    return out


def _deploy(d: dict[str, Any]) -> dict[str, Any]:
    out = dict(d)
    if "labels" in out:
        out["labels"] = shapes.to_mapping(out["labels"])
    for key, fields in (("restart_policy", ("delay", "window")), ("update_config", ("delay", "monitor")),
                        ("rollback_config", ("delay", "monitor"))):
        if isinstance(out.get(key), dict):
            out[key] = {k: _duration(f"deploy.{key}.{k}", v) if k in fields else v for k, v in out[key].items()}
    resources = out.get("resources")
    if isinstance(resources, dict):
        res = {}
        for kind, spec in resources.items():
            spec = dict(spec or {})
            if "memory" in spec:
                spec["memory"] = str(shapes.bytes_value(spec["memory"]))
            if "cpus" in spec:
                spec["cpus"] = float(spec["cpus"])
            res[kind] = spec
        out["resources"] = res
    return out


def resource(kind: str, key: str, spec: Mapping[str, Any] | None, project: str, base: Path) -> dict[str, Any]:
    """A top-level network, volume, secret or config with its engine name."""
    s = dict(spec or {})
    ext = s.get("external")
    if isinstance(ext, dict):  # the legacy form: external: {name: x}
        s["name"] = ext.get("name", s.get("name", key))
        s["external"] = True
    if s.get("external"):
        s.setdefault("name", key)
    else:
        s.setdefault("name", f"{project}_{key}")
    if kind in ("secrets", "configs") and "file" in s:
        s["file"] = os.path.normpath(resolve_path(base, s["file"]))
    out = {"name": s.pop("name")}
    out.update(s)
    return out
