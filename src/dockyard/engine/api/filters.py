"""The ``filters`` query parameter, parsed once for every list and prune endpoint, as dockerd parses it.

The wire form is ``{"key": {"value": true}}``; older clients send ``{"key": ["value"]}``. Anything else
(``[1,2]``, ``{"key": "value"}``, values that are not strings) is a 400 ``invalid filter``. Each endpoint
names the keys it accepts (dockerd's tables); an unknown key is a 400 ``invalid filter 'key'``.
"""

from __future__ import annotations

import json

from aiohttp import web

from dockyard import errors

Filters = dict[str, list[str]]

CONTAINERS = frozenset({"ancestor", "before", "exited", "id", "isolation", "label", "name", "status", "health",
                        "since", "volume", "network", "is-task", "publish", "expose"})
CONTAINER_PRUNE = frozenset({"label", "label!", "until"})
IMAGES = frozenset({"dangling", "label", "label!", "before", "since", "reference", "until"})
IMAGE_PRUNE = frozenset({"dangling", "label", "label!", "until"})
NETWORKS = frozenset({"dangling", "driver", "id", "label", "name", "scope", "type"})
NETWORK_PRUNE = frozenset({"label", "label!", "until"})
VOLUMES = frozenset({"dangling", "name", "driver", "label"})
VOLUME_PRUNE = frozenset({"label", "label!", "all"})
PLUGINS = frozenset({"capability", "enabled", "enable"})  # "enabled" as dockerd reads it; "enable" also
ANY: frozenset[str] = frozenset()  # /events: dockerd checks no keys there


class InvalidFilter(errors.InvalidArgument):
    def __init__(self, key: str = "", values: list[str] | None = None) -> None:
        msg = "invalid filter"
        if key:
            msg += f" '{key}" + (f"=[{' '.join(values)}]" if values is not None else "") + "'"
        super().__init__(msg)


def parse(raw: str | None, accepted: frozenset[str] = ANY) -> Filters:
    """``raw`` (the query value) as ``{key: [values]}``; keys checked against ``accepted`` unless it is ANY."""
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidFilter() from None
    if not isinstance(data, dict):
        raise InvalidFilter()
    out: Filters = {}
    for key, values in data.items():
        if isinstance(values, dict) and all(isinstance(v, bool) for v in values.values()):
            out[key] = list(values)
        elif isinstance(values, list) and all(isinstance(v, str) for v in values):
            out[key] = list(dict.fromkeys(values))
        elif values is None:
            out[key] = []
        else:
            raise InvalidFilter()
    if accepted is not ANY:
        for key in out:
            if key not in accepted:
                raise InvalidFilter(key)
    return out


def of(request: web.Request, accepted: frozenset[str] = ANY) -> Filters:
    return parse(request.query.get("filters"), accepted)


def boolean(filters: Filters, key: str) -> bool | None:
    """A boolean filter (``dangling``, ``all``): None when absent; 400 when neither or both."""
    if key not in filters:
        return None
    values = set(filters[key])
    false, true = bool(values & {"0", "false"}), bool(values & {"1", "true"})
    if false == true:
        raise InvalidFilter(key, filters[key])
    return true


def labels_match(labels: dict[str, str] | None, specs: list[str]) -> bool:
    """Every ``key`` or ``key=value`` of ``specs`` present in ``labels`` (dockerd's MatchKVList)."""
    labels = labels or {}
    for spec in specs:
        k, sep, v = spec.partition("=")
        if k not in labels or (sep and labels[k] != v):
            return False
    return True


def labels_none(labels: dict[str, str] | None, specs: list[str]) -> bool:
    """``label!``: no spec of ``specs`` matches ``labels``."""
    return not any(labels_match(labels, [s]) for s in specs)
