"""A service as Go's ``encoding/json`` writes compose-go's ``types.ServiceConfig``: the bytes
Compose v2 hashes into the ``com.docker.compose.config-hash`` label.

Go writes a struct's fields in declaration order and a map's keys sorted, compactly, with
``<``, ``>``, ``&``, U+2028 and U+2029 escaped and other non-ASCII as UTF-8; an integral
float32 (``cpus: 1``) is written without a fraction. The field orders below are those of
compose-go v2.9.1 (the one Compose v2.40.3 is built with); a dict not named here is a Go map.
"""

from __future__ import annotations

import _json

from dockyard.compose.projcache import sha256_hex

TYPE_CHECKING = False  # typing imports re: ~3 ms of every command's start
if TYPE_CHECKING:
    from typing import Any

    # struct name -> its JSON fields in declaration order, each with the type of its value:
    # another struct's name, ("map", T) for a map of T, ("list", T) for a slice of T, or None.
    Spec = str | tuple[str, Any] | None

STRUCTS: dict[str, list[tuple[str, Spec]]] = {
    "service": [
        ("profiles", None), ("annotations", None), ("attach", None), ("build", "build"), ("develop", "develop"),
        ("blkio_config", "blkio"), ("cap_add", None), ("cap_drop", None), ("cgroup_parent", None), ("cgroup", None),
        ("cpu_count", None), ("cpu_percent", None), ("cpu_period", None), ("cpu_quota", None),
        ("cpu_rt_period", None), ("cpu_rt_runtime", None), ("cpus", None), ("cpuset", None), ("cpu_shares", None),
        ("command", None), ("configs", ("list", "fileref")), ("container_name", None),
        ("credential_spec", "credential_spec"), ("depends_on", ("map", "dependency")), ("deploy", "deploy"),
        ("device_cgroup_rules", None), ("devices", ("list", "device")), ("dns", None), ("dns_opt", None),
        ("dns_search", None), ("dockerfile", None), ("domainname", None), ("entrypoint", None),
        ("provider", "provider"), ("environment", None), ("env_file", ("list", "env_file")), ("expose", None),
        ("extends", "extends"), ("external_links", None), ("extra_hosts", None), ("group_add", None),
        ("gpus", ("list", "device_request")), ("hostname", None), ("healthcheck", "healthcheck"), ("image", None),
        ("init", None), ("ipc", None), ("isolation", None), ("labels", None), ("label_file", None), ("links", None),
        ("logging", "logging"), ("log_driver", None), ("log_opt", None), ("mem_limit", None),
        ("mem_reservation", None), ("memswap_limit", None), ("mem_swappiness", None), ("mac_address", None),
        ("models", ("map", "service_model")), ("net", None), ("network_mode", None),
        ("networks", ("map", "service_network")), ("oom_kill_disable", None), ("oom_score_adj", None),
        ("pid", None), ("pids_limit", None), ("platform", None), ("ports", ("list", "port")),
        ("privileged", None), ("pull_policy", None), ("read_only", None), ("restart", None), ("runtime", None),
        ("scale", None), ("secrets", ("list", "fileref")), ("security_opt", None), ("shm_size", None),
        ("stdin_open", None), ("stop_grace_period", None), ("stop_signal", None), ("storage_opt", None),
        ("sysctls", None), ("tmpfs", None), ("tty", None), ("ulimits", ("map", "ulimit")),
        ("use_api_socket", None), ("user", None), ("userns_mode", None), ("uts", None), ("volume_driver", None),
        ("volumes", ("list", "volume")), ("volumes_from", None), ("working_dir", None),
        ("post_start", ("list", "hook")), ("pre_stop", ("list", "hook"))],
    "provider": [("type", None), ("options", None)],
    "build": [
        ("context", None), ("dockerfile", None), ("dockerfile_inline", None), ("entitlements", None), ("args", None),
        ("provenance", None), ("sbom", None), ("ssh", None), ("labels", None), ("cache_from", None),
        ("cache_to", None), ("no_cache", None), ("additional_contexts", None), ("pull", None),
        ("extra_hosts", None), ("isolation", None), ("network", None), ("target", None),
        ("secrets", ("list", "fileref")), ("shm_size", None), ("tags", None), ("ulimits", ("map", "ulimit")),
        ("platforms", None), ("privileged", None)],
    "blkio": [("weight", None), ("weight_device", ("list", "weight_device")),
              ("device_read_bps", ("list", "throttle")), ("device_read_iops", ("list", "throttle")),
              ("device_write_bps", ("list", "throttle")), ("device_write_iops", ("list", "throttle"))],
    "weight_device": [("Path", None), ("Weight", None)],  # no JSON tags: Go's field names
    "throttle": [("Path", None), ("Rate", None)],
    "device": [("source", None), ("target", None), ("permissions", None)],
    "device_request": [("capabilities", None), ("driver", None), ("count", None), ("device_ids", None),
                       ("options", None)],
    "logging": [("driver", None), ("options", None)],
    "deploy": [("mode", None), ("replicas", None), ("labels", None), ("update_config", "update"),
               ("rollback_config", "update"), ("resources", "resources"), ("restart_policy", "restart_policy"),
               ("placement", "placement"), ("endpoint_mode", None)],
    "update": [("parallelism", None), ("delay", None), ("failure_action", None), ("monitor", None),
               ("max_failure_ratio", None), ("order", None)],
    "resources": [("limits", "resource"), ("reservations", "resource")],
    "resource": [("cpus", None), ("memory", None), ("pids", None), ("devices", ("list", "device_request")),
                 ("generic_resources", ("list", "generic_resource"))],
    "generic_resource": [("discrete_resource_spec", "discrete")],
    "discrete": [("kind", None), ("value", None)],
    "restart_policy": [("condition", None), ("delay", None), ("max_attempts", None), ("window", None)],
    "placement": [("constraints", None), ("preferences", ("list", "preference")),
                  ("max_replicas_per_node", None)],
    "preference": [("spread", None)],
    "service_network": [("aliases", None), ("driver_opts", None), ("gw_priority", None), ("interface_name", None),
                        ("ipv4_address", None), ("ipv6_address", None), ("link_local_ips", None),
                        ("mac_address", None), ("priority", None)],
    "port": [("name", None), ("mode", None), ("host_ip", None), ("target", None), ("published", None),
             ("protocol", None), ("app_protocol", None)],
    "volume": [("type", None), ("source", None), ("target", None), ("read_only", None), ("consistency", None),
               ("bind", "bind"), ("volume", "volume_opts"), ("tmpfs", "tmpfs"), ("image", "image_opts")],
    "bind": [("selinux", None), ("propagation", None), ("create_host_path", None), ("recursive", None)],
    "volume_opts": [("labels", None), ("nocopy", None), ("subpath", None)],
    "tmpfs": [("size", None), ("mode", None)],
    "image_opts": [("subpath", None)],
    "fileref": [("source", None), ("target", None), ("uid", None), ("gid", None), ("mode", None)],
    "ulimit": [("single", None), ("soft", None), ("hard", None)],
    "credential_spec": [("config", None), ("file", None), ("registry", None)],
    "dependency": [("condition", None), ("restart", None), ("required", None)],
    "extends": [("file", None), ("service", None)],
    "env_file": [("path", None), ("required", None), ("format", None)],
    "hook": [("command", None), ("user", None), ("privileged", None), ("working_dir", None),
             ("environment", None)],
    "develop": [("watch", ("list", "trigger"))],
    "trigger": [("path", None), ("action", None), ("target", None), ("exec", "hook"), ("include", None),
                ("ignore", None), ("initial_sync", None)],
    "healthcheck": [("test", None), ("timeout", None), ("interval", None), ("retries", None),
                    ("start_period", None), ("start_interval", None), ("disable", None)],
    "service_model": [("endpoint_var", None), ("model_var", None)],
    # the top-level resources, for NetworkHash and VolumeHash
    "network_config": [("name", None), ("driver", None), ("driver_opts", None), ("ipam", "ipam"), ("external", None),
                       ("internal", None), ("attachable", None), ("labels", None), ("enable_ipv4", None),
                       ("enable_ipv6", None)],
    "ipam": [("driver", None), ("config", ("list", "ipam_pool"))],
    "ipam_pool": [("subnet", None), ("gateway", None), ("ip_range", None), ("aux_addresses", None)],
    "volume_config": [("name", None), ("driver", None), ("driver_opts", None), ("external", None), ("labels", None)],
}


