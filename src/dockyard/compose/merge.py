"""Merging compose files (``-f a.yml -f b.yml``) and ``extends`` by the Compose Specification's rules.

Mappings merge key by key, the later file winning for scalars. ``command``, ``entrypoint`` and
``healthcheck.test`` are replaced whole. Sequences that name things by a key (``ports`` by address,
``volumes``/``devices`` by target, ``secrets``/``configs`` by source and target, ``environment`` and
``labels`` by name) are appended with the later entry replacing the earlier one of the same key; other
sequences are appended without duplicates. Both inputs are first brought to one form (a list of
``KEY=VALUE`` or a mapping) so the two syntaxes merge with each other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dockyard.compose import shapes

_REPLACED = {"command", "entrypoint", "healthcheck.test"}
_MAPPINGS = {"environment", "labels", "sysctls", "annotations", "build.args", "build.labels", "deploy.labels",
             "extra_hosts", "build.extra_hosts", "build.additional_contexts"}


def _key_port(p: Any) -> Any:
    if isinstance(p, dict):
        return (p.get("host_ip", ""), str(p.get("published", "")), p.get("target"), p.get("protocol", "tcp"),
                p.get("mode", "ingress"))
    return str(p)


def _key_volume(v: Any) -> Any:
    if isinstance(v, dict):
        return v.get("target")
    return shapes.split_volume(str(v))[1]


def _key_device(d: Any) -> Any:
    if isinstance(d, dict):
        return d.get("target")
    parts = str(d).split(":")
    return parts[1] if len(parts) > 1 else parts[0]


def _key_file_ref(default_dir: str) -> Callable[[Any], Any]:
    def key(ref: Any) -> Any:
        if isinstance(ref, dict):
            return ref.get("target") or f"{default_dir}/{ref.get('source')}" if default_dir else \
                ref.get("target") or ref.get("source")
        return f"{default_dir}/{ref}" if default_dir else ref
    return key


def _key_env_file(e: Any) -> Any:
    return e.get("path") if isinstance(e, dict) else e


_KEYED: dict[str, Callable[[Any], Any]] = {
    "ports": _key_port, "volumes": _key_volume, "devices": _key_device,
    "secrets": _key_file_ref("/run/secrets"), "configs": _key_file_ref(""), "env_file": _key_env_file,
    "label_file": _key_env_file,
}


def merge_services(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for name, svc in over.items():
        out[name] = merge_service(base[name], svc) if name in base and base[name] is not None else svc
    return out


def merge_service(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    return _merge_map(base, over or {}, "")


def _merge_map(base: dict[str, Any], over: dict[str, Any], prefix: str) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        path = f"{prefix}{key}"
        if key not in out or out[key] is None:
            out[key] = value
        else:
            out[key] = _merge_value(path, out[key], value)
    return out


def _merge_value(path: str, base: Any, over: Any) -> Any:
    if path in _REPLACED or over is None:
        return over
    if path in _MAPPINGS:
        return {**shapes.to_mapping(base, path), **shapes.to_mapping(over, path)}
    if path == "build":
        return _merge_map(shapes.build_dict(base), shapes.build_dict(over), "build.")
    if path == "depends_on":
        return {**shapes.depends_dict(base), **shapes.depends_dict(over)}
    if path == "networks":
        return {**shapes.networks_dict(base), **shapes.networks_dict(over)}
    if path == "logging":
        return _merge_logging(base, over)
    if path.startswith("ulimits.") and path.count(".") == 1:
        return over if not isinstance(over, dict) or not isinstance(base, dict) else {**base, **over}
    if path in ("dns", "dns_search", "dns_opt", "tmpfs", "env_file", "label_file", "expose", "cap_add", "cap_drop",
                "profiles", "group_add", "security_opt", "external_links", "links", "volumes_from",
                "device_cgroup_rules"):
        base, over = shapes.as_list(base), shapes.as_list(over)
    if isinstance(base, dict) and isinstance(over, dict):
        return _merge_map(base, over, path + ".")
    if path == "ports":
        base, over = shapes.ports_long(base), shapes.ports_long(over)
    if isinstance(base, list) and isinstance(over, list):
        return _merge_list(path, base, over)
    return over


def _merge_list(path: str, base: list[Any], over: list[Any]) -> list[Any]:
    key = _KEYED.get(path)
    if key is None:
        out = list(base)
        for item in over:
            if item not in out:
                out.append(item)
        return out
    merged: dict[Any, Any] = {}
    for item in base:
        merged[key(item)] = item
    for item in over:
        merged[key(item)] = item
    return list(merged.values())


def _merge_logging(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    if over.get("driver") and base.get("driver") and over["driver"] != base["driver"]:
        return over
    options = {**(base.get("options") or {}), **(over.get("options") or {})}
    out = {**base, **over}
    if options:
        out["options"] = options
    return out


def merge_top(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Two whole compose files: services by the rules above, other resources key by key."""
    out = dict(base)
    for key, value in over.items():
        if key == "services":
            out["services"] = merge_services(base.get("services") or {}, value or {})
        elif key in ("networks", "volumes", "configs", "secrets", "models") and isinstance(value, dict):
            merged = dict(base.get(key) or {})
            for name, spec in value.items():
                old = merged.get(name)
                merged[name] = _merge_map(old, spec or {}, f"{key}.") if isinstance(old, dict) else spec
            out[key] = merged
        else:
            out[key] = value
    return out
