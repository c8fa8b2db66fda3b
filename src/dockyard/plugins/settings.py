"""A managed plugin's settings and ``docker plugin set``, as dockerd keeps and changes them.

Settings start as the config's: ``Env`` (``NAME=VALUE``), ``Args`` (the config's ``Args.Value``),
``Mounts`` and ``Devices`` (copies of ``Mounts`` and ``Linux.Devices``). ``set`` takes
``NAME[.FIELD]=VALUE`` for an entry the config marks settable: an Env value (``DEBUG=1``), a mount's
source (``mymount.source=/data``), a device's path (``mydevice.path=/dev/fuse``), or the args
(``myargs=-v --fast``: split at spaces). FIELD may be left out when the entry has one settable field.
A mount's source and a device's path change in the config too, as dockerd's shared entries do.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dockyard import errors

ALLOWED = {"env": ("value",), "args": ("value",), "devices": ("path",), "mounts": ("source",)}


def initial(cfg: dict[str, Any]) -> dict[str, Any]:
    return {"Mounts": copy.deepcopy(cfg.get("Mounts") or []),
            "Devices": copy.deepcopy((cfg.get("Linux") or {}).get("Devices") or []),
            "Env": [f"{e['Name']}={e.get('Value') or ''}" for e in cfg.get("Env") or []],
            "Args": list((cfg.get("Args") or {}).get("Value") or [])}


@dataclass
class Setting:
    name: str
    field: str
    value: str

    @classmethod
    def parse(cls, arg: str) -> Setting:
        name, eq, value = arg.partition("=")
        if not name:
            raise errors.InvalidArgument("invalid format, must be <name>[.<field>][=<value>]")
        field = ""
        if name.rfind(".") > 0:
            name, _, field = name.rpartition(".")
        return cls(name, field, value if eq else "")

    def pretty(self) -> str:
        return f"{self.name}.{self.field}" if self.field else self.name

    def check(self, kind: str, settable: Sequence[str] | None) -> None:
        """The field named (or the entry's only settable one) must be settable and allowed for ``kind``."""
        settable = list(settable or [])
        field = self.field
        if not field and len(settable) > 1:
            raise errors.InvalidArgument("multiple fields are settable, one must be specified")
        if not field and settable:
            field = settable[0]
        if field not in ALLOWED[kind] or field not in settable:
            raise errors.InvalidArgument(f"{self.pretty()!r} is not settable")


def apply(p: dict[str, Any], args: Sequence[str]) -> None:
    """``args`` applied to the plugin record ``p`` (all or none: ``p`` is changed only if every one holds)."""
    cfg, settings = copy.deepcopy(p["Config"]), copy.deepcopy(p["Settings"])
    if not settings.get("Mounts") and cfg.get("Mounts"):  # a record from before settings copied the config's
        settings["Mounts"] = copy.deepcopy(cfg["Mounts"])
    if not settings.get("Devices") and (cfg.get("Linux") or {}).get("Devices"):
        settings["Devices"] = copy.deepcopy(cfg["Linux"]["Devices"])
    for s in map(Setting.parse, args):
        _apply_one(cfg, settings, s)
    p["Config"], p["Settings"] = cfg, settings


def _apply_one(cfg: dict[str, Any], settings: dict[str, Any], s: Setting) -> None:
    for env in cfg.get("Env") or []:
        if env.get("Name") == s.name:
            s.check("env", env.get("Settable"))
            for i, e in enumerate(settings["Env"]):
                if e.partition("=")[0] == s.name:
                    settings["Env"][i] = f"{s.name}={s.value}"
                    return
            settings["Env"].append(f"{s.name}={s.value}")
            return
    for key, kind, field in (("Mounts", "mounts", "Source"), ("Devices", "devices", "Path")):
        entries = cfg.get(key) if key == "Mounts" else (cfg.get("Linux") or {}).get(key)
        for i, entry in enumerate(entries or []):
            if entry.get("Name") == s.name:
                s.check(kind, entry.get("Settable"))
                entry[field] = s.value
                settings[key][i][field] = s.value
                return
    args = cfg.get("Args") or {}
    if args.get("Name") and args["Name"] == s.name:
        s.check("args", args.get("Settable"))
        settings["Args"] = s.value.split(" ")
        return
    raise errors.InvalidArgument(f"setting {s.name!r} not found in the plugin configuration")
