"""What the CRI knows of its pods and containers beyond containerd's records.

One JSON file per object under ``<root>/{sandboxes,containers}/<id>.json`` (0600): the
CRI config as the kubelet sent it (protobuf bytes, base64), the times of its transitions,
the pod's network namespace and addresses. Everything else (the spec, the snapshot, the
task) is containerd's, in the ``k8s.io`` namespace. A restarted dockyard-cri reads these
files back and finds its tasks again, so pods keep running across a kill -9.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from dockyard import errors
from dockyard.fsmode import open_private, private_dir


@dataclass
class SandboxRecord:
    id: str
    config: str  # PodSandboxConfig, serialized and base64
    created_at: int  # ns
    runtime_handler: str = ""
    netns: str = ""
    ip: str = ""
    additional_ips: list[str] = field(default_factory=list)
    pid: int = 0  # the pause process
    ready: bool = False
    network_up: bool = False


@dataclass
class ContainerRecord:
    id: str
    sandbox_id: str
    config: str  # ContainerConfig, serialized and base64
    image: str  # the name it was created from (as the kubelet gave it)
    image_ref: str  # the image's ID (config digest)
    created_at: int
    log_path: str = ""
    started_at: int = 0
    finished_at: int = 0
    exit_code: int = 0
    reason: str = ""
    message: str = ""
    pid: int = 0
    user: list[int] = field(default_factory=list)  # the process's uid, gid, then its groups (ContainerStatus.user)


R = TypeVar("R", SandboxRecord, ContainerRecord)


def encode(msg: Any) -> str:
    return base64.b64encode(msg.SerializeToString()).decode()


def decode(cls: type, text: str) -> Any:
    msg = cls()
    msg.ParseFromString(base64.b64decode(text))
    return msg


class Table(Generic[R]):
    """Records of one kind, in memory and on disk; every change is written through."""

    def __init__(self, root: Path, cls: type[R]) -> None:
        self.dir = private_dir(root)
        self.cls: type[R] = cls
        self.items: dict[str, R] = {}
        for path in self.dir.glob("*.json"):
            try:
                self.items[path.stem] = cls(**json.loads(path.read_text()))
            except (OSError, ValueError, TypeError):
                path.unlink(missing_ok=True)

    def save(self, rec: R) -> None:
        tmp = self.dir / f".{rec.id}.tmp"
        with open_private(tmp, "w") as f:
            json.dump(asdict(rec), f)
        os.replace(tmp, self.dir / f"{rec.id}.json")
        self.items[rec.id] = rec

    def delete(self, id: str) -> None:
        self.items.pop(id, None)
        (self.dir / f"{id}.json").unlink(missing_ok=True)

    def find(self, id: str, what: str) -> R:
        """By ID or unambiguous prefix (crictl passes short IDs)."""
        rec = self.items.get(id)
        if rec is not None:
            return rec
        matches = [r for k, r in self.items.items() if id and k.startswith(id)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise errors.InvalidArgument(f"{what} ID {id!r} is ambiguous")
        raise errors.NotFound(f"{what} {id!r} not found")
