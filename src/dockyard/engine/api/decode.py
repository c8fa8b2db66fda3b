"""Request bodies decoded as dockerd decodes them: typed, so a wrong JSON type is a 400, not a crash.

dockerd unmarshals every body into Go structs: ``{"Image": []}`` fails there with ``json: cannot unmarshal
array into Go struct field ... of type string`` (400), a ``null`` leaves the field's zero value and unknown
fields are ignored. Python would instead carry the list on until something deep in the engine raises a
TypeError (a 500: found by Schemathesis, docs/conformance.md). :func:`check` gives the same answers as Go at
the API boundary, so the engine below may trust the types of what it reads.

A type is ``S`` (string; a number passes as its text: clients send numeric GroupAdd), ``I`` (integer),
``B`` (bool), ``N`` (number), ``OBJ`` (any object), ``STRSLICE`` (a string or a list of strings: Go's
``strslice.StrSlice``), ``[T]`` (list of T), ``{"*": T}`` (map of string to T) or ``{"Field": T, ...}``
(a struct). The tables follow the definitions of the Engine API swagger (``../shared/spec/engine-api-swagger.yaml``).
"""

from __future__ import annotations

from typing import Any

from dockyard import errors

S, I, B, N, OBJ, STRSLICE = "string", "int64", "bool", "float64", "object", "strslice"

_INT64 = (-(2**63), 2**63 - 1)

HEALTHCHECK = {"Test": STRSLICE, "Interval": I, "Timeout": I, "Retries": I, "StartPeriod": I, "StartInterval": I}

CONFIG = {
    "Hostname": S, "Domainname": S, "User": S, "AttachStdin": B, "AttachStdout": B, "AttachStderr": B,
    "ExposedPorts": {"*": OBJ}, "Tty": B, "OpenStdin": B, "StdinOnce": B, "Env": [S], "Cmd": STRSLICE,
    "Healthcheck": HEALTHCHECK, "ArgsEscaped": B, "Image": S, "Volumes": {"*": OBJ}, "WorkingDir": S,
    "Entrypoint": STRSLICE, "NetworkDisabled": B, "MacAddress": S, "OnBuild": [S], "Labels": {"*": S},
    "StopSignal": S, "StopTimeout": I, "Shell": STRSLICE,
}

_THROTTLE = [{"Path": S, "Rate": I}]

RESOURCES = {
    "CpuShares": I, "Memory": I, "CgroupParent": S, "BlkioWeight": I, "BlkioWeightDevice": [{"Path": S, "Weight": I}],
    "BlkioDeviceReadBps": _THROTTLE, "BlkioDeviceWriteBps": _THROTTLE, "BlkioDeviceReadIOps": _THROTTLE,
    "BlkioDeviceWriteIOps": _THROTTLE, "CpuPeriod": I, "CpuQuota": I, "CpuRealtimePeriod": I,
    "CpuRealtimeRuntime": I, "CpusetCpus": S, "CpusetMems": S,
    "Devices": [{"PathOnHost": S, "PathInContainer": S, "CgroupPermissions": S}], "DeviceCgroupRules": [S],
    "DeviceRequests": [{"Driver": S, "Count": I, "DeviceIDs": [S], "Capabilities": [[S]], "Options": {"*": S}}],
    "KernelMemoryTCP": I, "MemoryReservation": I, "MemorySwap": I, "MemorySwappiness": I, "NanoCpus": I,
    "OomKillDisable": B, "Init": B, "PidsLimit": I, "Ulimits": [{"Name": S, "Soft": I, "Hard": I}], "CpuCount": I,
    "CpuPercent": I, "IOMaximumIOps": I, "IOMaximumBandwidth": I,
}

RESTART_POLICY = {"Name": S, "MaximumRetryCount": I}

MOUNT = {
    "Target": S, "Source": S, "Type": S, "ReadOnly": B, "Consistency": S,
    "BindOptions": {"Propagation": S, "NonRecursive": B, "CreateMountpoint": B, "ReadOnlyNonRecursive": B,
                    "ReadOnlyForceRecursive": B},
    "VolumeOptions": {"NoCopy": B, "Labels": {"*": S}, "DriverConfig": {"Name": S, "Options": {"*": S}},
                      "Subpath": S},
    "TmpfsOptions": {"SizeBytes": I, "Mode": I, "Options": [[S]]},
}

HOST_CONFIG = {
    **RESOURCES,
    "Binds": [S], "ContainerIDFile": S, "LogConfig": {"Type": S, "Config": {"*": S}}, "NetworkMode": S,
    "PortBindings": {"*": [{"HostIp": S, "HostPort": S}]}, "RestartPolicy": RESTART_POLICY, "AutoRemove": B,
    "VolumeDriver": S, "VolumesFrom": [S], "Mounts": [MOUNT], "ConsoleSize": [I], "Annotations": {"*": S},
    "CapAdd": STRSLICE, "CapDrop": STRSLICE, "CgroupnsMode": S, "Dns": [S], "DnsOptions": [S], "DnsSearch": [S],
    "ExtraHosts": [S], "GroupAdd": [S], "IpcMode": S, "Cgroup": S, "Links": [S], "OomScoreAdj": I, "PidMode": S,
    "Privileged": B, "PublishAllPorts": B, "ReadonlyRootfs": B, "SecurityOpt": [S], "StorageOpt": {"*": S},
    "Tmpfs": {"*": S}, "UTSMode": S, "UsernsMode": S, "ShmSize": I, "Sysctls": {"*": S}, "Runtime": S,
    "Isolation": S, "MaskedPaths": [S], "ReadonlyPaths": [S],
}

