"""Kubernetes objects from inspected containers: pure translation, no daemon (``collect.py`` gathers
the inputs). A container becomes a pod's container: image, command and args (only where they differ
from the image's), the environment the image does not set, ports (a published one with its
``hostPort``), mounts (named volume → PersistentVolumeClaim, bind → hostPath, tmpfs → emptyDir in
memory, a compose config/secret → ConfigMap/Secret mounted at its target with ``subPath``),
security context, limits, healthcheck (as a liveness probe). Published ports also get a Service.
A pod ``kube play`` ran is given back as it was played: its app and init containers in their
order, ``shareProcessNamespace``, and the hostname, host network, host aliases and (from each
container's label) ports its infra container holds."""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from typing import Any

from dockyard.kube import names


@dataclass
class File:
    """A compose config or secret as the container sees it: ``kind`` "config" or "secret"."""

    kind: str
    name: str
    target: str
    data: bytes
    mode: int = 0o444


@dataclass
class Source:
    """One container to translate: its inspect, its image's inspect, its name in the pod and the
    compose configs/secrets it mounts."""

    inspect: dict[str, Any]
    image: dict[str, Any]
    name: str
    files: list[File] = field(default_factory=list)


@dataclass
class _Objects:
    """The pod's volumes and the objects they refer to (claims, config maps, secrets), by name."""

    volumes: dict[str, dict[str, Any]] = field(default_factory=dict)
    claims: dict[str, dict[str, Any]] = field(default_factory=dict)
    maps: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add_volume(self, name: str, source: dict[str, Any]) -> str:
        self.volumes.setdefault(name, {"name": name, **source})
        return name


def _image_config(src: Source) -> dict[str, Any]:
    return src.image.get("Config") or {}


def _command(src: Source) -> dict[str, Any]:
    cfg, img = src.inspect.get("Config") or {}, _image_config(src)
    out: dict[str, Any] = {}
    entrypoint, cmd = cfg.get("Entrypoint") or [], cfg.get("Cmd") or []
    if entrypoint != (img.get("Entrypoint") or []):
        out["command"] = list(entrypoint)
        if cmd:
            out["args"] = list(cmd)
    elif cmd != (img.get("Cmd") or []):
        out["args"] = list(cmd)
    return out


# What the engine sets when an image names no PATH: not the container's own.
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _env(src: Source) -> list[dict[str, str]]:
    image_env = {*(_image_config(src).get("Env") or []), DEFAULT_PATH}
    out = []
    for item in (src.inspect.get("Config") or {}).get("Env") or []:
        if item in image_env:
            continue
        key, _, value = item.partition("=")
        out.append({"name": key, "value": value})
    return out


def _ports(src: Source) -> list[dict[str, Any]]:
    cfg, host = src.inspect.get("Config") or {}, src.inspect.get("HostConfig") or {}
    if (cfg.get("Labels") or {}).get(names.PORTS):  # a played pod's container: published on its infra
        return [{**port, "protocol": str(port.get("protocol") or "TCP").upper()}
                for port in json.loads(cfg["Labels"][names.PORTS])]
    bindings = host.get("PortBindings") or {}
    keys = sorted(set(cfg.get("ExposedPorts") or {}) | set(bindings), key=lambda k: (int(k.split("/")[0]), k))
    out = []
    for key in keys:
        port, _, proto = key.partition("/")
        entry: dict[str, Any] = {"containerPort": int(port), "protocol": (proto or "tcp").upper()}
        for b in bindings.get(key) or []:
            if b.get("HostPort"):
                entry["hostPort"] = int(b["HostPort"])
                if b.get("HostIp") and b["HostIp"] not in ("0.0.0.0", "::"):
                    entry["hostIP"] = b["HostIp"]
                break
        out.append(entry)
    return out


def _claim(volume: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": names.dns_label(volume), "annotations": {names.VOLUME_ANNOTATION: volume}},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}


def _file_object(f: File) -> dict[str, Any]:
    key = os.path.basename(f.target.rstrip("/")) or names.dns_label(f.name)
    if f.kind == "secret":
        return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": names.dns_label(f.name)},
                "type": "Opaque", "data": {key: base64.b64encode(f.data).decode()}}
    try:
        data: dict[str, Any] = {"data": {key: f.data.decode()}}
    except UnicodeDecodeError:
        data = {"binaryData": {key: base64.b64encode(f.data).decode()}}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": names.dns_label(f.name)}, **data}