def shaped(value: Any, spec: Spec) -> Any:
    """``value`` with its dicts in Go's order: a struct's fields as declared, a map's keys sorted."""
    if isinstance(spec, tuple):
        kind, inner = spec
        if kind == "list" and isinstance(value, list):
            return [shaped(v, inner) for v in value]
        if kind == "map" and isinstance(value, dict):
            return {k: shaped(value[k], inner) for k in sorted(value)}
        return shaped(value, None)
    if isinstance(spec, str) and isinstance(value, dict):
        fields = STRUCTS[spec]
        out = {k: shaped(value[k], sub) for k, sub in fields if k in value}
        out.update({k: shaped(value[k], None) for k in sorted(value) if k not in out})
        return out
    if isinstance(value, dict):
        return {k: shaped(value[k], None) for k in sorted(value)}
    if isinstance(value, list):
        return [shaped(v, None) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _unserializable(obj: Any) -> Any:
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


# json.dumps(separators=(",", ":"), ensure_ascii=False) from the C encoder alone (json imports re)
_encode = _json.make_encoder(None, _unserializable, _json.encode_basestring, None, ":", ",",  # type: ignore[arg-type]
                             False, False, True)


def marshal(value: Any, spec: Spec = None) -> bytes:
    text = "".join(_encode(shaped(value, spec), 0))
    for char, escape in _GO_ESCAPES.items():
        text = text.replace(char, escape)
    return text.encode()


def service_hash(service_json: dict[str, Any]) -> str:
    """Compose v2's ``ServiceHash``: build, pull_policy, scale, deploy.replicas, depends_on and
    profiles cleared, the rest marshalled as Go does and SHA-256'd (hex)."""
    s = {k: v for k, v in service_json.items()
         if k not in ("build", "pull_policy", "scale", "depends_on", "profiles")}
    if isinstance(s.get("deploy"), dict):
        s["deploy"] = {k: v for k, v in s["deploy"].items() if k != "replicas"}
    return sha256_hex(marshal(s, "service"))


def _omitempty(d: dict[str, Any], keep: tuple[str, ...] = ()) -> dict[str, Any]:
    """Go's ``omitempty``: false, "", empty maps and lists and nil left out (but the fields in ``keep``)."""
    return {k: v for k, v in d.items() if not k.startswith("x-") and (k in keep or v not in (None, False, "", {}, []))}


def network_hash(spec: dict[str, Any]) -> str:
    """Compose v2's ``NetworkHash``: compose-go's ``NetworkConfig`` as Go writes it (``ipam`` always,
    the ``enable_ipv*`` pointers even when false), SHA-256'd: the network's config-hash label."""
    s = _omitempty(spec, keep=("ipam", "enable_ipv4", "enable_ipv6"))
    ipam = _omitempty(dict(s.get("ipam") or {}))
    if ipam.get("config"):
        ipam["config"] = [_omitempty(dict(pool)) for pool in ipam["config"]]
    s["ipam"] = ipam
    s = {k: v for k, v in s.items() if v is not None}
    return sha256_hex(marshal(s, "network_config"))


def volume_hash(spec: dict[str, Any]) -> str:
    """Compose v2's ``VolumeHash``: compose-go's ``VolumeConfig``, the driver ``local`` when unset."""
    s = _omitempty(spec)
    s.setdefault("driver", "local")
    return sha256_hex(marshal(s, "volume_config"))
