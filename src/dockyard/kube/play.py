"""Kubernetes YAML as Engine API bodies: pure translation, no daemon (``apply.py`` makes the calls).

A pod is an infra container ``<pod>-infra`` (a sleeping shell of ``--infra-image``, as podman's
pause) and the containers that join its network and IPC namespaces (``container:<infra>``), and its
PID namespace with ``shareProcessNamespace``. The infra holds the pod's hostname, its address on
the play network (with the pod's name and the names of the Services selecting it as DNS aliases),
``hostAliases``, the pod's sysctls and the host ports of every container of the pod
(``hostPort``, and a NodePort Service's ``nodePort``). ``initContainers`` join it too and run one
after the other before the app containers (``apply.py``). A Deployment is ``replicas`` such pods,
``<name>-pod`` (then ``<name>-pod-1``...). Volumes: persistentVolumeClaim → the named volume (the
one ``generate`` annotated, else the claim's name), hostPath → bind, emptyDir → a volume of the
pod (tmpfs with ``medium: Memory``), configMap/secret → files copied into the container before it
starts."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from dockyard import errors
from dockyard.kube import names

WORKLOADS = ("Pod", "Deployment")
KINDS = (*WORKLOADS, "Service", "PersistentVolumeClaim", "ConfigMap", "Secret")
_RESTART = {"Always": "always", "OnFailure": "on-failure", "Never": "no"}
INFRA_IMAGE = "busybox"  # the project's own busybox image (scripts/make-busybox-rootfs)
# PID 1 of a shared PID namespace: sleeps, reaps what its children leave (``wait``), ends on TERM/INT.
INFRA_COMMAND = ["sh", "-c", 'trap "exit 0" TERM INT; while :; do sleep 2147483647 & wait $!; done']


@dataclass
class ContainerPlan:
    name: str  # the engine container's name, <pod>-<container>
    body: dict[str, Any]  # POST /containers/create
    files: list[tuple[str, bytes, int]] = field(default_factory=list)  # (path, data, mode) copied in before start
    pull: str = "IfNotPresent"


@dataclass
class PodPlan:
    name: str
    owner: str  # "Pod/<name>" or "Deployment/<name>"
    containers: list[ContainerPlan] = field(default_factory=list)
    volumes: dict[str, dict[str, Any]] = field(default_factory=dict)  # volume name -> POST /volumes/create body
    host_network: bool = False
    infra: ContainerPlan | None = None
    init: list[ContainerPlan] = field(default_factory=list)  # run to completion in order, before containers

    def all(self) -> list[ContainerPlan]:
        return [*([self.infra] if self.infra else []), *self.init, *self.containers]


@dataclass
class Documents:
    workloads: list[dict[str, Any]] = field(default_factory=list)
    services: list[dict[str, Any]] = field(default_factory=list)
    maps: dict[str, dict[str, bytes]] = field(default_factory=dict)  # ConfigMap name -> key -> data
    secrets: dict[str, dict[str, bytes]] = field(default_factory=dict)
    claims: dict[str, str] = field(default_factory=dict)  # claim name -> engine volume name
    skipped: list[str] = field(default_factory=list)  # kinds play does not run


def load(text: str) -> Documents:
    docs = Documents()
    try:
        items = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as err:
        raise errors.InvalidArgument(f"invalid YAML: {err}") from err
    for doc in items:
        if isinstance(doc, dict) and doc.get("kind") == "List":
            items.extend(doc.get("items") or [])
            continue
        if not isinstance(doc, dict) or not doc.get("kind") or not (doc.get("metadata") or {}).get("name"):
            raise errors.InvalidArgument("each document must be an object with kind and metadata.name")
        _add(docs, doc)
    if not docs.workloads:
        raise errors.InvalidArgument("no Pod or Deployment in the YAML")
    return docs


def _add(docs: Documents, doc: dict[str, Any]) -> None:
    kind, name = doc["kind"], doc["metadata"]["name"]
    if kind in WORKLOADS:
        docs.workloads.append(doc)
    elif kind == "Service":
        docs.services.append(doc)
    elif kind == "ConfigMap":
        docs.maps[name] = {**{k: str(v).encode() for k, v in (doc.get("data") or {}).items()},
                           **{k: base64.b64decode(v) for k, v in (doc.get("binaryData") or {}).items()}}
    elif kind == "Secret":
        docs.secrets[name] = {**{k: base64.b64decode(v) for k, v in (doc.get("data") or {}).items()},
                              **{k: str(v).encode() for k, v in (doc.get("stringData") or {}).items()}}
    elif kind == "PersistentVolumeClaim":
        docs.claims[name] = ((doc["metadata"].get("annotations") or {}).get(names.VOLUME_ANNOTATION) or name)
    else:
        docs.skipped.append(f"{kind}/{name}")


def pods(docs: Documents) -> list[tuple[str, str, dict[str, Any], dict[str, str]]]:
    """(pod name, owner, pod spec, pod labels) of every pod the workloads run."""
    out = []
    for w in docs.workloads:
        meta = w["metadata"]
        if w["kind"] == "Pod":
            out.append((meta["name"], f"Pod/{meta['name']}", w.get("spec") or {}, meta.get("labels") or {}))
            continue
        template = (w.get("spec") or {}).get("template") or {}
        replicas = int((w.get("spec") or {}).get("replicas", 1))
        for i in range(replicas):
            pod = f"{meta['name']}-pod" + (f"-{i}" if i else "")
            out.append((pod, f"Deployment/{meta['name']}", template.get("spec") or {},
                        (template.get("metadata") or {}).get("labels") or {}))
    return out


def plan(docs: Documents, network: str, infra_image: str = INFRA_IMAGE) -> list[PodPlan]:
    plans = [_pod(docs, *p, network, infra_image) for p in pods(docs)]
    ports: dict[tuple[str, str], str] = {}
    for p in plans:
        assert p.infra is not None
        for key, bindings in (p.infra.body["HostConfig"].get("PortBindings") or {}).items():
            for b in bindings:
                if b["HostPort"] and (key, b["HostPort"]) in ports:
                    raise errors.InvalidArgument(f"host port {b['HostPort']} of pod {p.name} is taken by pod "
                                                 f"{ports[(key, b['HostPort'])]} (replicas with a hostPort?)")
                ports[(key, b["HostPort"])] = p.name
    return plans


def _selected(docs: Documents, labels: dict[str, str]) -> list[dict[str, Any]]:
    out = []
    for svc in docs.services:
        selector = (svc.get("spec") or {}).get("selector") or {}
        if selector and all(labels.get(k) == v for k, v in selector.items()):
            out.append(svc)
    return out


def _pod(docs: Documents, pod: str, owner: str, spec: dict[str, Any], labels: dict[str, str],
         network: str, infra_image: str) -> PodPlan:
    if not spec.get("containers"):
        raise errors.InvalidArgument(f"pod {pod}: no containers")
    every = [*(spec.get("initContainers") or []), *spec["containers"]]
    if "infra" in (c.get("name") for c in every):
        raise errors.InvalidArgument(f"pod {pod}: a container named 'infra' would clash with the pod's infra "
                                     "container")
    p = PodPlan(pod, owner, host_network=bool(spec.get("hostNetwork")))
    infra = p.infra = _infra(docs, p, spec, labels, network, infra_image)
    volumes = {v["name"]: v for v in spec.get("volumes") or []}
    for role, group, out in (("init", spec.get("initContainers") or [], p.init), ("app", spec["containers"],
                                                                                  p.containers)):
        for i, c in enumerate(group):
            cp = _container(docs, p, c, volumes, labels, spec)
            cp.body["Labels"].update({names.ROLE: role, names.INDEX: str(i)})
            if role == "init":  # run once (a sidecar: kept running), the pod's restartPolicy is for its app
                cp.body["HostConfig"]["RestartPolicy"] = {"Name": "always" if c.get("restartPolicy") == "Always"
                                                          else "no"}
            elif c.get("ports"):
                cp.body["Labels"][names.PORTS] = json.dumps(c["ports"], separators=(",", ":"))
            _join(cp, infra.name, spec)
            out.append(cp)
    return p


def _join(cp: ContainerPlan, infra: str, spec: dict[str, Any]) -> None:
    """A container of the pod in the infra's network, IPC and (shareProcessNamespace) PID namespaces."""
    host = cp.body["HostConfig"]
    host["NetworkMode"] = f"container:{infra}"
    host["IpcMode"] = "host" if spec.get("hostIPC") else f"container:{infra}"
    if spec.get("hostPID"):
        host["PidMode"] = "host"
    elif spec.get("shareProcessNamespace"):
        host["PidMode"] = f"container:{infra}"