def _mounts(src: Source, objs: _Objects) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    by_target = {f.target: f for f in src.files}
    for f in src.files:
        obj = _file_object(f)
        objs.maps.setdefault(f"{obj['kind']}/{obj['metadata']['name']}", obj)
        key = next(iter(obj.get("data") or obj.get("binaryData") or {}))
        ref = {"secretName": obj["metadata"]["name"]} if f.kind == "secret" else {"name": obj["metadata"]["name"]}
        kind = "secret" if f.kind == "secret" else "configMap"
        vol = objs.add_volume(names.dns_label(f"{f.kind}-{f.name}"), {kind: {**ref, "defaultMode": f.mode}})
        out.append({"name": vol, "mountPath": f.target, "subPath": key, "readOnly": True})
    for m in src.inspect.get("Mounts") or []:
        target = m.get("Destination") or ""
        if target in by_target:
            continue
        entry: dict[str, Any] = {"mountPath": target}
        if not m.get("RW", True):
            entry["readOnly"] = True
        if m.get("Type") == "volume" and m.get("Name"):
            claim = _claim(m["Name"])
            objs.claims.setdefault(claim["metadata"]["name"], claim)
            entry["name"] = objs.add_volume(claim["metadata"]["name"],
                                            {"persistentVolumeClaim": {"claimName": claim["metadata"]["name"]}})
        elif m.get("Type") == "bind":
            entry["name"] = objs.add_volume(names.dns_label("host" + m["Source"]), {"hostPath": {"path": m["Source"]}})
        elif m.get("Type") == "tmpfs":
            entry["name"] = objs.add_volume(names.dns_label(f"{src.name}-tmp{target}"),
                                            {"emptyDir": {"medium": "Memory"}})
        else:
            continue
        out.append(entry)
    for target in sorted((src.inspect.get("HostConfig") or {}).get("Tmpfs") or {}):
        vol = objs.add_volume(names.dns_label(f"{src.name}-tmp{target}"), {"emptyDir": {"medium": "Memory"}})
        out.append({"name": vol, "mountPath": target})
    return out


def _security(src: Source) -> dict[str, Any]:
    cfg, host = src.inspect.get("Config") or {}, src.inspect.get("HostConfig") or {}
    out: dict[str, Any] = {}
    user, _, group = str(cfg.get("User") or "").partition(":")
    if user.isdigit():
        out["runAsUser"] = int(user)
    if group.isdigit():
        out["runAsGroup"] = int(group)
    if host.get("Privileged"):
        out["privileged"] = True
    if host.get("ReadonlyRootfs"):
        out["readOnlyRootFilesystem"] = True
    caps = {k: [c.upper().removeprefix("CAP_") for c in host.get(api) or []]
            for k, api in (("add", "CapAdd"), ("drop", "CapDrop")) if host.get(api)}
    if caps:
        out["capabilities"] = caps
    return out


def _resources(src: Source) -> dict[str, Any]:
    host = src.inspect.get("HostConfig") or {}
    limits = {}
    if host.get("Memory"):
        limits["memory"] = names.memory_quantity(int(host["Memory"]))
    if host.get("NanoCpus"):
        limits["cpu"] = names.cpu_quantity(int(host["NanoCpus"]))
    return {"limits": limits} if limits else {}


