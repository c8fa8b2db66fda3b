"""The instructions that change only the image config (moby's dispatchers of the same names):
ENV, LABEL, CMD, ENTRYPOINT, SHELL, WORKDIR, USER, STOPSIGNAL, MAINTAINER, EXPOSE, VOLUME,
HEALTHCHECK and ONBUILD, one small function each; and ARG, which changes only the build's
args. Each is a cached step with an empty layer, but WORKDIR, which adds a layer of its
directory when the parent state lacks it."""

from __future__ import annotations

import copy
import json
import posixpath
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dockyard.builder import instructions as ins
from dockyard.builder.context import FileTree
from dockyard.builder.layers import sha256, tar_parts
from dockyard.builder.parser import ParseError
from dockyard.builder.state import DEFAULT_SHELL, State, df_name

if TYPE_CHECKING:
    from dockyard.builder.build import Build


def arg(b: Build, inst: ins.Arg, env: dict[str, str], args: dict[str, str]) -> None:
    """ARG: the value given with ``--build-arg``, else its default, else the global ARG's."""
    for k, default in inst.args:
        if k in b.opts.build_args:
            b.used_args.add(k)
            v = b.opts.build_args[k]
            args[k] = v if v is not None else b.x(default or "", env, inst.line)
        elif default is not None:
            args[k] = b.x(default, env, inst.line)
        elif k in b.meta:
            args[k] = b.meta[k]
        else:
            args[k] = ""


@dataclass


class _Step:
    """One metadata instruction as its handler sees it."""

    inst: ins.Instruction
    x: Callable[[str], str]  # expands a word with the step's environment
    df: str  # the Dockerfile's name, for errors
    own_cmd: bool  # the stage set a CMD of its own (ENTRYPOINT then keeps it)
    author: str = ""  # MAINTAINER's: the config's "author"

    def fail(self, problem: str) -> ParseError:
        return ParseError(problem, self.inst.line, self.inst.line, self.df)


def _pairs(s: _Step) -> list[tuple[str, str]]:
    assert isinstance(s.inst, ins.KeyValues)
    return [(s.x(k), s.x(v)) for k, v in s.inst.pairs]


def _key_values(s: _Step, pairs: list[tuple[str, str]]) -> str:
    return f"{s.inst.name.upper()} " + " ".join(f"{k}={v}" for k, v in pairs)


def _env(cfg: dict[str, Any], s: _Step) -> str:
    pairs = _pairs(s)
    cur = list(cfg.get("Env") or [])
    for k, v in pairs:
        cur = [e for e in cur if e.partition("=")[0] != k] + [f"{k}={v}"]
    cfg["Env"] = cur
    return _key_values(s, pairs)


def _label(cfg: dict[str, Any], s: _Step) -> str:
    pairs = _pairs(s)
    cfg["Labels"] = {**(cfg.get("Labels") or {}), **dict(pairs)}
    return _key_values(s, pairs)


def _argv(cfg: dict[str, Any], s: _Step) -> list[str]:
    """A CMD's or ENTRYPOINT's argv: the shell form runs in the config's SHELL."""
    assert isinstance(s.inst, ins.CmdLike)
    return list(cfg.get("Shell") or DEFAULT_SHELL) + s.inst.cmd if s.inst.shell_form else list(s.inst.cmd)


def _cmd(cfg: dict[str, Any], s: _Step) -> str:
    cfg["Cmd"] = _argv(cfg, s)
    return f"CMD {json.dumps(cfg['Cmd'])}"


def _entrypoint(cfg: dict[str, Any], s: _Step) -> str:
    cfg["Entrypoint"] = argv = _argv(cfg, s)
    if "Cmd" in cfg and not s.own_cmd:
        cfg["Cmd"] = None  # only an inherited CMD is reset, as Docker does
    return f"ENTRYPOINT {json.dumps(argv)}"


def _shell(cfg: dict[str, Any], s: _Step) -> str:
    assert isinstance(s.inst, ins.CmdLike)
    cfg["Shell"] = list(s.inst.cmd)
    return f"SHELL {json.dumps(cfg['Shell'])}"


def _words(s: _Step) -> list[str]:
    assert isinstance(s.inst, ins.Words)
    return [s.x(a) for a in s.inst.args]


def _said(s: _Step, vals: list[str]) -> str:
    return f"{s.inst.name.upper()} {' '.join(vals)}"


def _workdir(cfg: dict[str, Any], s: _Step) -> str:
    vals = _words(s)
    wd = vals[0]
    if not wd.startswith("/"):
        wd = posixpath.join(cfg.get("WorkingDir") or "/", wd)
    cfg["WorkingDir"] = posixpath.normpath(wd)
    return _said(s, vals)


def _setter(key: str) -> Callable[[dict[str, Any], _Step], str]:
    """USER, STOPSIGNAL: one word into one config field."""
    def handle(cfg: dict[str, Any], s: _Step) -> str:
        vals = _words(s)
        cfg[key] = vals[0]
        return _said(s, vals)
    return handle


