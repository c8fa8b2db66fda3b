"""CRI configs to OCI runtime specs: the pod's pause container and the containers that join it.

Both start from ``oci.runtime_spec.default_spec``. The pause process gets the pod's network
namespace (the bind-mounted one, by path), new IPC and UTS namespaces (the pod's hostname)
and a new PID namespace; a container joins the pause's network, IPC and UTS namespaces, and
its PID namespace when the pod asks for ``POD``, shares the host's for ``NODE`` and has its
own for ``CONTAINER``. The pod's /etc/hostname, /etc/hosts and /etc/resolv.conf are files of
the pod's directory, bind-mounted into every container.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from dockyard import errors
from dockyard.cri.api import api_pb2 as cri
from dockyard.engine import users
from dockyard.engine.resources import devices_from_path
from dockyard.engine.spec import known_capabilities
from dockyard.oci import sysctl
from dockyard.oci.capabilities import CAPABILITIES
from dockyard.oci.runtime_spec import DEFAULT_CAPABILITIES, DEFAULT_PATH, default_spec
from dockyard.oci.seccomp_default import default_profile

POD, CONTAINER, NODE, TARGET = cri.POD, cri.CONTAINER, cri.NODE, cri.TARGET
SANDBOX_ID = "io.kubernetes.cri.sandbox-id"
CONTAINER_TYPE = "io.kubernetes.cri.container-type"


def annotate(spec: dict[str, Any], kind: str, sandbox_id: str) -> None:
    """containerd's CRI annotations: the container's type (``sandbox``/``container``) and its pod,
    by which dockyard-containerd puts every task of a pod into one shim (as runc v2's shim)."""
    spec.setdefault("annotations", {}).update({CONTAINER_TYPE: kind, SANDBOX_ID: sandbox_id})


def _cap(name: str) -> str:
    name = name.upper()
    return name if name.startswith("CAP_") else f"CAP_{name}"


def _without(spec: dict[str, Any], kind: str) -> None:
    spec["linux"]["namespaces"] = [ns for ns in spec["linux"]["namespaces"] if ns["type"] != kind]


def _join(spec: dict[str, Any], kind: str, path: str) -> None:
    for ns in spec["linux"]["namespaces"]:
        if ns["type"] == kind:
            ns["path"] = path
            return
    spec["linux"]["namespaces"].append({"type": kind, "path": path})


IdMaps = tuple[list[dict[str, int]], list[dict[str, int]]]  # (uidMappings, gidMappings) of an OCI spec


def userns_maps(opts: cri.NamespaceOption) -> IdMaps | None:
    """The pod's user namespace: None for the host's (NODE, or no options), else the
    ``(uidMappings, gidMappings)`` of its own (POD); bad options are refused. A pod in its own
    user namespace shares none of the host's namespaces (the kubelet's rule too)."""
    if not opts.HasField("userns_options") or opts.userns_options.mode == NODE:
        return None
    u = opts.userns_options
    if u.mode != POD:
        raise errors.InvalidArgument("user namespace: only the modes POD and NODE exist for a pod")
    if len(u.uids) != 1 or len(u.gids) != 1:
        raise errors.InvalidArgument("user namespace: exactly one uid and one gid mapping are supported")
    if any(m.container_id != 0 or m.length == 0 for m in (*u.uids, *u.gids)):
        raise errors.InvalidArgument("user namespace: the mapping must start at container ID 0")
    if NODE in (opts.network, opts.pid, opts.ipc):
        raise errors.InvalidArgument("user namespace: a pod in its own user namespace cannot use the host's "
                                     "network, PID or IPC namespace")
    return _oci_maps(u.uids), _oci_maps(u.gids)


def _oci_maps(mappings: Any) -> list[dict[str, int]]:
    return [{"containerID": m.container_id, "hostID": m.host_id, "size": m.length} for m in mappings]


def _userns(spec: dict[str, Any], maps: IdMaps | None, path: str) -> None:
    """Join the pod's user namespace (by path; the runtime joins it before the others, which it owns);
    containerd mounts such a task's rootfs over idmapped layers (``containerd/tasks/idmap.py``)."""
    if maps is not None:
        _join(spec, "user", path)
        spec["linux"]["uidMappings"], spec["linux"]["gidMappings"] = maps


def _env(image_config: dict[str, Any], envs: Any) -> list[str]:
    env: dict[str, str] = {"PATH": DEFAULT_PATH}
    for entry in (image_config.get("Env") or []):
        key, _, value = entry.partition("=")
        env[key] = value
    for kv in envs:
        env[kv.key] = kv.value
    return [f"{k}={v}" for k, v in env.items()]


def _seccomp(sec: Any, caps: list[str]) -> dict[str, Any] | None:
    """The profile a security context asks for (``seccomp``, else the older ``seccomp_profile_path``)."""
    profile, legacy_path = sec.seccomp, sec.seccomp_profile_path
    kind = profile.profile_type if sec.HasField("seccomp") else None
    if kind is None:
        if legacy_path in ("runtime/default", "docker/default"):
            kind = cri.SecurityProfile.RuntimeDefault
        elif legacy_path.startswith("localhost/"):
            return _localhost_profile(legacy_path.removeprefix("localhost/"))
        else:
            return None  # unconfined: the CRI's default when nothing is asked
    if kind == cri.SecurityProfile.RuntimeDefault:
        return default_profile(caps)
    if kind == cri.SecurityProfile.Localhost:
        return _localhost_profile(profile.localhost_ref)
    return None


def _localhost_profile(path: str) -> dict[str, Any]:
    try:
        with open(path) as f:
            return dict(json.load(f))
    except (OSError, ValueError) as err:
        raise errors.InvalidArgument(f"seccomp profile {path!r}: {err}") from err


def _apparmor(sec: cri.LinuxContainerSecurityContext) -> str:
    """This host runs no AppArmor: only "unconfined" and the runtime default (none here) are accepted."""
    profile, legacy = sec.apparmor, sec.apparmor_profile
    if sec.HasField("apparmor"):
        if profile.profile_type == cri.SecurityProfile.Localhost:
            raise errors.InvalidArgument(f"apparmor profile {profile.localhost_ref!r}: AppArmor is not enabled")
        return ""
    if legacy.startswith("localhost/"):
        raise errors.InvalidArgument(f"apparmor profile {legacy!r}: AppArmor is not enabled")
    return ""


def _resources(res: cri.LinuxContainerResources) -> dict[str, Any]:
    out: dict[str, Any] = {}
    cpu = {k: v for k, v in (("shares", res.cpu_shares), ("quota", res.cpu_quota), ("period", res.cpu_period),
                             ("cpus", res.cpuset_cpus), ("mems", res.cpuset_mems)) if v}
    if cpu:
        out["cpu"] = cpu
    if res.memory_limit_in_bytes:
        out["memory"] = {"limit": res.memory_limit_in_bytes}
        if res.memory_swap_limit_in_bytes:
            out["memory"]["swap"] = res.memory_swap_limit_in_bytes
    if res.hugepage_limits:
        out["hugepageLimits"] = [{"pageSize": h.page_size, "limit": h.limit} for h in res.hugepage_limits]
    if res.unified:
        out["unified"] = dict(res.unified)
    return out


def resources(res: cri.LinuxContainerResources) -> dict[str, Any]:
    """``linux.resources`` of UpdateContainerResources (what it sets; the rest stays)."""
    return _resources(res)


def _own_oom_score_adj() -> int:
    try:
        with open("/proc/self/oom_score_adj") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 0


def sandbox_spec(id: str, config: cri.PodSandboxConfig, image_config: dict[str, Any], netns: str,
                 cgroups_path: str, shm: str, userns: str = "", maps: IdMaps | None = None) -> dict[str, Any]:
    """The pause's spec; ``userns``, ``maps``: the pod's user namespace file and its maps
    (``userns_maps`` of the config), when it has one of its own."""
    cmd = [*(image_config.get("Entrypoint") or []), *(image_config.get("Cmd") or [])] or ["/pause"]
    spec = default_spec(cmd)
    sec = config.linux.security_context
    nsopts = sec.namespace_options
    spec["process"]["env"] = _env(image_config, [])
    spec["process"]["cwd"] = image_config.get("WorkingDir") or "/"
    spec["process"]["oomScoreAdj"] = max(-998, _own_oom_score_adj())
    if nsopts.network == NODE:
        _without(spec, "network")
    else:
        _join(spec, "network", netns)
    if nsopts.ipc == NODE:
        _without(spec, "ipc")
    if nsopts.pid == NODE:
        _without(spec, "pid")
    if nsopts.ipc == NODE:
        shm = "/dev/shm"
    if nsopts.network == NODE:
        _without(spec, "uts")
    else:
        spec["hostname"] = config.hostname or id[:12]
    spec["root"]["readonly"] = True
    spec["linux"]["cgroupsPath"] = cgroups_path
    _userns(spec, maps, userns)
    if config.linux.sysctls:
        spec["linux"]["sysctl"] = dict(config.linux.sysctls)
        refused = sysctl.refusals(spec["linux"]["sysctl"], spec["linux"]["namespaces"])
        if refused:
            raise errors.InvalidArgument("; ".join(refused))
    _user(spec["process"], sec.run_as_user.value if sec.HasField("run_as_user") else None,
          sec.run_as_group.value if sec.HasField("run_as_group") else None, list(sec.supplemental_groups))
    if sec.privileged:
        _privileged(spec)
    else:
        spec["linux"]["seccomp"] = _seccomp(sec, spec["process"]["capabilities"]["bounding"])
    if spec["linux"].get("seccomp") is None:
        spec["linux"].pop("seccomp", None)
    _shm(spec, shm)
    return spec


def _shm(spec: dict[str, Any], shm: str) -> None:
    """/dev/shm: the pod's tmpfs (mounted on the host in the pod's directory), for every container."""
    spec["mounts"] = [m for m in spec["mounts"] if m["destination"] != "/dev/shm"]
    spec["mounts"].append({"destination": "/dev/shm", "type": "bind", "source": shm,
                           "options": ["rbind", "rprivate", "nosuid", "noexec", "nodev"]})


def _user(process: dict[str, Any], uid: int | None, gid: int | None, groups: list[int]) -> None:
    if uid is not None:
        process["user"]["uid"] = uid
    if gid is not None:
        process["user"]["gid"] = gid
    if groups:
        process["user"]["additionalGids"] = sorted(set(process["user"].get("additionalGids", []) + groups))


def _privileged(spec: dict[str, Any]) -> None:
    every = sorted(known_capabilities())
    spec["process"]["capabilities"] = {k: every for k in ("bounding", "effective", "permitted")}
    spec["linux"].pop("seccomp", None)
    spec["linux"]["maskedPaths"] = []
    spec["linux"]["readonlyPaths"] = []
    for m in spec["mounts"]:
        if m["destination"] in ("/sys", "/sys/fs/cgroup"):
            m["options"] = [o for o in m["options"] if o != "ro"] + ["rw"]
    spec["linux"]["resources"]["devices"] = [{"allow": True, "access": "rwm"}]


def _capabilities(caps: cri.Capability) -> dict[str, list[str]]:
    add = [_cap(c) for c in caps.add_capabilities]
    drop = [_cap(c) for c in caps.drop_capabilities]
    out = set() if "CAP_ALL" in drop else set(DEFAULT_CAPABILITIES) - set(drop)
    for c in add:
        if c == "CAP_ALL":
            out |= set(known_capabilities())
        elif c not in CAPABILITIES:
            raise errors.InvalidArgument(f"unknown capability {c!r}")
        else:
            out.add(c)
    result = {k: sorted(out) for k in ("bounding", "effective", "permitted")}
    ambient = sorted(_cap(c) for c in caps.add_ambient_capabilities)
    if ambient:
        result["inheritable"] = ambient
        result["ambient"] = ambient
    return result


def container_spec(id: str, config: cri.ContainerConfig, sandbox: cri.PodSandboxConfig, image_config: dict[str, Any],
                   pause_pid: int, netns: str, cgroups_path: str, pod_files: dict[str, str], shm: str,
                   etc_files: Mapping[str, bytes]) -> dict[str, Any]:
    args = [*(config.command or image_config.get("Entrypoint") or []),
            *(config.args or ([] if config.command else image_config.get("Cmd") or []))]
    if not args:
        raise errors.InvalidArgument("no command specified")
    spec = default_spec(args, terminal=config.tty)
    proc = spec["process"]
    sec = config.linux.security_context
    proc["env"] = _env(image_config, config.envs)
    if not any(e.startswith("HOSTNAME=") for e in proc["env"]):
        proc["env"].append(f"HOSTNAME={sandbox.hostname or id[:12]}")
    proc["cwd"] = config.working_dir or image_config.get("WorkingDir") or "/"
    proc["oomScoreAdj"] = max(config.linux.resources.oom_score_adj, _own_oom_score_adj())
    _container_user(proc, sec, image_config, etc_files)
    proc["noNewPrivileges"] = bool(sec.no_new_privs)
    spec["root"]["readonly"] = bool(sec.readonly_rootfs)
    _container_namespaces(spec, sec.namespace_options, pause_pid, netns, shm,
                          sandbox.linux.security_context.namespace_options)
    linux = spec["linux"]
    linux["cgroupsPath"] = cgroups_path
    linux["resources"] = {**_resources(config.linux.resources), "devices": linux["resources"]["devices"]}
    if sec.privileged:
        if not sandbox.linux.security_context.privileged:
            raise errors.InvalidArgument("no privileged container allowed in a sandbox that is not privileged")
        _privileged(spec)
    else:
        proc["capabilities"] = _capabilities(sec.capabilities)
        seccomp = _seccomp(sec, proc["capabilities"]["bounding"])
        if seccomp is not None:
            linux["seccomp"] = seccomp
        if sec.masked_paths:
            linux["maskedPaths"] = list(sec.masked_paths)
        if sec.readonly_paths:
            linux["readonlyPaths"] = list(sec.readonly_paths)
    _apparmor(sec)
    spec["mounts"] += _mounts(config, pod_files, sec.readonly_rootfs)
    propagations = {m.propagation for m in config.mounts}
    if cri.PROPAGATION_BIDIRECTIONAL in propagations:  # the container's mounts stay peers of the host's
        linux["rootfsPropagation"] = "rshared"
    elif cri.PROPAGATION_HOST_TO_CONTAINER in propagations:
        linux["rootfsPropagation"] = "rslave"
    for d in config.devices:
        nodes = devices_from_path(d.host_path, d.container_path, d.permissions or "rwm")
        linux.setdefault("devices", []).extend(nodes)
        linux["resources"]["devices"] += [{"allow": True, "type": n["type"], "major": n["major"],
                                           "minor": n["minor"], "access": d.permissions or "rwm"} for n in nodes]
    return spec


def _container_user(proc: dict[str, Any], sec: cri.LinuxContainerSecurityContext, image_config: dict[str, Any],
                    etc_files: Mapping[str, bytes]) -> None:
    if sec.run_as_username:
        spec_user = sec.run_as_username
    elif sec.HasField("run_as_user"):
        spec_user = str(sec.run_as_user.value)
    else:
        spec_user = image_config.get("User") or ""
    if sec.HasField("run_as_group"):
        if not (sec.run_as_username or sec.HasField("run_as_user")):
            raise errors.InvalidArgument("run_as_group is set without run_as_user or run_as_username")
        spec_user = f"{spec_user.partition(':')[0]}:{sec.run_as_group.value}"
    user, groups = users.resolve_files(spec_user, etc_files, [int(g) for g in sec.supplemental_groups])
    if sec.supplemental_groups_policy == cri.Strict:  # the image's /etc/group adds nothing
        user = dataclasses.replace(user, additional_gids=[])
    users.apply(proc, user, groups)


def _container_namespaces(spec: dict[str, Any], opts: cri.NamespaceOption, pause_pid: int, netns: str,
                          shm: str, sandbox_opts: cri.NamespaceOption) -> None:
    if opts.network == NODE:
        _without(spec, "network")
        _without(spec, "uts")
        spec.pop("hostname", None)
    else:  # the pod's: its netns file, or the pause's (the host's, in a host-network pod)
        _join(spec, "network", netns or f"/proc/{pause_pid}/ns/net")
        _join(spec, "uts", f"/proc/{pause_pid}/ns/uts")
    if opts.ipc == NODE:
        _without(spec, "ipc")
    else:
        _join(spec, "ipc", f"/proc/{pause_pid}/ns/ipc")
    if opts.pid == NODE:
        _without(spec, "pid")
    elif opts.pid == POD:
        _join(spec, "pid", f"/proc/{pause_pid}/ns/pid")
    elif opts.pid == TARGET:
        raise errors.InvalidArgument("pid namespace TARGET: the target container's namespace is not supported")
    _shm(spec, "/dev/shm" if opts.ipc == NODE else shm)
    _userns(spec, userns_maps(sandbox_opts), f"/proc/{pause_pid}/ns/user")


PROPAGATION = {cri.PROPAGATION_PRIVATE: "rprivate", cri.PROPAGATION_HOST_TO_CONTAINER: "rslave",
               cri.PROPAGATION_BIDIRECTIONAL: "rshared"}


def _mounts(config: cri.ContainerConfig, pod_files: dict[str, str], readonly_rootfs: bool) -> list[dict[str, Any]]:
    out = []
    asked = {m.container_path for m in config.mounts}
    for dest, src in pod_files.items():
        if dest not in asked:
            opts = ["rbind", "rprivate", "ro" if readonly_rootfs and dest != "/etc/resolv.conf" else "rw"]
            out.append({"destination": dest, "type": "bind", "source": src, "options": opts})
    for m in config.mounts:
        if not m.host_path or not m.container_path:
            raise errors.InvalidArgument(f"mount {m.container_path!r}: host_path and container_path are required")
        opts = ["rbind", PROPAGATION.get(m.propagation, "rprivate"), "ro" if m.readonly else "rw"]
        if m.recursive_read_only:
            if not m.readonly:
                raise errors.InvalidArgument("recursive read-only mount needs readonly")
            if m.propagation != cri.PROPAGATION_PRIVATE:  # a propagating mount would carry rw submounts in
                raise errors.InvalidArgument("recursive read-only mount needs private propagation")
            opts.append("rro")
        out.append({"destination": m.container_path, "type": "bind", "source": m.host_path, "options": opts})
    return out


def exec_process(base: dict[str, Any], cmd: list[str], tty: bool = False) -> dict[str, Any]:
    """The OCI process of an exec: the container's, with the command (and terminal) of the exec."""
    inherited = {k: v for k, v in base.items() if k not in ("args", "terminal", "consoleSize")}
    return {**inherited, "args": list(cmd), "terminal": tty}
