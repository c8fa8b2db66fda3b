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

import asyncio
import bz2
import json
import lzma
import zlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from dockyard import errors

S, I, B, N, OBJ, STRSLICE = "string", "int64", "bool", "float64", "object", "strslice"  # noqa: E741

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
    return _struct(schema, value, where)


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
    return str({STRSLICE: "strslice.StrSlice", OBJ: "struct"}.get(t, t))


def _mismatch(kind: str, path: str, t: Any) -> errors.InvalidArgument:
    return errors.InvalidArgument(f"json: cannot unmarshal {kind} into Go struct field {path} of type {_go_type(t)}")


def _no_constant(name: str) -> Any:
    raise ValueError(f"invalid character '{name[0]}' looking for beginning of value")


def loads(data: bytes | str) -> Any:
    """JSON as Go's decoder takes it: no NaN/Infinity, nesting deeper than Go's limit refused (no
    RecursionError, a 500, from Python's parser). Raises InvalidArgument "invalid JSON: ..." with
    Go's wording for the common syntax errors; content after the value is "unexpected content after
    JSON" (dockerd's httputils.ReadJSON)."""
    try:
        return json.loads(data, parse_constant=_no_constant)
    except RecursionError:
        raise errors.InvalidArgument("invalid JSON: exceeded max depth") from None
    except json.JSONDecodeError as err:
        if err.msg == "Extra data":
            raise errors.InvalidArgument("unexpected content after JSON") from None
        raise errors.InvalidArgument(f"invalid JSON: {_go_syntax_error(err)}") from None
    except ValueError as err:
        raise errors.InvalidArgument(f"invalid JSON: {err}") from None


_GO_CONTEXT = {"Expecting property name enclosed in double quotes": "looking for beginning of object key string",
               "Expecting value": "looking for beginning of value",
               "Expecting ',' delimiter": "after object key:value pair",
               "Expecting ':' delimiter": "after object key"}


def _go_syntax_error(err: json.JSONDecodeError) -> str:
    """encoding/json's message for the error Python's parser reports at ``err.pos``."""
    if err.pos >= len(err.doc) or err.msg.startswith("Unterminated"):
        return "unexpected EOF"
    context = _GO_CONTEXT.get(err.msg)
    if context is None:
        return str(err)
    return f"invalid character {err.doc[err.pos]!r} {context}"


def check_content_type(request: web.Request) -> None:
    """dockerd's CheckForJSON: a body with a Content-Type must be JSON (a body without one is taken
    as JSON, as clients that set none expect)."""
    ct = request.headers.get("Content-Type", "")
    if ct and request.can_read_body and request.content_type != "application/json":
        raise errors.InvalidArgument(f"unsupported Content-Type header ({ct}): must be 'application/json'")


async def read_json(request: web.Request, required: bool = False) -> Any:
    """The request body as JSON. An empty body is None, or "invalid JSON: EOF" when ``required``
    (container create, as dockerd's decoder)."""
    check_content_type(request)
    raw = await request.read()
    if not raw.strip():
        if required:
            raise errors.InvalidArgument("invalid JSON: EOF")
        return None
    return loads(raw)


async def read_object(request: web.Request, schema: dict[str, Any], where: str,
                      required: bool = False) -> dict[str, Any]:
    """A JSON object body checked against ``schema`` (see :func:`check`); an empty body is ``{}``."""
    body = await read_json(request, required)
    return {} if body is None else check(schema, body, where)


# -- tar bodies (PUT archive, image import and load) ---------------------------------------------

_COMPRESSED = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd")  # gzip, bzip2, xz, zstd


def _tar_header_ok(block: bytes) -> bool:
    """A first 512-byte block that is a tar header (checksum right) or the end-of-archive zeros."""
    if len(block) < 512:
        return False
    if block == bytes(512):
        return True
    field = block[148:156].split(b"\x00", 1)[0].strip()
    try:
        stored = int(field or b"x", 8)
    except ValueError:
        return False
    unsigned = sum(block[:148]) + 8 * 32 + sum(block[156:512])
    signed = sum(b - 256 if b > 127 else b for b in block[:148] + block[156:512]) + 8 * 32
    return stored in (unsigned, signed)