def _infra(docs: Documents, p: PodPlan, spec: dict[str, Any], labels: dict[str, str], network: str,
           image: str) -> ContainerPlan:
    """The pod's infra container: its namespaces, hostname, host aliases, sysctls and host ports."""
    host: dict[str, Any] = {
        "RestartPolicy": {"Name": "no" if spec.get("restartPolicy") == "Never" else "always"},
        "IpcMode": "host" if spec.get("hostIPC") else "shareable"}
    if spec.get("hostPID"):
        host["PidMode"] = "host"
    sysctls = {s["name"]: str(s["value"]) for s in (spec.get("securityContext") or {}).get("sysctls") or []}
    if sysctls:
        host["Sysctls"] = sysctls
    extra = [f"{h}:{a['ip']}" for a in spec.get("hostAliases") or [] for h in a.get("hostnames") or []]
    if extra:
        host["ExtraHosts"] = extra
    body = {"Image": image, "Entrypoint": INFRA_COMMAND[:2], "Cmd": INFRA_COMMAND[2:], "HostConfig": host,
            "Labels": {**labels, names.POD: p.name, names.OWNER: p.owner, names.ROLE: "infra"}}
    cp = ContainerPlan(f"{p.name}-infra", body)
    _hold_network(docs, p, cp, spec, labels, network)
    return cp


