"""The API's JSON of a container, made from the engine's typed ``Container`` (``engine/container.py``):
``to_inspect`` for ``GET /containers/{id}/json``, ``to_summary`` for a ``GET /containers/json`` row.
The only place a container's API JSON is made; what a request's version changes is ``versions.py``'s."""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from typing import Any

from dockyard.engine.api import versions
from dockyard.engine.container import Container
from dockyard.engine.records import HostConfig, snake
from dockyard.timefmt import parse_rfc3339

log = logging.getLogger("dockyard.engine.api")

ENGINE_ONLY = ("HasBeenManuallyStopped",)  # recorded for the engine (dockerd's on-disk config), never shown

# HostConfig fields moby's Go struct tags ``omitempty`` (api/types/container/hostconfig.go): not shown when unset;
# KernelMemory and KernelMemoryTCP were omitempty until removed (API 1.52)
HOST_CONFIG_OMITEMPTY = frozenset({"Annotations", "StorageOpt", "Tmpfs", "Sysctls", "Runtime", "Mounts", "Init",
                                   "KernelMemory", "KernelMemoryTCP"})
# the zero value of a HostConfig field that is a Go struct or array (the others: the record's zero value)
HOST_CONFIG_ZERO: dict[str, Any] = {"LogConfig": {"Type": "", "Config": None},
                                    "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
                                    "ConsoleSize": [0, 0]}
# what inspect shows of each field nobody set, in dockerd's order (the omitempty ones are not shown)
_ZERO_SHOWN = {key: HOST_CONFIG_ZERO.get(key, getattr(HostConfig, snake(key)))
               for key in HostConfig.KEYS if key not in HOST_CONFIG_OMITEMPTY}


def to_inspect(c: Container, version: versions.Version) -> dict[str, Any]:
    """``GET /containers/{id}/json`` as the request's API version answers it; the record is not changed."""
    doc = c.to_json()
    for key in ENGINE_ONLY:
        doc.pop(key, None)
    doc["HostConfig"] = inspect_host_config(doc["HostConfig"])
    return versions.container_inspect(doc, version)


def inspect_host_config(host: HostConfig | Mapping[str, Any]) -> dict[str, Any]:
    """``HostConfig`` (its record, or the record's JSON) as dockerd renders it: every field of its struct
    in its order, the ones nobody set as Go's zero value (``0``, ``""``, ``false``, ``null``) unless
    ``omitempty``; fields of a newer API that the record keeps follow as they came."""
    sent = host.to_json() if isinstance(host, HostConfig) else host
    out: dict[str, Any] = {}
    for key in HostConfig.KEYS:
        if key in sent:
            out[key] = sent[key]
        elif key in _ZERO_SHOWN:
            zero = _ZERO_SHOWN[key]
            out[key] = copy.deepcopy(zero) if key in HOST_CONFIG_ZERO else zero
    out.update((key, value) for key, value in sent.items() if key not in out)
    return out


def to_summary(c: Container, eng: Any, version: versions.Version | None = None) -> dict[str, Any]:
    """A row of ``GET /containers/json`` (``eng``: the engine, for the published ports). Never fails
    for a stored container: a part that cannot be rendered is logged and left empty (one bad record
    must not break the list for every client)."""
    try:
        row = _summary(c, eng)
    except Exception:  # noqa: BLE001 - defensive rendering, see the docstring
        log.exception("container %s: list row rendered without its details", c.id[:12])
        row = _minimal_summary(c)
    return row if version is None else versions.container_summary(row, version)


def _minimal_summary(c: Container) -> dict[str, Any]:
    return {"Id": c.id, "Names": [c.name], "Image": c.config.image, "ImageID": c.image,
            "Command": " ".join([c.path, *(c.args or [])]).strip(), "Created": 0, "Ports": [],
            "Labels": c.config.labels or {}, "State": c.state.status, "Status": "",
            "HostConfig": {"NetworkMode": _network_mode(c)},
            "NetworkSettings": {"Networks": {}}, "Mounts": []}


def _summary(c: Container, eng: Any) -> dict[str, Any]:
    row = {
        "Id": c.id, "Names": [c.name], "Image": c.config.image, "ImageID": c.image,
        "Command": " ".join([c.path, *(c.args or [])]), "Created": int(parse_rfc3339(c.created)),
        "Ports": eng.networks.ps_ports(c), "Labels": c.config.labels or {}, "State": c.state.status,
        "Status": c.state.text(), "HostConfig": _summary_host_config(c),
        "NetworkSettings": {"Networks": c.network_settings.networks}, "Mounts": c.mounts or [],
        "Health": _health_summary(c.state.health),
    }
    if c.image_manifest_descriptor:
        row["ImageManifestDescriptor"] = c.image_manifest_descriptor
    return row


def _summary_host_config(c: Container) -> dict[str, Any]:
    out: dict[str, Any] = {"NetworkMode": _network_mode(c)}
    if c.host_config.annotations:
        out["Annotations"] = dict(c.host_config.annotations)
    return out


def _network_mode(c: Container) -> str:
    """The recorded ``NetworkMode``; ``default`` for a record that has none."""
    return c.host_config.network_mode if c.host_config.has("NetworkMode") else "default"


def _health_summary(health: dict[str, Any] | None) -> dict[str, Any]:
    """dockerd's HealthSummary: ``none`` for a container without a healthcheck."""
    health = health or {}
    return {"Status": health.get("Status") or "none", "FailingStreak": int(health.get("FailingStreak") or 0)}
