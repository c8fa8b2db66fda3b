"""``buildx bake`` over the classic builder: the definition (JSON, as Compose v2 writes it, from
files or stdin) read and its targets resolved through groups, each target turned into one
``POST /build`` (its context tar with ``.dockerignore`` applied, parameters, secrets header), the
targets built at once, and the metadata file written as buildx writes it (per target the image
ID as ``containerimage.digest`` and the tags as ``image.name``), which Compose reads back."""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from dockyard import errors

if TYPE_CHECKING:
    from dockyard.buildcontext.tar import ContextTar

_VAR = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_IGNORED = {"cache-to": "cache export", "shm-size": "shm-size", "ulimits": "ulimits", "attest": "attestations",
            "entitlements": "entitlements"}
MULTI_PLATFORM = ("Multi-platform build is not supported for the docker driver.\n"
                  "Switch to a different driver, or turn on the containerd image store, and try again.")


def _interpolate(value: Any) -> Any:
    """Bake reads JSON as HCL: ``${NAME}`` is a variable (here: the environment's) and ``$${``
    a literal ``${`` (Compose escapes its values so)."""
    if isinstance(value, str):
        def var(m: re.Match[str]) -> str:
            if m[1] not in os.environ:
                raise errors.InvalidArgument(f"variable {m[1]!r} is not defined")
            return os.environ[m[1]]
        return _VAR.sub(var, value).replace("$${", "${")
    if isinstance(value, list):
        return [_interpolate(v) for v in value]
    if isinstance(value, dict):
        return {k: _interpolate(v) for k, v in value.items()}
    return value


def load_definition(files: list[str], stdin: IO[str]) -> dict[str, Any]:
    """The files' groups and targets, a later file's target keys over an earlier's."""
    merged: dict[str, Any] = {"group": {}, "target": {}}
    for name in files:
        try:
            text = stdin.read() if name == "-" else Path(name).read_text()
        except OSError as err:
            raise errors.InvalidArgument(f"failed to read {name}: {err.strerror}") from None
        try:
            doc = json.loads(text)
        except ValueError:
            raise errors.InvalidArgument(f"{name}: only JSON bake definitions are supported") from None
        if not isinstance(doc, dict):
            raise errors.InvalidArgument(f"{name}: a bake definition is a JSON object")
        for kind in ("group", "target"):
            for key, value in (doc.get(kind) or {}).items():
                _merge(merged[kind].setdefault(key, {}), value or {})
    return merged


def _merge(into: dict[str, Any], over: dict[str, Any]) -> None:
    """``over``'s keys into ``into``, maps (args, labels, ...) merged key by key, as bake merges."""
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            into[key] = {**into[key], **value}
        else:
            into[key] = value


def resolve(defn: dict[str, Any], names: list[str]) -> dict[str, dict[str, Any]]:
    """The targets ``names`` (or the ``default`` group) stand for, groups expanded, ``inherits`` applied."""
    out: dict[str, dict[str, Any]] = {}

    def visit(name: str, seen: tuple[str, ...]) -> None:
        if name in seen:
            raise errors.InvalidArgument(f"group or target {name!r} includes itself")
        if name in defn["group"]:
            for sub in defn["group"][name].get("targets") or []:
                visit(sub, (*seen, name))
        elif name in defn["target"]:
            out[name] = _interpolate(_inherited(defn, name, ()))
        else:
            raise errors.NotFound(f"failed to find target {name}")

    for name in names or ["default"]:
        visit(name, ())
    return out


def _inherited(defn: dict[str, Any], name: str, seen: tuple[str, ...]) -> dict[str, Any]:
    if name in seen:
        raise errors.InvalidArgument(f"target {name!r} inherits from itself")
    target = dict(defn["target"].get(name) or {})
    merged: dict[str, Any] = {}
    for parent in target.pop("inherits", None) or []:
        _merge(merged, _inherited(defn, parent, (*seen, name)))
    _merge(merged, target)
    return merged


class Request:
    """One target as a ``POST /build``: what to send and what to do after."""

    def __init__(self, name: str, root: Path, tags: list[str], context: ContextTar, dockerfile: str) -> None:
        self.name = name
        self.root = root
        self.tags = tags
        self.context = context  # the planned tar (a Dockerfile outside it, or inline, added)
        self.dockerfile = dockerfile
        self.params: dict[str, Any] = {}
        self.secrets: list[str] = []
        self.push = False
        self.warnings: list[str] = []