def _hold_network(docs: Documents, p: PodPlan, cp: ContainerPlan, spec: dict[str, Any], labels: dict[str, str],
                  network: str) -> None:
    """The infra container: the pod's network namespace, hostname and every host port of the pod."""
    host = cp.body["HostConfig"]
    exposed, bindings = cp.body.setdefault("ExposedPorts", {}), host.setdefault("PortBindings", {})
    for c in spec["containers"]:
        for port in c.get("ports") or []:
            key = f"{port['containerPort']}/{str(port.get('protocol') or 'TCP').lower()}"
            exposed[key] = {}
            if port.get("hostPort"):
                bindings.setdefault(key, []).append({"HostIp": port.get("hostIP", ""), "HostPort": str(port["hostPort"])})
    services = _selected(docs, labels)
    for svc in services:
        for port in (svc.get("spec") or {}).get("ports") or []:
            if port.get("nodePort") and isinstance(port.get("targetPort", port.get("port")), int):
                key = f"{port.get('targetPort', port['port'])}/{str(port.get('protocol') or 'TCP').lower()}"
                exposed[key] = {}
                bindings.setdefault(key, []).append({"HostIp": "", "HostPort": str(port["nodePort"])})
    if p.host_network:
        host["NetworkMode"] = "host"
        host.pop("PortBindings", None)
        return
    cp.body["Hostname"] = spec.get("hostname") or p.name
    host["NetworkMode"] = network
    aliases = [p.name, *dict.fromkeys(s["metadata"]["name"] for s in services)]
    cp.body["NetworkingConfig"] = {"EndpointsConfig": {network: {"Aliases": aliases}}}