async def tar_body(request: web.Request, compressed: bool = False) -> AsyncIterator[bytes]:
    """The request body, checked to start as a tar (or, with ``compressed``, as gzip/bzip2/xz/zstd)
    before the first byte goes on: an empty or non-tar body is a 400 here, not an error deep below."""
    body = await optional_tar_body(request, compressed)
    if body is None:
        raise errors.InvalidArgument("archive: empty request body, expected a tar archive")
    return body


async def optional_tar_body(request: web.Request, compressed: bool = False) -> AsyncIterator[bytes] | None:
    """As ``tar_body``, but an empty body is None (dockerd extracts it as an empty archive)."""
    head = b""
    chunks = request.content.iter_chunked(1 << 20)
    async for chunk in chunks:
        head += chunk
        if len(head) >= 512:
            break
    if not head:
        return None
    if not ((compressed and head.startswith(_COMPRESSED)) or _tar_header_ok(head[:512])):
        raise errors.InvalidArgument("archive: request body is not a tar archive")
    return _then(head, chunks)


async def _no_chunks() -> AsyncIterator[bytes]:
    return
    yield b""


async def _then(head: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield head
    async for chunk in rest:
        yield chunk


async def plain_tar_body(request: web.Request, empty_ok: bool = False) -> AsyncIterator[bytes]:
    """``docker import``'s body: a tar, or one compressed with gzip, bzip2, xz or zstd, which is
    decompressed here (dockerd's DecompressStream) and checked to hold a tar as a plain body is. A
    compressed stream that is corrupt or cut short is a 400, in the stream as at its start. With
    ``empty_ok`` an empty body is an empty archive (dockerd's import of an empty body)."""
    body = await optional_tar_body(request, compressed=True)
    if body is None:
        if not empty_ok:
            raise errors.InvalidArgument("archive: empty request body, expected a tar archive")
        return _then(bytes(1024), _no_chunks())
    chunks = body.__aiter__()
    head = await chunks.__anext__()
    if not head.startswith(_COMPRESSED):
        return _then(head, chunks)
    inflater = _Inflater(head)
    out = await asyncio.to_thread(inflater.feed, head)
    more = True
    while len(out) < 512 and more:
        try:
            out += await asyncio.to_thread(inflater.feed, await chunks.__anext__())
        except StopAsyncIteration:
            inflater.finish()
            more = False
    if not _tar_header_ok(out[:512]):
        raise errors.InvalidArgument("archive: request body is not a tar archive (after decompression)")
    return _inflated(out, chunks, inflater) if more else _then(out, _nothing())


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield b""


async def _inflated(head: bytes, rest: AsyncIterator[bytes], inflater: _Inflater) -> AsyncIterator[bytes]:
    yield head
    async for chunk in rest:
        out = await asyncio.to_thread(inflater.feed, chunk)
        if out:
            yield out
    inflater.finish()


class _Inflater:
    """A streaming decompressor for a body that starts with one of ``_COMPRESSED``'s magics; concatenated
    streams (gzip members, xz streams, zstd frames) go on as one, as Go's readers read them."""

    def __init__(self, head: bytes) -> None:
        # lazy: 1.0 ms of CPU on every dockyardd start (zstandard, measured); only an import of a zstd body
        import zstandard

        kinds: list[tuple[bytes, Callable[[], Any], tuple[type[Exception], ...]]] = [
            (_COMPRESSED[0], lambda: zlib.decompressobj(wbits=31), (zlib.error,)),
            (_COMPRESSED[1], bz2.BZ2Decompressor, (OSError, EOFError)),
            (_COMPRESSED[2], lzma.LZMADecompressor, (lzma.LZMAError, EOFError)),
            (_COMPRESSED[3], lambda: zstandard.ZstdDecompressor().decompressobj(), (zstandard.ZstdError,)),
        ]
        self.make, self.failures = next((make, fails) for magic, make, fails in kinds if head.startswith(magic))
        self.d = self.make()

    def feed(self, data: bytes) -> bytes:
        out = []
        try:
            while data:
                out.append(self.d.decompress(data))
                data = self.d.unused_data if self.d.eof else b""
                if data:
                    self.d = self.make()  # the next member, or what follows the stream (refused by it)
        except self.failures as err:
            raise errors.InvalidArgument(f"archive: the compressed body is corrupt: {err}") from None
        return b"".join(out)

    def finish(self) -> None:
        if not self.d.eof:
            raise errors.InvalidArgument("archive: the compressed body ends before its stream does (unexpected EOF)")
