"""Services as Engine API objects, with Compose v2's names and labels so that Compose v2 and
dockyard compose manage each other's projects: containers ``<project>-<service>-<n>``, networks
``<project>_<key>``, volumes ``<project>_<key>``, and the ``com.docker.compose.*`` labels.

Pure translation (``container_body``, ``network_body``, ``volume_body``, ``config_hash``) is kept
apart from the calls (``Engine``), so the unit tests check the bodies without a daemon.
"""

from __future__ import annotations

from dockyard.compose import configout, gojson

TYPE_CHECKING = False  # typing imports re: ~3 ms of every command's start
if TYPE_CHECKING:
    from typing import Any

    from dockyard.compose.project import Project

COMPOSE_VERSION = "2.40.3"  # the Compose v2 these labels and names follow
L = "com.docker.compose."
PROJECT, SERVICE, NUMBER, ONEOFF = L + "project", L + "service", L + "container-number", L + "oneoff"
HASH, WORKDIR, FILES, VERSION = L + "config-hash", L + "project.working_dir", L + "project.config_files", L + "version"
DEPENDS, IMAGE, NETWORK, VOLUME = L + "depends_on", L + "image", L + "network", L + "volume"
ENV_FILE = L + "project.environment_file"


def _shapes() -> Any:
    from dockyard.compose import shapes  # its patterns compile at import: only services that need it pay

    return shapes


def image_name(project: Project, service: str) -> str:
    svc = project.services[service]
    return str(svc.get("image") or f"{project.name}-{service}")


def container_name(project: Project, service: str, number: int, oneoff: str = "") -> str:
    svc = project.services[service]
    if svc.get("container_name") and not oneoff:
        return str(svc["container_name"])
    if oneoff:
        return f"{project.name}-{service}-run-{oneoff}"
    return f"{project.name}-{service}-{number}"


def config_hash(svc: dict[str, Any]) -> str:
    """Compose v2's ``com.docker.compose.config-hash`` of a normalized service: what ``up``
    compares to decide on a recreate, the same digest whichever tool made the container."""
    return gojson.service_hash(configout.service_json(svc))


def replicas(svc: dict[str, Any]) -> int:
    if svc.get("scale") is not None:
        return int(svc["scale"])
    deploy = svc.get("deploy") or {}
    return int(deploy["replicas"]) if deploy.get("replicas") is not None else 1


def planned(project: Project, wanted: Any, scale: dict[str, int]) -> list[dict[str, Any]]:
    """The containers of ``wanted``'s services once up converged them (1..replicas of each), as
    the API lists them (name, project/service/number labels)."""
    out = []
    for s, svc in project.services.items():
        if s not in wanted or "provider" in svc:
            continue
        want = scale[s] if s in scale else replicas(svc)
        out += [{"Names": ["/" + container_name(project, s, n)], "Labels": {PROJECT: project.name, SERVICE: s,
                                                                             NUMBER: str(n)}}
                for n in range(1, want + 1)]
    return out


def project_labels(project: Project) -> dict[str, str]:
    return {PROJECT: project.name, WORKDIR: project.workdir,
            FILES: ",".join(project.config_files), VERSION: COMPOSE_VERSION}


def depends_label(svc: dict[str, Any]) -> str:
    return ",".join(f"{name}:{spec.get('condition', 'service_started')}:{str(bool(spec.get('restart'))).lower()}"
                    for name, spec in (svc.get("depends_on") or {}).items())


def _ns(value: Any) -> int:
    return int(_shapes().duration_seconds(value) * 1e9)


def _healthcheck(h: dict[str, Any] | None) -> dict[str, Any] | None:
    if not h:
        return None
    if h.get("disable"):
        return {"Test": ["NONE"]}
    out: dict[str, Any] = {"Test": h.get("test")}
    for key, api in (("interval", "Interval"), ("timeout", "Timeout"), ("start_period", "StartPeriod"),
                     ("start_interval", "StartInterval")):
        if h.get(key) is not None:
            out[api] = _ns(h[key])
    if h.get("retries") is not None:
        out["Retries"] = int(h["retries"])
    return out