def _container(docs: Documents, p: PodPlan, c: dict[str, Any], volumes: dict[str, dict[str, Any]],
               labels: dict[str, str], spec: dict[str, Any]) -> ContainerPlan:
    if not c.get("name") or not c.get("image"):
        raise errors.InvalidArgument(f"pod {p.name}: a container needs a name and an image")
    name = f"{p.name}-{c['name']}"
    env = _env(docs, p.name, c)
    body: dict[str, Any] = {
        "Image": c["image"], "Env": [f"{k}={v}" for k, v in env.items()],
        "Labels": {**labels, names.POD: p.name, names.OWNER: p.owner, names.CONTAINER: c["name"]},
        "Tty": bool(c.get("tty")), "OpenStdin": bool(c.get("stdin")), "StdinOnce": bool(c.get("stdinOnce"))}
    if c.get("command") is not None:
        body["Entrypoint"] = _expand(c["command"], env)
        body["Cmd"] = _expand(c.get("args") or [], env)
    elif c.get("args") is not None:
        body["Cmd"] = _expand(c["args"], env)
    if c.get("workingDir"):
        body["WorkingDir"] = c["workingDir"]
    sec = {**(spec.get("securityContext") or {}), **(c.get("securityContext") or {})}
    user = sec.get("runAsUser")
    if user is not None:
        body["User"] = f"{user}:{sec['runAsGroup']}" if sec.get("runAsGroup") is not None else str(user)
    probe = _healthcheck(c.get("livenessProbe") or {})
    if probe:
        body["Healthcheck"] = probe
    host: dict[str, Any] = {"RestartPolicy": {"Name": _RESTART.get(spec.get("restartPolicy") or "Always", "always")},
                            "Privileged": bool(sec.get("privileged")),
                            "ReadonlyRootfs": bool(sec.get("readOnlyRootFilesystem")), **_limits(c)}
    caps = sec.get("capabilities") or {}
    if caps.get("add"):
        host["CapAdd"] = list(caps["add"])
    if caps.get("drop"):
        host["CapDrop"] = list(caps["drop"])
    cp = ContainerPlan(name, {**body, "HostConfig": host}, pull=c.get("imagePullPolicy") or "IfNotPresent")
    host["Mounts"] = [m for m in (_mount(docs, p, cp, vm, volumes) for vm in c.get("volumeMounts") or []) if m]
    return cp


def _env(docs: Documents, pod: str, c: dict[str, Any]) -> dict[str, str]:
    env: dict[str, str] = {}
    for src in c.get("envFrom") or []:
        ref = src.get("configMapRef") or src.get("secretRef") or {}
        data = _lookup(docs, "secret" if "secretRef" in src else "configMap", ref.get("name", ""), p=pod)
        env.update({src.get("prefix", "") + k: v.decode() for k, v in data.items()})
    for e in c.get("env") or []:
        if "valueFrom" not in e:
            env[e["name"]] = _expand([str(e.get("value", ""))], env)[0]
            continue
        frm = e["valueFrom"]
        if "fieldRef" in frm:
            path = frm["fieldRef"].get("fieldPath", "")
            env[e["name"]] = {"metadata.name": pod, "metadata.namespace": "default", "spec.nodeName": "localhost",
                              "status.hostIP": "127.0.0.1"}.get(path, "")
            continue
        kind = "secret" if "secretKeyRef" in frm else "configMap"
        ref = frm.get("secretKeyRef") or frm.get("configMapKeyRef") or {}
        data = _lookup(docs, kind, ref.get("name", ""), p=pod)
        if ref.get("key") not in data:
            raise errors.NotFound(f"pod {pod}: {kind} {ref.get('name')} has no key {ref.get('key')!r}")
        env[e["name"]] = data[ref["key"]].decode()
    return env


def _lookup(docs: Documents, kind: str, name: str, p: str) -> dict[str, bytes]:
    found = (docs.secrets if kind == "secret" else docs.maps).get(name)
    if found is None:
        raise errors.NotFound(f"pod {p}: {kind} {name!r} is not in the YAML")
    return found


def _expand(words: list[Any], env: dict[str, str]) -> list[str]:
    """Kubernetes' ``$(VAR)`` references in command, args and env values (``$$`` escapes)."""
    def one(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))
    return [re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)", one, str(w)) for w in words]


