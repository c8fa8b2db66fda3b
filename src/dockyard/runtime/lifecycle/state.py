"""``state`` and ``list``: computed status, never the stale one on disk."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

from ..container import State, list_ids


def state(root: str, container_id: str) -> dict[str, Any]:
    return State.load(root, container_id).oci_state(root)


def list_containers(root: str) -> list[dict[str, Any]]:
    out = []
    for cid in list_ids(root):
        try:
            out.append(State.load(root, cid).oci_state(root))
        except Exception:  # noqa: BLE001 - a half-deleted container must not break `list`
            continue
    return out