def _mount(project: Project, v: dict[str, Any]) -> dict[str, Any]:
    kind = v["type"]
    m: dict[str, Any] = {"Type": kind, "Target": v["target"], "ReadOnly": bool(v.get("read_only"))}
    if kind == "volume":
        src = v.get("source")
        m["Source"] = project.volumes[src]["name"] if src in project.volumes else (src or "")
        if (v.get("volume") or {}).get("nocopy"):
            m["VolumeOptions"] = {"NoCopy": True}
    elif kind == "bind":
        m["Source"] = v["source"]
        bind = v.get("bind") or {}
        opts: dict[str, Any] = {}
        if bind.get("propagation"):
            opts["Propagation"] = bind["propagation"]
        if bind.get("create_host_path"):
            opts["CreateMountpoint"] = True
        if opts:
            m["BindOptions"] = opts
    elif kind == "tmpfs":
        t = v.get("tmpfs") or {}
        opts = {}
        if t.get("size") is not None:
            opts["SizeBytes"] = int(t["size"])
        if t.get("mode") is not None:
            opts["Mode"] = int(t["mode"])
        if opts:
            m["TmpfsOptions"] = opts
    return m


def _ports(svc: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[dict[str, str]]]]:
    exposed: dict[str, Any] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    for p in svc.get("ports") or []:
        key = f"{p['target']}/{p.get('protocol', 'tcp')}"
        exposed[key] = {}
        if p.get("published") is not None or p.get("host_ip"):
            bindings.setdefault(key, []).append({"HostIp": p.get("host_ip", ""), "HostPort": str(p.get("published", ""))})
    for e in svc.get("expose") or []:
        text = str(e)
        port, _, proto = text.partition("/")
        for n in _shapes()._range(port):
            exposed[f"{n}/{proto or 'tcp'}"] = {}
    return exposed, bindings


def _restart(svc: dict[str, Any]) -> dict[str, Any]:
    policy = svc.get("restart")
    if policy is None:
        cond = ((svc.get("deploy") or {}).get("restart_policy") or {}).get("condition")
        policy = {"none": "no", "on-failure": "on-failure", "any": "always"}.get(cond or "", "no")
    name, _, count = str(policy).partition(":")
    return {"Name": "" if name == "no" else name, "MaximumRetryCount": int(count) if count else 0}


def _resources(svc: dict[str, Any]) -> dict[str, Any]:
    res = (svc.get("deploy") or {}).get("resources") or {}
    limits, reservations = res.get("limits") or {}, res.get("reservations") or {}
    out: dict[str, Any] = {}
    memory = limits.get("memory") or svc.get("mem_limit")
    if memory:
        out["Memory"] = _shapes().bytes_value(memory)
    cpus = limits.get("cpus") or svc.get("cpus")
    if cpus:
        out["NanoCpus"] = int(float(cpus) * 1e9)
    if limits.get("pids") or svc.get("pids_limit"):
        out["PidsLimit"] = int(limits.get("pids") or svc["pids_limit"])
    if reservations.get("memory") or svc.get("mem_reservation"):
        out["MemoryReservation"] = _shapes().bytes_value(reservations.get("memory") or svc["mem_reservation"])
    if svc.get("memswap_limit"):
        out["MemorySwap"] = _shapes().bytes_value(svc["memswap_limit"])
    if svc.get("cpu_shares"):
        out["CpuShares"] = int(svc["cpu_shares"])
    if svc.get("cpuset"):
        out["CpusetCpus"] = svc["cpuset"]
    if svc.get("shm_size"):
        out["ShmSize"] = _shapes().bytes_value(svc["shm_size"])
    if svc.get("gpus"):  # as v2: one request per entry, "gpu" added to its capabilities; the engine refuses
        out["DeviceRequests"] = [{"Driver": g.get("driver", ""), "Count": int(g.get("count") or 0),
                                  "DeviceIDs": g.get("device_ids"), "Capabilities": [[*(g.get("capabilities") or []),
                                                                                     "gpu"]],
                                  "Options": g.get("options")} for g in svc["gpus"]]
    return out