def _limits(c: dict[str, Any]) -> dict[str, Any]:
    limits = (c.get("resources") or {}).get("limits") or {}
    out = {}
    if limits.get("memory") is not None:
        out["Memory"] = int(names.quantity(limits["memory"]))
    if limits.get("cpu") is not None:
        out["NanoCpus"] = int(names.quantity(limits["cpu"]) * 10**9)
    return out


def _healthcheck(probe: dict[str, Any]) -> dict[str, Any]:
    command = (probe.get("exec") or {}).get("command")
    if not command:
        return {}
    out: dict[str, Any] = {"Test": ["CMD", *command]}
    for key, api in (("periodSeconds", "Interval"), ("timeoutSeconds", "Timeout"), ("initialDelaySeconds", "StartPeriod")):
        if probe.get(key):
            out[api] = int(probe[key]) * 10**9
    if probe.get("failureThreshold"):
        out["Retries"] = int(probe["failureThreshold"])
    return out


def _mount(docs: Documents, p: PodPlan, cp: ContainerPlan, vm: dict[str, Any],
           volumes: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    vol = volumes.get(vm.get("name", ""))
    if vol is None:
        raise errors.InvalidArgument(f"pod {p.name}: volumeMount {vm.get('name')!r} names no volume of the pod")
    target, sub, ro = vm["mountPath"], vm.get("subPath") or "", bool(vm.get("readOnly"))
    if "configMap" in vol or "secret" in vol:
        cp.files += _files(docs, p.name, vol, target, sub)
        return None
    if "persistentVolumeClaim" in vol:
        claim = vol["persistentVolumeClaim"].get("claimName", "")
        m: dict[str, Any] = {"Type": "volume", "Source": docs.claims.get(claim, claim), "Target": target,
                             "ReadOnly": ro or bool(vol["persistentVolumeClaim"].get("readOnly"))}
        p.volumes.setdefault(m["Source"], {"Name": m["Source"], "Labels": {names.MANAGED: "claim"}})
    elif "hostPath" in vol:
        path = vol["hostPath"]["path"].rstrip("/") + (f"/{sub}" if sub else "")
        m = {"Type": "bind", "Source": path or "/", "Target": target, "ReadOnly": ro}
        if vol["hostPath"].get("type") in ("DirectoryOrCreate",):
            m["BindOptions"] = {"CreateMountpoint": True}
        return m
    elif "emptyDir" in vol:
        if (vol["emptyDir"] or {}).get("medium") == "Memory":
            return {"Type": "tmpfs", "Target": target}
        name = f"{p.name}-{vol['name']}"
        p.volumes.setdefault(name, {"Name": name, "Labels": {names.MANAGED: "emptyDir", names.POD: p.name}})
        m = {"Type": "volume", "Source": name, "Target": target, "ReadOnly": ro}
    else:
        raise errors.InvalidArgument(f"pod {p.name}: volume {vol['name']!r}: only persistentVolumeClaim, hostPath, "
                                     "emptyDir, configMap and secret volumes are supported")
    if sub:
        m["VolumeOptions"] = {"Subpath": sub}
    return m


def _files(docs: Documents, pod: str, vol: dict[str, Any], target: str, sub: str) -> list[tuple[str, bytes, int]]:
    kind = "secret" if "secret" in vol else "configMap"
    ref = vol[kind]
    data = _lookup(docs, kind, ref.get("secretName" if kind == "secret" else "name", ""), p=pod)
    mode = int(ref.get("defaultMode", 0o644))
    items = {i["key"]: (i["path"], int(i.get("mode", mode))) for i in ref.get("items") or []} or \
        {k: (k, mode) for k in data}
    if sub:
        key = next((k for k, (path, _) in items.items() if path == sub), None)
        if key is None or key not in data:
            raise errors.NotFound(f"pod {pod}: {kind} volume {vol['name']!r} has no {sub!r}")
        return [(target, data[key], items[key][1])]
    return [(f"{target.rstrip('/')}/{path}", data[key], m) for key, (path, m) in items.items() if key in data]
