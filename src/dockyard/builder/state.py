"""A build's data: its options, the image state each step turns into the next, and the names
every step uses (the classic builder's wording, the default shell, the layer format)."""

from __future__ import annotations

import hashlib
import platform
from dataclasses import dataclass, field
from typing import Any

from dockyard import errors
from dockyard.oci import image as oci_image
from dockyard.timefmt import rfc3339

DEFAULT_SHELL = ["/bin/sh", "-c"]
DANGLING = "moby-dangling@"
# Build layers are stored as plain tars, as Docker's image store keeps them: compressing a
# 20 MB COPY costs more than the rest of its step, and a build is read back locally (the next
# RUN's snapshot, `save`, `run`) far more often than it is pushed. A plain layer is a valid OCI
# layer (application/vnd.oci.image.layer.v1.tar), so push, save and load take it as it is.
LAYER_COMPRESSION = "none"



@dataclass
class BuildOptions:
    dockerfile: str = "Dockerfile"
    tags: list[str] = field(default_factory=list)
    build_args: dict[str, str | None] = field(default_factory=dict)
    no_cache: bool = False
    pull: bool = False
    target: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    cache_from: list[str] = field(default_factory=list)
    platform: str = ""
    remove: bool = True  # ``rm``: a RUN's container removed once the step succeeded (keep.py)
    force_remove: bool = False  # ``forcerm``: removed whatever the step did
    network_mode: str = ""  # the RUN containers' HostConfig.NetworkMode ("" is the default bridge)
    extra_hosts: list[str] = field(default_factory=list)  # "host:ip", added to their /etc/hosts
    squash: bool = False  # an experimental daemon's --squash (``squash``)
    # the RUN containers' resources, a HostConfig fragment (memory, memswap, cpu*, cgroupparent, shmsize,
    # ulimits), as dockerd's hostConfigFromOptions gives them: applied to each RUN, kept by rm=false's records
    resources: dict[str, Any] = field(default_factory=dict)



@dataclass
class State:
    """An image state: the OCI config document and the layer descriptors under it."""

    config: dict[str, Any]
    layers: list[dict[str, Any]]
    id: str = ""

    @property
    def cfg(self) -> dict[str, Any]:
        return self.config.setdefault("config", {})

    @property
    def chain_id(self) -> str:
        return oci_image.chain_id(self.config.get("rootfs", {}).get("diff_ids", []))


class BuildFailed(errors.InvalidArgument):
    """A step failed; the message is what the client shows (Docker's wording where it has one)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def now() -> str:
    return rfc3339()


def arch() -> str:
    """The host's architecture in OCI's words (amd64, arm64, ...)."""
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


def digest(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode() if isinstance(p, str) else p)
        h.update(b"\0")
    return h.hexdigest()


def short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


def df_name(opts: BuildOptions) -> str:
    return opts.dockerfile or "Dockerfile"


def manifest(state: State) -> bytes:
    """The OCI manifest of ``state`` (its config and layers), canonical JSON."""
    return oci_image.canonical_json({
        "schemaVersion": 2, "mediaType": oci_image.MEDIA_TYPE_OCI_MANIFEST,
        "config": {"mediaType": oci_image.MEDIA_TYPE_OCI_CONFIG, "digest": state.id,
                   "size": len(oci_image.canonical_json(state.config))},
        "layers": state.layers})