def _maintainer(cfg: dict[str, Any], s: _Step) -> str:
    assert isinstance(s.inst, ins.Words)
    s.author = " ".join(s.inst.args)
    return _said(s, _words(s))


def _expose(cfg: dict[str, Any], s: _Step) -> str:
    vals = _words(s)
    ports = dict(cfg.get("ExposedPorts") or {})
    for v in " ".join(vals).split():
        ports[v if "/" in v else f"{v}/tcp"] = {}
    cfg["ExposedPorts"] = ports
    return _said(s, vals)


def _volume(cfg: dict[str, Any], s: _Step) -> str:
    vals = _words(s)
    vols = dict(cfg.get("Volumes") or {})
    for v in vals:
        if not v.strip():
            raise s.fail("VOLUME specified can not be an empty string")
        vols[v] = {}
    cfg["Volumes"] = vols
    return _said(s, vals)


def _healthcheck(cfg: dict[str, Any], s: _Step) -> str:
    assert isinstance(s.inst, ins.Healthcheck)
    flags = s.inst.flags
    hc: dict[str, Any] = {"Test": s.inst.test}
    for flag, key in (("interval", "Interval"), ("timeout", "Timeout"), ("start-period", "StartPeriod"),
                      ("start-interval", "StartInterval")):
        if flags.get(flag):
            hc[key] = ins.parse_duration(flags[flag])
    if flags.get("retries"):
        hc["Retries"] = int(flags["retries"])
    cfg["Healthcheck"] = hc
    return f"HEALTHCHECK {json.dumps(hc)}"


def _onbuild(cfg: dict[str, Any], s: _Step) -> str:
    assert isinstance(s.inst, ins.Onbuild)
    cfg["OnBuild"] = list(cfg.get("OnBuild") or []) + [s.inst.expression]
    return f"ONBUILD {s.inst.expression}"


# instruction -> handler: changes the config, returns the text of its history entry
HANDLERS: dict[str, Callable[[dict[str, Any], _Step], str]] = {
    "env": _env, "label": _label, "cmd": _cmd, "entrypoint": _entrypoint, "shell": _shell,
    "workdir": _workdir, "user": _setter("User"), "stopsignal": _setter("StopSignal"),
    "maintainer": _maintainer, "expose": _expose, "volume": _volume, "healthcheck": _healthcheck,
    "onbuild": _onbuild,
}


async def apply(b: Build, state: State, inst: ins.Instruction, env: dict[str, str], stage: ins.Stage) -> State:
    """A metadata instruction as a cached step: the next state has the changed config."""
    name = inst.name
    handler = HANDLERS.get(name)
    if handler is None:
        raise ParseError(f"unsupported instruction {name.upper()}", inst.line, inst.line, df_name(b.opts))
    own_cmd = stage.index in b.cmd_stages

    def step() -> _Step:
        return _Step(inst, lambda w: b.x(w, env, inst.line), df_name(b.opts), own_cmd)

    async def make() -> State:
        new = b.next(state, "", True)
        s = step()
        text = handler(new.cfg, s)
        if s.author:
            new.config["author"] = s.author
        new.config["history"][-1]["created_by"] = f"/bin/sh -c #(nop)  {text}"
        if name == "workdir":
            await _workdir_layer(b, state, new)
        return new

    key = ["meta", inst.original.strip(), json.dumps(sorted(env.items()))]
    if name == "entrypoint":
        key.append(f"own-cmd={own_cmd}")
    elif name == "cmd":
        b.cmd_stages.add(stage.index)  # also on a cache hit, where make() does not run
    # what its history entry will say: a cache_from image's history is matched on it
    created_by = f"/bin/sh -c #(nop)  {handler(copy.deepcopy(state.cfg), step())}" if b.opts.cache_from else ""
    return await b.cached(state, key, make, created_by=created_by, metadata=True)


async def _workdir_layer(b: Build, parent: State, new: State) -> None:
    """WORKDIR makes its directory when the parent lacks it: a layer of the missing dirs."""
    wd = FileTree.norm(new.cfg.get("WorkingDir") or "/")
    tree = await b.builder.tree_of(parent) if parent.layers else FileTree()
    if not wd or tree.is_dir(wd):
        return
    items: list[tuple[tarfile.TarInfo, bytes]] = []
    parts = wd.split("/")
    for i in range(1, len(parts) + 1):
        path = "/".join(parts[:i])
        if i < len(parts) and tree.is_dir(path):
            continue
        ti = tarfile.TarInfo(path)
        ti.type = tarfile.DIRTYPE
        ti.mode = 0o755
        ti.mtime = 0
        items.append((ti, b""))
    pieces = tar_parts(items)
    diff_id = "sha256:" + sha256(pieces)
    layer = await b.builder.store_layer(parent, pieces, diff_id, "WORKDIR")
    del new.config["history"][-1]["empty_layer"]
    new.layers.append(layer)
    new.config.setdefault("rootfs", {"type": "layers", "diff_ids": []})["diff_ids"].append(diff_id)