_HOST_KEYS = (("mem_swappiness", "MemorySwappiness", int), ("oom_kill_disable", "OomKillDisable", bool),
              ("cpu_quota", "CpuQuota", int), ("cpu_period", "CpuPeriod", int),
              ("cpu_rt_runtime", "CpuRealtimeRuntime", int), ("cpu_rt_period", "CpuRealtimePeriod", int),
              ("cgroup", "CgroupnsMode", str), ("device_cgroup_rules", "DeviceCgroupRules", list),
              ("storage_opt", "StorageOpt", dict), ("annotations", "Annotations", dict), ("isolation", "Isolation", str))


def _more_host(project: Project, svc: dict[str, Any], resolve: Any = None) -> dict[str, Any]:
    """The HostConfig fields that are a service key as it is (and ``volumes_from``, ``blkio_config``)."""
    out: dict[str, Any] = {api: kind(svc[key]) for key, api, kind in _HOST_KEYS if svc.get(key) is not None}
    blkio = svc.get("blkio_config") or {}
    if blkio.get("weight") is not None:
        out["BlkioWeight"] = int(blkio["weight"])
    for key, api in (("device_read_bps", "BlkioDeviceReadBps"), ("device_write_bps", "BlkioDeviceWriteBps"),
                     ("device_read_iops", "BlkioDeviceReadIOps"), ("device_write_iops", "BlkioDeviceWriteIOps")):
        if blkio.get(key):
            out[api] = [{"Path": d["path"], "Rate": int(_shapes().bytes_value(d["rate"]))} for d in blkio[key]]
    if blkio.get("weight_device"):
        out["BlkioWeightDevice"] = [{"Path": d["path"], "Weight": int(d["weight"])} for d in blkio["weight_device"]]
    volumes_from = []
    for ref in svc.get("volumes_from") or []:  # a service's container by ID, as v2 (which drops the mode)
        if ref.startswith("container:"):
            volumes_from.append(ref.split(":", 1)[1])
            continue
        name, _, mode = ref.partition(":")
        target = name
        if name in project.services:
            target = resolve(name) if resolve is not None else container_name(project, name, 1)
        volumes_from.append(f"{target}:{mode}" if mode else target)
    if volumes_from:
        out["VolumesFrom"] = volumes_from
    return out


