"""``compose config``: the normalized model as Compose v2 prints it (YAML or JSON), keys in the
order of compose-go's ``ServiceConfig`` fields, literal ``$`` written back as ``$$``."""

from __future__ import annotations

TYPE_CHECKING = False  # typing imports re: ~3 ms of every command's start
if TYPE_CHECKING:
    from typing import Any

    from dockyard.compose.project import Project

SERVICE_KEYS = (
    "profiles", "annotations", "attach", "build", "develop", "blkio_config", "cap_add", "cap_drop", "cgroup_parent",
    "cgroup", "cpu_count", "cpu_percent", "cpu_period", "cpu_quota", "cpu_rt_period", "cpu_rt_runtime", "cpus",
    "cpuset", "cpu_shares", "command", "configs", "container_name", "credential_spec", "depends_on", "deploy",
    "device_cgroup_rules", "devices", "dns", "dns_opt", "dns_search", "dockerfile", "domainname", "entrypoint",
    "provider", "environment", "env_file", "expose", "extends", "external_links", "extra_hosts", "group_add", "gpus", "hostname",
    "healthcheck", "image", "init", "ipc", "isolation", "labels", "label_file", "links", "logging", "log_driver",
    "log_opt", "mem_limit", "mem_reservation", "memswap_limit", "mem_swappiness", "mac_address", "models", "net",
    "network_mode", "networks", "oom_kill_disable", "oom_score_adj", "pid", "pids_limit", "platform", "ports",
    "privileged", "pull_policy", "read_only", "restart", "runtime", "scale", "secrets", "security_opt", "shm_size",
    "stdin_open", "stop_grace_period", "stop_signal", "storage_opt", "sysctls", "tmpfs", "tty", "ulimits",
    "use_api_socket", "user", "userns_mode", "uts", "volume_driver", "volumes", "volumes_from", "working_dir",
    "post_start", "pre_stop")
HEALTH_KEYS = ("test", "timeout", "interval", "retries", "start_period", "start_interval", "disable")
BUILD_KEYS = ("context", "dockerfile", "dockerfile_inline", "entitlements", "args", "ssh", "labels", "cache_from",
              "cache_to", "no_cache", "additional_contexts", "network", "provenance", "sbom", "pull", "target",
              "shm_size", "extra_hosts", "isolation", "privileged", "secrets", "tags", "ulimits", "platforms")
TOP_KEYS = ("name", "services", "networks", "volumes", "secrets", "configs", "models")
MODEL_KEYS = ("name", "model", "context_size", "runtime_flags")


def ordered(d: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """``d`` with ``keys`` first in that order (as a Go struct's fields), then the rest sorted (a Go map's)."""
    out = {k: d[k] for k in keys if k in d}
    out.update({k: v for k, v in sorted(d.items()) if k not in out})
    return out


def _service(svc: dict[str, Any], as_json: bool) -> dict[str, Any]:
    s = dict(svc)
    if s.get("extra_hosts"):
        s["extra_hosts"] = sorted(s["extra_hosts"])  # a Go map of host to IPs, written sorted
    if "healthcheck" in s:
        s["healthcheck"] = ordered(s["healthcheck"], HEALTH_KEYS)
    if "build" in s:
        s["build"] = ordered(s["build"], BUILD_KEYS)
    from dockyard.compose.gojson import shaped

    for key, spec in (("deploy", "deploy"), ("ulimits", ("map", "ulimit"))):  # Go's orders: struct fields, map keys
        if isinstance(s.get(key), dict):
            s[key] = shaped(s[key], spec)
    if as_json:
        s = {k: v for k, v in s.items() if not k.startswith("x-")}
        s.setdefault("command", None)
        s.setdefault("entrypoint", None)
        if "deploy" in s:
            s["deploy"] = shaped({"resources": {}, "placement": {}, **s["deploy"]}, "deploy")
        if isinstance(s.get("blkio_config"), dict):  # WeightDevice, ThrottleDevice: Go fields with no JSON tags
            s["blkio_config"] = {k: [{f.capitalize(): x for f, x in d.items()} for d in v] if isinstance(v, list) else v
                                 for k, v in s["blkio_config"].items()}
        if isinstance(s.get("develop"), dict) and s["develop"].get("watch"):  # Go's zero ServiceHook
            s["develop"] = {**s["develop"], "watch": [{"exec": {"command": None}, **t} for t in s["develop"]["watch"]]}
    return ordered(s, SERVICE_KEYS)


def service_json(svc: dict[str, Any]) -> dict[str, Any]:
    """One service as ``config --format json`` prints it, literal ``$`` unescaped."""
    return _service(svc, as_json=True)


def model(project: Project, as_json: bool = False, escape: bool = True) -> dict[str, Any]:
    d = project.to_dict()
    # label_file: read into labels; v2 hashes its paths (service_json) but prints none
    d["services"] = {k: _service({n: x for n, x in v.items() if n != "label_file"}, as_json)
                     for k, v in d["services"].items()}
    if as_json:
        d["networks"] = {k: {"name": v["name"], "ipam": {}, **v} for k, v in d.get("networks", {}).items()}
        if not d["networks"]:
            del d["networks"]
        d.pop("models", None)  # v2 2.40.3's JSON leaves the top-level models out (its YAML prints them)
    elif "models" in d:
        d["models"] = {k: ordered(v, MODEL_KEYS) for k, v in d["models"].items()}
    if as_json:  # compose-go's Project.MarshalJSON: a Go map, keys sorted
        out = dict(sorted(d.items()))
    else:
        out = {k: d[k] for k in TOP_KEYS if k in d}
        out.update({k: v for k, v in d.items() if k not in out})
    return _escape(out) if escape else out


def _escape(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _escape(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_escape(v) for v in data]
    if isinstance(data, str):
        return data.replace("$", "$$")
    return data


def to_yaml(data: Any) -> str:
    import yaml  # only ``config`` prints YAML: the other commands do not load it

    class Dumper(yaml.SafeDumper):
        """Sequences indented under their key, as go-yaml writes them."""

        def increase_indent(self, flow: bool = False, indentless: bool = False) -> Any:
            return super().increase_indent(flow, False)

        def choose_scalar_style(self) -> Any:
            style = super().choose_scalar_style()
            return '"' if style == "'" else style

    Dumper.add_representer(str, _str)
    return yaml.dump(data, Dumper=Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=1 << 16)


def _str(dumper: Any, data: str) -> Any:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


def to_json(data: Any) -> str:
    import json

    return json.dumps(data, indent=2)