def request_for(name: str, t: dict[str, Any], no_cache: bool = False, pull: bool = False) -> Request:
    """Target ``t`` as a classic build request; what the classic builder cannot do is refused,
    what it would only leave out is a warning."""
    context = str(t.get("context") or ".")
    if "://" in context or context.startswith("git@"):
        raise errors.InvalidArgument(f"target {name}: remote contexts are not supported: {context}")
    if t.get("contexts"):
        raise errors.InvalidArgument(f"target {name}: additional contexts are not supported by the classic builder")
    if t.get("ssh"):
        raise errors.InvalidArgument(f"target {name}: ssh forwarding is not supported by the classic builder")
    if (t.get("call") or "build") != "build":
        raise errors.InvalidArgument(f"target {name}: --call={t['call']} is not supported")
    if len(t.get("platforms") or []) > 1:
        raise errors.InvalidArgument(MULTI_PLATFORM)
    root = Path(context).resolve()
    if not root.is_dir():
        raise errors.InvalidArgument(f"target {name}: unable to prepare context: path {context!r} not found")
    req = Request(name, root, [str(x) for x in t.get("tags") or []], *_context(name, root, t))
    req.push = _push(name, t.get("output") or [])
    req.secrets = [str(s) for s in t.get("secret") or []]
    req.params = {
        "t": req.tags or None, "dockerfile": req.dockerfile, "rm": True, "target": t.get("target") or None,
        "buildargs": json.dumps({k: v for k, v in (t.get("args") or {}).items() if v is not None}) or None,
        "labels": json.dumps({k: v or "" for k, v in (t.get("labels") or {}).items()}) if t.get("labels") else None,
        "nocache": (no_cache or bool(t.get("no-cache"))) or None, "pull": (pull or bool(t.get("pull"))) or None,
        "cachefrom": json.dumps(_cache_from(t.get("cache-from") or [])) if t.get("cache-from") else None,
        "platform": (t.get("platforms") or [None])[0],
        "networkmode": t["network"] if t.get("network") not in (None, "", "default") else None,
        "extrahosts": [f"{h}:{ip}" for h, ips in (t.get("extra-hosts") or {}).items()
                       for ip in str(ips).split(",") if ip] or None}
    req.warnings = [f"target {name}: {what} is not supported by the classic builder, left out"
                    for key, what in _IGNORED.items() if t.get(key)]
    return req


def _context(name: str, root: Path, t: dict[str, Any]) -> tuple[ContextTar, str]:
    """The context planned, and the Dockerfile's name in it; one outside it, or inline, travels as an
    extra file."""
    from dockyard.buildcontext.send import make_context

    inline = t.get("dockerfile-inline")
    try:
        return make_context(root, Path(str(t.get("dockerfile") or "Dockerfile")),
                            str(inline).encode() if inline else None)
    except errors.InvalidArgument as err:
        raise errors.InvalidArgument(f"target {name}: {err}") from None


def _push(name: str, outputs: list[str]) -> bool:
    push = False
    for spec in outputs:
        fields = dict(f.partition("=")[::2] for f in str(spec).split(",") if f)
        kind = fields.get("type", "")
        if kind == "registry" or (kind == "image" and fields.get("push") == "true"):
            push = True
        elif kind not in ("docker", "image", "cacheonly"):
            raise errors.InvalidArgument(f"target {name}: output type {kind!r} is not supported")
    return push


def _cache_from(entries: list[str]) -> list[str]:
    refs = []
    for entry in entries:
        fields = dict(f.partition("=")[::2] for f in str(entry).split(",") if f)
        if "type" not in fields and "ref" not in fields:
            refs.append(str(entry))
        elif fields.get("type", "registry") == "registry" and fields.get("ref"):
            refs.append(fields["ref"])
    return refs


def metadata_of(image_id: str, tags: list[str]) -> dict[str, str]:
    """One build's entry of buildx's ``--metadata-file``."""
    return {"containerimage.config.digest": image_id, "containerimage.digest": image_id, "image.name": ",".join(tags)}


def write_metadata(path: str, results: dict[str, tuple[str, list[str]]]) -> None:
    """bake's ``--metadata-file``: per target its image ID and names."""
    write_json(path, {name: metadata_of(image_id, tags) for name, (image_id, tags) in results.items()})


def write_json(path: str, doc: dict[str, Any]) -> None:
    """``doc`` as indented JSON at ``path``, written whole by a rename."""
    tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
    Path(tmp).write_text(json.dumps(doc, indent=2) + "\n")
    os.replace(tmp, path)