def _probe(src: Source) -> dict[str, Any]:
    health = (src.inspect.get("Config") or {}).get("Healthcheck") or {}
    test = health.get("Test") or []
    if not test or test[0] == "NONE":
        return {}
    command = list(test[1:]) if test[0] == "CMD" else ["/bin/sh", "-c", test[1]] if test[0] == "CMD-SHELL" else []
    if not command:
        return {}
    probe: dict[str, Any] = {"exec": {"command": command}}
    for key, api in (("periodSeconds", "Interval"), ("timeoutSeconds", "Timeout"), ("initialDelaySeconds", "StartPeriod")):
        if health.get(api):
            probe[key] = max(1, int(health[api]) // 10**9)
    if health.get("Retries"):
        probe["failureThreshold"] = int(health["Retries"])
    return {"livenessProbe": probe}


def container(src: Source, objs: _Objects) -> dict[str, Any]:
    cfg = src.inspect.get("Config") or {}
    out: dict[str, Any] = {"name": names.dns_label(src.name), "image": cfg.get("Image") or src.inspect.get("Image")}
    out.update(_command(src))
    for key, value in (("env", _env(src)), ("ports", _ports(src)), ("volumeMounts", _mounts(src, objs)),
                       ("securityContext", _security(src)), ("resources", _resources(src))):
        if value:
            out[key] = value
    if cfg.get("WorkingDir") and cfg["WorkingDir"] != (_image_config(src).get("WorkingDir") or ""):
        out["workingDir"] = cfg["WorkingDir"]
    if cfg.get("Tty"):
        out["tty"] = True
    if cfg.get("OpenStdin"):
        out["stdin"] = True
    out.update(_probe(src))
    return out


def _init(src: Source, objs: _Objects) -> dict[str, Any]:
    """An init container of a played pod; one the engine restarts always is a sidecar."""
    out = container(src, objs)
    if ((src.inspect.get("HostConfig") or {}).get("RestartPolicy") or {}).get("Name") == "always":
        out["restartPolicy"] = "Always"
    return out


_RESTART = {"always": "Always", "unless-stopped": "Always", "on-failure": "OnFailure", "no": "Never", "": "Never"}


def _pod_spec(sources: list[Source], objs: _Objects, deployment: bool, init: list[Source],
              infra: dict[str, Any] | None) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if init:
        spec["initContainers"] = [_init(s, objs) for s in init]
    spec["containers"] = [container(s, objs) for s in sources]
    if deployment:
        spec["restartPolicy"] = "Always"
    else:
        policy = ((sources[0].inspect.get("HostConfig") or {}).get("RestartPolicy") or {}).get("Name") or ""
        spec["restartPolicy"] = _RESTART.get(policy, "Never")
    if str((sources[0].inspect.get("HostConfig") or {}).get("PidMode") or "").startswith("container:"):
        spec["shareProcessNamespace"] = True
    host = (infra or sources[0].inspect).get("HostConfig") or {}
    if host.get("NetworkMode") == "host":
        spec["hostNetwork"] = True
    aliases: dict[str, list[str]] = {}
    for entry in host.get("ExtraHosts") or []:
        name, _, ip = entry.partition(":")
        if ip and ip != "host-gateway":
            aliases.setdefault(ip, []).append(name)
    if aliases:
        spec["hostAliases"] = [{"ip": ip, "hostnames": hostnames} for ip, hostnames in aliases.items()]
    if objs.volumes:
        spec["volumes"] = list(objs.volumes.values())
    return spec


def service(name: str, app: str, pod_spec: dict[str, Any]) -> dict[str, Any] | None:
    """A Service named ``name`` selecting ``app=<app>``, one port per container port of the pod, so
    that other pods reach it by name on the port they used on the compose network."""
    ports = []
    for c in pod_spec["containers"]:
        for p in c.get("ports") or []:
            ports.append({"name": f"{p['containerPort']}-{p['protocol'].lower()}", "port": p["containerPort"],
                          "targetPort": p["containerPort"], "protocol": p["protocol"]})
    if not ports:
        return None
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "labels": {"app": app}},
            "spec": {"selector": {"app": app}, "ports": ports}}


def workload(name: str, sources: list[Source], kind: str = "Pod", replicas: int = 1,
             init: list[Source] | None = None, infra: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The objects of one workload (``kind`` Pod or Deployment) running ``sources`` (after ``init``)
    in one pod: claims, config maps and secrets first, then the workload, then its Service (if it
    has ports). ``infra``: the inspect of the infra container of a pod ``kube play`` ran."""
    name = names.dns_label(name)
    objs = _Objects()
    spec = _pod_spec(sources, objs, kind == "Deployment", init or [], infra)
    hostname = ((infra or {}).get("Config") or {}).get("Hostname") or ""
    if hostname and hostname != name and not spec.get("hostNetwork"):
        spec["hostname"] = hostname
    meta = {"name": name, "labels": {"app": name}}
    if kind == "Deployment":
        body: dict[str, Any] = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
                                "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                                         "template": {"metadata": {"labels": {"app": name}}, "spec": spec}}}
    else:
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}
    svc = service(name, name, spec)
    return [*objs.claims.values(), *objs.maps.values(), body, *([svc] if svc else [])]


def merge(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Objects of several workloads as one list: a claim, config map or secret two of them share once."""
    seen: set[tuple[str, str]] = set()
    out = []
    for obj in objects:
        key = (obj["kind"], obj["metadata"]["name"])
        if key in seen and obj["kind"] in ("PersistentVolumeClaim", "ConfigMap", "Secret"):
            continue
        seen.add(key)
        out.append(obj)
    return out
