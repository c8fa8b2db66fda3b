"""The Kubernetes pods view: the CRI's pod sandboxes and their containers (``runtime.v1``
ListPodSandbox and ListContainers over gRPC on dockyard-cri's socket). The dashboard is a client
and imports no server code, so the two answers are read with a small protobuf wire reader for the
few fields shown. No CRI answering: ``{"available": false}``, and the page hides the view."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
from aiohttp import web

SERVICE = "/runtime.v1.RuntimeService/"
TIMEOUT = 3.0
POD_STATES = {0: "ready", 1: "notready"}
CONTAINER_STATES = {0: "created", 1: "running", 2: "exited", 3: "unknown"}


def _varint(data: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = data[i]
        i += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, i
        shift += 7


def fields(data: bytes) -> Iterator[tuple[int, Any]]:
    """(field number, value) of a message: an int for varints, bytes for length-delimited fields."""
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        wire = key & 7
        value: int | bytes
        if wire == 0:
            value, i = _varint(data, i)
        elif wire == 2:
            size, i = _varint(data, i)
            value, i = data[i:i + size], i + size
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, i = data[i:i + size], i + size
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield key >> 3, value


def _message(data: bytes, names: dict[int, str], maps: tuple[int, ...] = ()) -> dict[str, Any]:
    """The fields ``names`` lists (strings and ints as they come); ``maps`` are map<string,string>."""
    out: dict[str, Any] = {names[n]: {} for n in maps}
    for number, value in fields(data):
        if number in maps:
            entry = dict(fields(value))
            out[names[number]][entry.get(1, b"").decode()] = entry.get(2, b"").decode()
        elif number in names:
            out[names[number]] = value.decode(errors="replace") if isinstance(value, bytes) else value
    return out


def pod(data: bytes) -> dict[str, Any]:
    raw = dict(fields(data))
    meta = _message(raw.get(2, b""), {1: "name", 2: "uid", 3: "namespace", 4: "attempt"})
    top = _message(data, {1: "id", 3: "state", 4: "created", 5: "labels"}, maps=(5,))
    return {"id": top.get("id", ""), "name": meta.get("name", ""), "namespace": meta.get("namespace", ""),
            "uid": meta.get("uid", ""), "state": POD_STATES.get(top.get("state", 0), "unknown"),
            "created": top.get("created", 0) / 1e9, "labels": top["labels"], "containers": []}


def container(data: bytes) -> dict[str, Any]:
    raw = dict(fields(data))
    top = _message(data, {1: "id", 2: "pod", 6: "state", 7: "created"})
    return {"id": top.get("id", ""), "pod": top.get("pod", ""),
            "name": _message(raw.get(3, b""), {1: "name"}).get("name", ""),
            "image": _message(raw.get(4, b""), {1: "image"}).get("image", ""),
            "state": CONTAINER_STATES.get(top.get("state", 0), "unknown"), "created": top.get("created", 0) / 1e9}


async def _list(channel: grpc.aio.Channel, method: str) -> list[bytes]:
    call = channel.unary_unary(SERVICE + method, request_serializer=bytes, response_deserializer=bytes)
    answer = await call(b"", timeout=TIMEOUT)
    return [value for number, value in fields(answer) if number == 1]


async def list_pods(target: str) -> dict[str, Any]:
    """The pods with their containers, or ``available: false`` when nothing answers at ``target``."""
    async with grpc.aio.insecure_channel(target) as channel:
        try:
            pods = [pod(item) for item in await _list(channel, "ListPodSandbox")]
            containers = [container(item) for item in await _list(channel, "ListContainers")]
        except grpc.aio.AioRpcError as err:
            return {"available": False, "endpoint": target, "message": err.details() or str(err.code())}
    by_id = {p["id"]: p for p in pods}
    for c in containers:
        if c["pod"] in by_id:
            by_id[c["pod"]]["containers"].append(c)
    return {"available": True, "endpoint": target,
            "pods": sorted(pods, key=lambda p: (p["namespace"], p["name"]))}


async def pods(request: web.Request) -> web.Response:
    return web.json_response(await list_pods(request.app["cri"]))


def register(app: web.Application) -> None:
    app.router.add_get("/api/pods", pods)
