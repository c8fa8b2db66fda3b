"""Small frozen value types shared by every layer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Descriptor:
    """An OCI content descriptor: what a blob is, by digest and size."""

    media_type: str
    digest: str
    size: int
    annotations: dict[str, str] = field(default_factory=dict)
    platform: dict[str, Any] | None = None

    def to_oci(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.platform:
            out["platform"] = dict(self.platform)
        return out

    @classmethod
    def from_oci(cls, d: dict[str, Any]) -> Descriptor:
        return cls(
            media_type=d.get("mediaType", ""),
            digest=d["digest"],
            size=int(d["size"]),
            annotations=dict(d.get("annotations") or {}),
            platform=d.get("platform"),
        )


@dataclass(frozen=True)
class Mount:
    """A mount to perform, as snapshotters return it (containerd's mount.Mount)."""

    type: str
    source: str
    options: tuple[str, ...] = ()
    target: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "source": self.source, "options": list(self.options), "target": self.target}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Mount:
        return cls(type=d["type"], source=d["source"], options=tuple(d.get("options") or ()), target=d.get("target", ""))
