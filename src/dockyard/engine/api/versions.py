"""What the API version of a request changes in an answer, as dockerd answers each version.

Routes build one answer (the current API's) and pass it through these functions with
``version_of(request)``; each rule names the version that brought it (moby's API changelog).
"""

from __future__ import annotations

import json
from typing import Any

Version = tuple[int, int]

# NetworkSettings fields dropped in 1.52 (deprecated since 1.21; the first eight mirrored the bridge endpoint).
LEGACY_NETWORK_SETTINGS = ("Bridge", "HairpinMode", "LinkLocalIPv6Address", "LinkLocalIPv6PrefixLen",
                           "SecondaryIPAddresses", "SecondaryIPv6Addresses", "EndpointID", "Gateway",
                           "GlobalIPv6Address", "GlobalIPv6PrefixLen", "IPAddress", "IPPrefixLen", "IPv6Gateway",
                           "MacAddress")
# Image config fields 1.52 leaves out when unset (the OCI image spec's omitempty ones).
OMITTED_IMAGE_CONFIG = ("Cmd", "Entrypoint", "Env", "Labels", "OnBuild", "User", "Volumes", "WorkingDir")
OMITTED_IMAGE_FIELDS = ("Parent", "Comment", "DockerVersion", "Author")

JSON = "application/json"
JSON_LINES = "application/jsonl"
NDJSON = "application/x-ndjson"
JSON_SEQ = "application/json-seq"
EVENT_TYPES = (JSON_LINES, NDJSON, JSON_SEQ)


def container_summary(row: dict[str, Any], version: Version) -> dict[str, Any]:
    """A ``GET /containers/json`` row: ``HostConfig.Annotations`` from 1.46, ``ImageManifestDescriptor``
    from 1.48, ``Health`` from 1.52."""
    if version < (1, 46):
        row["HostConfig"].pop("Annotations", None)
    if version < (1, 48):
        row.pop("ImageManifestDescriptor", None)
    if version < (1, 52):
        row.pop("Health", None)
    return row


def container_inspect(c: dict[str, Any], version: Version) -> dict[str, Any]:
    """``GET /containers/{id}/json``: from 1.52 without the legacy top-level NetworkSettings fields,
    ``Config.MacAddress``, an empty ``Config.OnBuild``, and with ``Storage`` in place of ``GraphDriver``
    (the snapshotter's name); before 1.48 without ``ImageManifestDescriptor``."""
    out = dict(c)
    if version < (1, 48):
        out.pop("ImageManifestDescriptor", None)
    if version < (1, 52):
        return out
    out["NetworkSettings"] = {k: v for k, v in (c.get("NetworkSettings") or {}).items()
                              if k not in LEGACY_NETWORK_SETTINGS}
    config = dict(c.get("Config") or {})
    config.pop("MacAddress", None)
    if not config.get("OnBuild"):
        config.pop("OnBuild", None)
    out["Config"] = config
    driver = out.pop("GraphDriver", None) or {}
    out["Storage"] = {"RootFS": {"Snapshot": {"Name": driver.get("Name") or c.get("Driver") or "overlayfs"}}}
    return out


def info(doc: dict[str, Any], version: Version) -> dict[str, Any]:
    """``GET /info``: the commits' ``Expected`` (= ``ID``) and ``RegistryConfig``'s
    ``AllowNondistributableArtifacts*`` only before 1.49; ``BridgeNfIp*tables`` only before 1.50;
    ``KernelMemoryTCP`` only before 1.52."""
    out = dict(doc)
    if version < (1, 49):
        for key in ("ContainerdCommit", "RuncCommit", "InitCommit"):
            out[key] = {**out[key], "Expected": out[key].get("ID", "")}
    else:
        out["RegistryConfig"] = {k: v for k, v in out["RegistryConfig"].items()
                                 if not k.startswith("AllowNondistributableArtifacts")}
    if version >= (1, 50):
        out.pop("BridgeNfIptables", None)
        out.pop("BridgeNfIp6tables", None)
    if version >= (1, 52):
        out.pop("KernelMemoryTCP", None)
    return out


def image_inspect(doc: dict[str, Any], version: Version) -> dict[str, Any]:
    """``GET /images/{name}/json``: ``Descriptor`` and ``Manifests`` from 1.48; from 1.52 the unset
    ``Config`` fields and an empty ``Parent``, ``Comment``, ``DockerVersion``, ``Author`` are left out."""
    out = dict(doc)
    if version < (1, 48):
        out.pop("Descriptor", None)
        out.pop("Manifests", None)
    if version < (1, 52):
        return out
    for key in OMITTED_IMAGE_FIELDS:
        if not out.get(key):
            out.pop(key, None)
    out["Config"] = {k: v for k, v in (out.get("Config") or {}).items()
                     if k not in OMITTED_IMAGE_CONFIG or v}
    return out


def event(ev: dict[str, Any], version: Version) -> dict[str, Any] | None:
    """An event as the version sees it: ``None`` for one it does not know (image ``create``, 1.46);
    before 1.52 with the legacy ``status``, ``id`` and ``from`` fields (removed in 1.22, sent until 1.52)."""
    if version < (1, 46) and ev.get("Type") == "image" and ev.get("Action") == "create":
        return None
    if version >= (1, 52):
        return {k: v for k, v in ev.items() if k not in ("status", "id", "from")}
    return ev


def _accepted(accept: str) -> list[tuple[float, int, str]]:
    out = []
    for i, part in enumerate(p for p in accept.split(",") if p.strip()):
        media, *params = (x.strip() for x in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        out.append((q, i, media.lower()))
    return out


def events_content_type(accept: str, version: Version) -> str:
    """The stream type of ``GET /events``: the best of JSON Lines, NDJSON and JSON text sequences the
    ``Accept`` header names exactly (no wildcards), else JSON Lines (``application/json`` before 1.52)."""
    candidates = [(-q, i, media) for q, i, media in _accepted(accept) if media in EVENT_TYPES and q > 0]
    if candidates:
        return min(candidates)[2]
    return JSON_LINES if version >= (1, 52) else JSON


def encode_event(ev: dict[str, Any], content_type: str) -> bytes:
    """One record of the stream: RFC 7464 puts a record separator before each JSON text."""
    record = json.dumps(ev).encode() + b"\n"
    return b"\x1e" + record if content_type == JSON_SEQ else record
