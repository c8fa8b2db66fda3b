"""The short and long syntaxes of the Compose Specification, and conversions between them.

Pure functions on plain data; ``normalize`` uses them to give every service the long form that
``config`` prints, ``merge`` to merge a short entry with a long one.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from typing import Any

from dockyard import errors


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _scalar(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def to_mapping(value: Any, path: str = "", sep: str = "=") -> dict[str, str | None]:
    """``[A=1, B]`` or ``{A: 1, B: null}`` as ``{"A": "1", "B": None}``; values as strings."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return {str(k): _scalar(v) for k, v in value.items()}
    out: dict[str, str | None] = {}
    for item in as_list(value):
        text = str(item)
        if path.endswith("extra_hosts"):
            key, found, val = text.partition("=")
            if not found:
                key, found, val = text.partition(":")
            out[key] = val
            continue
        key, found, val = text.partition(sep)
        out[key] = val if found else None
    return out


def from_env(items: list[str], environ: Mapping[str, str]) -> dict[str, str]:
    """``KEY=VALUE`` flags (``-e``, ``--build-arg``) as a mapping; ``KEY`` alone takes its value from
    ``environ``, and is left out without one."""
    out = {}
    for item in items:
        key, eq, value = item.partition("=")
        if eq:
            out[key] = value
        elif key in environ:
            out[key] = environ[key]
    return out


def build_dict(value: Any) -> dict[str, Any]:
    return {"context": value} if isinstance(value, str) else dict(value or {})


def depends_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return {k: {"condition": "service_started", "required": True, **(v or {})} for k, v in value.items()}
    return {name: {"condition": "service_started", "required": True} for name in as_list(value)}


def networks_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return dict(value)
    return {name: None for name in as_list(value)}


def command_list(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, list):
        return [str(v) for v in value]
    return shlex.split(str(value))


# --- ports ---------------------------------------------------------------------------------------

_PORT = re.compile(r"^(?:(?:(?P<ip>\[[^\]]*\]|[^:\[\]]*):)?(?P<published>[0-9]*(?:-[0-9]+)?)?:)?"
                   r"(?P<target>[0-9]+(?:-[0-9]+)?)(?:/(?P<proto>[a-z]+))?$")


def _range(text: str) -> list[int]:
    if "-" in text:
        lo, hi = text.split("-", 1)
        return list(range(int(lo), int(hi) + 1))
    return [int(text)]


def ports_long(value: Any) -> list[dict[str, Any]]:
    """Every port entry in long form, a short range expanded to one entry per port."""
    out: list[dict[str, Any]] = []
    for item in as_list(value):
        if isinstance(item, dict):
            entry = {"mode": item.get("mode", "ingress")}
            if item.get("name"):
                entry["name"] = item["name"]
            if item.get("host_ip"):
                entry["host_ip"] = item["host_ip"]
            entry["target"] = int(item["target"])
            if item.get("published") not in (None, ""):
                entry["published"] = str(item["published"])
            entry["protocol"] = item.get("protocol", "tcp")
            if item.get("app_protocol"):
                entry["app_protocol"] = item["app_protocol"]
            out.append(entry)
            continue
        out.extend(_port_short(str(item)))
    return out


def _port_short(text: str) -> list[dict[str, Any]]:
    m = _PORT.match(text)
    if m is None:
        raise errors.InvalidArgument(f"invalid port {text!r}")
    ip = (m.group("ip") or "").strip("[]")
    targets = _range(m.group("target"))
    published = m.group("published") or ""
    pubs = _range(published) if published else []
    if pubs and len(pubs) != len(targets):
        if len(targets) == 1:
            return [_port_entry(ip, f"{pubs[0]}-{pubs[-1]}", targets[0], m.group("proto"))]
        raise errors.InvalidArgument(f"invalid port {text!r}: published and target ranges differ in size")
    return [_port_entry(ip, str(pubs[i]) if pubs else "", t, m.group("proto")) for i, t in enumerate(targets)]