ENDPOINT_SETTINGS = {
    "IPAMConfig": {"IPv4Address": S, "IPv6Address": S, "LinkLocalIPs": [S]}, "Links": [S], "MacAddress": S,
    "Aliases": [S], "DriverOpts": {"*": S}, "NetworkID": S, "EndpointID": S, "Gateway": S, "IPAddress": S,
    "IPPrefixLen": I, "IPv6Gateway": S, "GlobalIPv6Address": S, "GlobalIPv6PrefixLen": I, "DNSNames": [S],
}

CONTAINER_CREATE = {**CONFIG, "HostConfig": HOST_CONFIG,
                    "NetworkingConfig": {"EndpointsConfig": {"*": ENDPOINT_SETTINGS}}}
CONTAINER_UPDATE = {**RESOURCES, "RestartPolicy": RESTART_POLICY}
EXEC_CREATE = {"AttachStdin": B, "AttachStdout": B, "AttachStderr": B, "ConsoleSize": [I], "DetachKeys": S,
               "Tty": B, "Env": [S], "Cmd": STRSLICE, "Privileged": B, "User": S, "WorkingDir": S}
EXEC_START = {"Detach": B, "Tty": B, "ConsoleSize": [I]}
NETWORK_CREATE = {
    "Name": S, "Driver": S, "Scope": S, "Internal": B, "Attachable": B, "Ingress": B, "ConfigOnly": B,
    "ConfigFrom": {"Network": S}, "EnableIPv6": B, "EnableIPv4": B, "Options": {"*": S}, "Labels": {"*": S},
    "IPAM": {"Driver": S, "Options": {"*": S},
             "Config": [{"Subnet": S, "IPRange": S, "Gateway": S, "AuxiliaryAddresses": {"*": S}}]},
}
NETWORK_CONNECT = {"Container": S, "EndpointConfig": ENDPOINT_SETTINGS}
NETWORK_DISCONNECT = {"Container": S, "Force": B}
VOLUME_CREATE = {"Name": S, "Driver": S, "DriverOpts": {"*": S}, "Labels": {"*": S}, "ClusterVolumeSpec": OBJ}
AUTH_CONFIG = {"username": S, "password": S, "email": S, "serveraddress": S, "auth": S, "identitytoken": S,
               "registrytoken": S}

_ZERO: dict[str, Any] = {S: "", I: 0, B: False, N: 0.0}


def check(schema: dict[str, Any], value: Any, where: str) -> dict[str, Any]:
    """The body ``value`` checked against the struct ``schema``; nulls dropped (Go's zero values).

    ``where`` names the Go type in the message (``ContainerConfigWrapper``). Raises InvalidArgument.
    """
    if not isinstance(value, dict):
        raise errors.InvalidArgument(f"json: cannot unmarshal {_kind(value)} into Go value of type {where}")
    return _struct(schema, value, where)  # type: ignore[no-any-return]


def _struct(schema: dict[str, Any], value: dict[str, Any], path: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, v in value.items():
        t = schema.get(key)
        if v is None:
            continue  # Go: null leaves the zero value
        out[key] = v if t is None else _value(t, v, f"{path}.{key}")
    return out


def _value(t: Any, v: Any, path: str) -> Any:
    if v is None:  # inside a list or map: Go's zero value
        if isinstance(t, list) or t == STRSLICE:
            return []
        return {} if isinstance(t, dict) or t == OBJ else _ZERO[t]
    if t == S:
        if isinstance(v, str):
            return v
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return str(v)  # lenient where Go is not: clients send numeric GroupAdd, ports (tested, docker-py)
    elif t == B:
        if isinstance(v, bool):
            return v
    elif t == I:
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        if isinstance(v, int) and not isinstance(v, bool):
            if not _INT64[0] <= v <= _INT64[1]:
                raise _mismatch(f"number {v}", path, t)
            return v
        if isinstance(v, float):
            raise _mismatch(f"number {v}", path, t)
    elif t == N:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return v
    elif t == OBJ:
        if isinstance(v, dict):
            return v
    elif t == STRSLICE:
        if isinstance(v, str):
            return [v]
        if isinstance(v, list):
            return [_value(S, x, path) for x in v]
    elif isinstance(t, list):
        if isinstance(v, list):
            return [_value(t[0], x, path) for x in v]
    elif isinstance(t, dict) and set(t) == {"*"}:
        if isinstance(v, dict):
            return {k: _value(t["*"], x, path) for k, x in v.items()}
    elif isinstance(t, dict) and isinstance(v, dict):
        return _struct(t, v, path)
    raise _mismatch(_kind(v), path, t)


def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object" if isinstance(v, dict) else "null"


def _go_type(t: Any) -> str:
    if isinstance(t, list):
        return "[]" + _go_type(t[0])
    if isinstance(t, dict):
        return f"map[string]{_go_type(t['*'])}" if set(t) == {"*"} else "struct"
    return {STRSLICE: "strslice.StrSlice", OBJ: "struct"}.get(t, t)


def _mismatch(kind: str, path: str, t: Any) -> errors.InvalidArgument:
    return errors.InvalidArgument(f"json: cannot unmarshal {kind} into Go struct field {path} of type {_go_type(t)}")