def _ulimits(svc: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name, value in (svc.get("ulimits") or {}).items():
        if isinstance(value, dict):
            out.append({"Name": name, "Soft": int(value["soft"]), "Hard": int(value["hard"])})
        else:
            out.append({"Name": name, "Soft": int(value), "Hard": int(value)})
    return out


def network_mode(project: Project, svc: dict[str, Any], resolve: Any = None) -> str:
    mode = svc.get("network_mode")
    if mode:
        if mode.startswith("service:") and resolve is not None:
            return f"container:{resolve(mode.split(':', 1)[1])}"
        return str(mode)
    nets = sorted(svc.get("networks") or {}, key=lambda n: -int(((svc["networks"] or {}).get(n) or {}).get(
        "priority", 0)))
    return str(project.networks[nets[0]]["name"]) if nets else "none"


def endpoints(project: Project, service: str, svc: dict[str, Any], name: str, use_aliases: bool = True
              ) -> dict[str, Any]:
    """Each network's endpoint: aliased by the container name and (unless ``use_aliases`` is off,
    as for v2's one-offs without ``--use-aliases``) the service name and its aliases."""
    out: dict[str, Any] = {}
    if svc.get("network_mode"):
        return out
    for key, spec in (svc.get("networks") or {}).items():
        spec = spec or {}
        ep: dict[str, Any] = {"Aliases": [name, *([service, *(spec.get("aliases") or [])] if use_aliases else [])]}
        ipam = {k: spec[s] for s, k in (("ipv4_address", "IPv4Address"), ("ipv6_address", "IPv6Address"))
                if spec.get(s)}
        if ipam:
            ep["IPAMConfig"] = ipam
        links = [_link(project, link) for link in svc.get("links") or []]
        if links:
            ep["Links"] = links
        out[project.networks[key]["name"]] = ep
    return out


def _link(project: Project, link: str) -> str:
    target, _, alias = link.partition(":")
    return f"{project.name}-{target}-1:{alias or target}" if target in project.services else link


def container_body(project: Project, service: str, number: int, image_id: str = "", oneoff: str = "",
                   resolve: Any = None, overrides: dict[str, Any] | None = None, digest: str | None = None,
                   use_aliases: bool = True) -> dict[str, Any]:
    """The body of ``POST /containers/create`` for replica ``number`` of ``service`` (``digest``:
    its config hash, when the caller has it already)."""
    svc = {**project.services[service], **(overrides or {})}
    labels = {**(svc.get("labels") or {}), **project_labels(project), SERVICE: service,
              NUMBER: str(number), ONEOFF: "True" if oneoff else "False",
              HASH: digest or config_hash(project.services[service]), DEPENDS: depends_label(svc), IMAGE: image_id}
    if project.environment.get("COMPOSE_PROJECT_ENV_FILE"):
        labels[ENV_FILE] = project.environment["COMPOSE_PROJECT_ENV_FILE"]
    exposed, bindings = _ports(svc)
    env = [f"{k}={v}" for k, v in (svc.get("environment") or {}).items() if v is not None]
    config: dict[str, Any] = {
        "Image": image_name(project, service), "Labels": labels, "Env": env, "ExposedPorts": exposed,
        "Tty": bool(svc.get("tty")), "OpenStdin": bool(svc.get("stdin_open")),
        "AttachStdin": False, "AttachStdout": True, "AttachStderr": True}
    for key, api in (("command", "Cmd"), ("entrypoint", "Entrypoint")):
        if svc.get(key) is not None:
            config[api] = svc[key]
    for key, api in (("user", "User"), ("working_dir", "WorkingDir"), ("hostname", "Hostname"),
                     ("domainname", "Domainname"), ("stop_signal", "StopSignal"), ("mac_address", "MacAddress")):
        if svc.get(key):
            config[api] = str(svc[key])
    if svc.get("stop_grace_period"):
        config["StopTimeout"] = int(_shapes().duration_seconds(svc["stop_grace_period"]))
    health = _healthcheck(svc.get("healthcheck"))
    if health:
        config["Healthcheck"] = health
    logging = svc.get("logging") or {}
    host: dict[str, Any] = {
        "NetworkMode": network_mode(project, svc, resolve),
        "PortBindings": bindings, "RestartPolicy": _restart(svc),
        "Mounts": [_mount(project, v) for v in svc.get("volumes") or []],
        "Privileged": bool(svc.get("privileged")), "ReadonlyRootfs": bool(svc.get("read_only")),
        "CapAdd": svc.get("cap_add"), "CapDrop": svc.get("cap_drop"), "Dns": svc.get("dns"),
        "DnsSearch": svc.get("dns_search"), "DnsOptions": svc.get("dns_opt"),
        "ExtraHosts": [h.replace("=", ":", 1) for h in svc.get("extra_hosts") or []] or None,
        "Sysctls": svc.get("sysctls"), "Ulimits": _ulimits(svc) or None,
        "Devices": [{"PathOnHost": d["source"], "PathInContainer": d["target"],
                     "CgroupPermissions": d.get("permissions", "rwm")} for d in svc.get("devices") or []] or None,
        "Tmpfs": {t.split(":", 1)[0]: t.split(":", 1)[1] if ":" in t else "" for t in svc.get("tmpfs") or []} or None,
        "SecurityOpt": svc.get("security_opt"), "GroupAdd": svc.get("group_add"),
        "LogConfig": {"Type": logging.get("driver", ""), "Config": logging.get("options") or {}},
        **_resources(svc)}
    if svc.get("init") is not None:
        host["Init"] = bool(svc["init"])
    for key, api in (("pid", "PidMode"), ("ipc", "IpcMode"), ("uts", "UTSMode"), ("cgroup_parent", "CgroupParent"),
                     ("runtime", "Runtime"), ("userns_mode", "UsernsMode")):
        if svc.get(key):
            value = str(svc[key])
            if value.startswith("service:") and resolve is not None:
                value = f"container:{resolve(value.split(':', 1)[1])}"
            host[api] = value
    if svc.get("oom_score_adj") is not None:
        host["OomScoreAdj"] = int(svc["oom_score_adj"])
    host.update(_more_host(project, svc, resolve))
    for ref in svc.get("secrets") or []:
        spec = project.secrets.get(ref["source"]) or {}
        if spec.get("file"):
            host["Mounts"].append({"Type": "bind", "Source": spec["file"], "Target": ref["target"], "ReadOnly": True})
    for ref in svc.get("configs") or []:
        spec = project.configs.get(ref["source"]) or {}
        if spec.get("file"):
            host["Mounts"].append({"Type": "bind", "Source": spec["file"], "Target": ref.get("target") or
                                   "/" + ref["source"], "ReadOnly": True})
    host = {k: v for k, v in host.items() if v is not None}
    name = container_name(project, service, number, oneoff)
    return {**config, "HostConfig": host,
            "NetworkingConfig": {"EndpointsConfig": endpoints(project, service, svc, name, use_aliases)}}


def inline_files(project: Project, service: str) -> list[tuple[str, bytes, int]]:
    """Secrets and configs given by ``content`` or ``environment``: (path in the container, data, mode),
    copied into the container before it starts."""
    svc = project.services[service]
    out = []
    for _kind, refs, specs in (("secret", svc.get("secrets") or [], project.secrets),
                              ("config", svc.get("configs") or [], project.configs)):
        for ref in refs:
            spec = specs.get(ref["source"]) or {}
            target = ref.get("target") or "/" + ref["source"]
            mode = int(str(ref.get("mode", "0444")), 8) if isinstance(ref.get("mode"), str) else \
                int(ref.get("mode", 0o444))
            if "content" in spec:
                out.append((target, str(spec["content"]).encode(), mode))
            elif "environment" in spec:
                out.append((target, (project.environment.get(spec["environment"]) or "").encode(), mode))
    return out


def network_body(project: Project, key: str) -> dict[str, Any]:
    spec = project.networks[key]
    ipam = spec.get("ipam") or {}
    body: dict[str, Any] = {
        "Name": spec["name"], "Driver": spec.get("driver") or "bridge", "Internal": bool(spec.get("internal")),
        "Attachable": bool(spec.get("attachable")), "EnableIPv6": bool(spec.get("enable_ipv6")),
        "Options": spec.get("driver_opts") or {},
        "Labels": {**(spec.get("labels") or {}), PROJECT: project.name, NETWORK: key, VERSION: COMPOSE_VERSION,
                   HASH: gojson.network_hash(spec)},
        "CheckDuplicate": True}
    if ipam:
        body["IPAM"] = {"Driver": ipam.get("driver") or "default",
                        "Config": [{"Subnet": c.get("subnet"), "Gateway": c.get("gateway"), "IPRange": c.get("ip_range")}
                                   for c in ipam.get("config") or []]}
        body["IPAM"]["Config"] = [{k: v for k, v in c.items() if v} for c in body["IPAM"]["Config"]]
    return body


def volume_body(project: Project, key: str) -> dict[str, Any]:
    spec = project.volumes[key]
    return {"Name": spec["name"], "Driver": spec.get("driver") or "local", "DriverOpts": spec.get("driver_opts") or {},
            "Labels": {**(spec.get("labels") or {}), PROJECT: project.name, VOLUME: key, VERSION: COMPOSE_VERSION,
                       HASH: gojson.volume_hash(spec)}}