def _port_entry(ip: str, published: str, target: int, proto: str | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"mode": "ingress"}
    if ip:
        entry["host_ip"] = ip
    entry["target"] = target
    if published:
        entry["published"] = published
    entry["protocol"] = proto or "tcp"
    return entry


# --- volumes -------------------------------------------------------------------------------------

def split_volume(text: str) -> tuple[str, str, str]:
    """``source:target:mode`` (each part optional but target), Windows drive letters aside."""
    parts = text.split(":")
    if len(parts) == 1:
        return "", parts[0], ""
    if len(parts) == 2:
        if parts[1] in ("ro", "rw", "z", "Z") or parts[1].startswith("ro,") or parts[1].startswith("rw,"):
            return "", parts[0], parts[1]
        return parts[0], parts[1], ""
    return parts[0], parts[1], ":".join(parts[2:])


def is_path(source: str) -> bool:
    return source.startswith((".", "/", "~")) or source == ""


def volume_long(item: Any) -> dict[str, Any]:
    if isinstance(item, dict):
        return dict(item)
    source, target, mode = split_volume(str(item))
    entry: dict[str, Any] = {}
    if not source:
        entry.update(type="volume", target=target, volume={})
    elif is_path(source):
        entry.update(type="bind", source=source, target=target)
    else:
        entry.update(type="volume", source=source, target=target)
    opts = [o for o in mode.split(",") if o]
    if "ro" in opts:
        entry["read_only"] = True
    if entry["type"] == "bind":
        bind: dict[str, Any] = {"create_host_path": True}
        selinux = next((o for o in opts if o in ("z", "Z")), None)
        if selinux:
            bind["selinux"] = selinux
        propagation = next((o for o in opts if o in ("shared", "rshared", "slave", "rslave", "private",
                                                     "rprivate")), None)
        if propagation:
            bind["propagation"] = propagation
        entry["bind"] = bind
    elif "nocopy" in opts:
        entry["volume"] = {"nocopy": True}
    elif entry["type"] == "volume":
        entry.setdefault("volume", {})
    return entry


# --- units ---------------------------------------------------------------------------------------

_UNITS = {"b": 1, "k": 1 << 10, "kb": 1 << 10, "m": 1 << 20, "mb": 1 << 20, "g": 1 << 30, "gb": 1 << 30,
          "t": 1 << 40, "tb": 1 << 40}


def bytes_value(value: Any) -> int:
    """``512m``, ``1gb``, ``1000`` as bytes (go-units RAMInBytes: binary multiples)."""
    if isinstance(value, (int, float)):
        return int(value)
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*", str(value))
    if m is None or m.group(2).lower() not in _UNITS and m.group(2):
        raise errors.InvalidArgument(f"invalid size: {value!r}")
    return int(float(m.group(1)) * _UNITS.get(m.group(2).lower(), 1))


_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def duration_seconds(value: Any) -> float:
    """Go's ``time.ParseDuration`` (``1m30s``, ``500ms``); a bare number is seconds."""
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    if re.fullmatch(r"[0-9]+(?:\.[0-9]+)?", text):
        return float(text)
    parts = re.findall(r"([0-9]+(?:\.[0-9]*)?)(ns|us|µs|ms|s|m|h)", text)
    if not parts or "".join(a + b for a, b in parts) != text.lstrip("+"):
        raise errors.InvalidArgument(f"invalid duration: {value!r}")
    return sum(float(n) * _DURATION_UNITS[u] for n, u in parts)


def go_duration(seconds: float) -> str:
    """Go's ``time.Duration.String``: ``1m30s``, ``500ms``, ``1h0m0s``."""
    ns = round(seconds * 1e9)
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size:
                return sign + _trim(ns / size) + unit
    h, rem = divmod(ns, 3600 * 10**9)
    m, rem = divmod(rem, 60 * 10**9)
    s = _trim(rem / 1e9) + "s"
    if h:
        return f"{sign}{h}h{m}m{s}"
    if m:
        return f"{sign}{m}m{s}"
    return sign + s


def _trim(x: float) -> str:
    text = f"{x:.9f}".rstrip("0").rstrip(".")
    return text or "0"
