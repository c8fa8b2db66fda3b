"""Stage two of parsing: AST nodes to typed instructions grouped in stages.

Flags are checked per instruction (an unknown or misplaced flag is an error naming the line);
words keep their quotes and ``$VAR``s here, because expansion needs the environment of the
stage at that point, which only the builder knows (``Instruction.expand``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from dockyard.builder.parser import Heredoc, Node, ParseError, parse
from dockyard.builder.shell_lex import LexError, ShellLex

_BOOL = {"": True, "true": True, "1": True, "false": False, "0": False}


def _flags(node: Node, allowed: dict[str, str], filename: str) -> dict[str, Any]:
    """``--name=value`` flags; ``allowed`` maps a name to ``str``, ``bool`` or ``list`` (repeatable)."""
    out: dict[str, Any] = {k: ([] if kind == "list" else (False if kind == "bool" else None))
                           for k, kind in allowed.items()}
    seen: set[str] = set()
    for raw in node.flags:
        if not raw.startswith("--"):
            raise ParseError(f"invalid flag {raw!r}", node.start_line, node.end_line, filename)
        name, eq, value = raw[2:].partition("=")
        kind = allowed.get(name)
        if kind is None:
            raise ParseError(f"unknown flag: {name}", node.start_line, node.end_line, filename)
        if kind == "list":
            out[name].append(value)
            continue
        if name in seen:
            raise ParseError(f"duplicate flag specified: {name}", node.start_line, node.end_line, filename)
        seen.add(name)
        if kind == "bool":
            if value.lower() not in _BOOL:
                raise ParseError(f"expecting boolean value for flag {name}, not: {value}", node.start_line,
                                 node.end_line, filename)
            out[name] = _BOOL[value.lower()]
        else:
            if not eq:
                raise ParseError(f"missing a value on flag: {name}", node.start_line, node.end_line, filename)
            out[name] = value
    return out


@dataclass
class Instruction:
    name: str
    node: Node
    flags: dict[str, Any] = field(default_factory=dict)

    @property
    def line(self) -> int:
        return self.node.start_line

    @property
    def original(self) -> str:
        return self.node.original


@dataclass
class Run(Instruction):
    cmd: list[str] = field(default_factory=list)
    shell_form: bool = True
    heredocs: list[Heredoc] = field(default_factory=list)


@dataclass
class CmdLike(Instruction):
    """CMD, ENTRYPOINT and SHELL: a command in exec form, or a shell-form string."""

    cmd: list[str] = field(default_factory=list)
    shell_form: bool = False


@dataclass
class KeyValues(Instruction):
    """ENV and LABEL: ordered (key, value) words, still unexpanded."""

    pairs: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Copy(Instruction):
    """COPY and ADD."""

    sources: list[str] = field(default_factory=list)
    dest: str = ""
    heredocs: list[Heredoc] = field(default_factory=list)


@dataclass
class Words(Instruction):
    """EXPOSE, VOLUME, USER, WORKDIR, STOPSIGNAL, MAINTAINER: plain argument words."""

    args: list[str] = field(default_factory=list)


@dataclass
class Arg(Instruction):
    args: list[tuple[str, str | None]] = field(default_factory=list)


@dataclass
class Healthcheck(Instruction):
    test: list[str] = field(default_factory=list)  # ["NONE"] or ["CMD", ...] or ["CMD-SHELL", s]


@dataclass
class Onbuild(Instruction):
    expression: str = ""


@dataclass
class Stage:
    base: str
    name: str = ""
    platform: str = ""
    index: int = 0
    line: int = 0
    instructions: list[Instruction] = field(default_factory=list)


@dataclass
class Dockerfile:
    stages: list[Stage]
    meta_args: list[Arg]
    escape: str = "\\"
    warnings: list[str] = field(default_factory=list)

    def stage(self, name_or_index: str) -> Stage | None:
        for s in self.stages:
            if s.name and s.name == name_or_index.lower():
                return s
        if name_or_index.isdigit() and int(name_or_index) < len(self.stages):
            return self.stages[int(name_or_index)]
        return None


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000,
          "h": 3_600_000_000_000}


def parse_duration(s: str) -> int:
    """A Go duration (``1m30s``) in nanoseconds."""
    if s in ("0", ""):
        return 0
    pos = 0
    total = 0.0
    for m in _DURATION.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(s):
        raise ValueError(f"time: invalid duration {s!r}")
    return int(total)


_ALLOWED: dict[str, dict[str, str]] = {
    "from": {"platform": "str"},
    "run": {"mount": "list", "network": "str", "security": "str"},
    "copy": {"from": "str", "chown": "str", "chmod": "str", "link": "bool", "parents": "bool",
             "exclude": "list"},
    "add": {"chown": "str", "chmod": "str", "link": "bool", "exclude": "list", "checksum": "str",
            "keep-git-dir": "bool", "unpack": "bool"},
    "healthcheck": {"interval": "str", "timeout": "str", "start-period": "str", "start-interval": "str",
                    "retries": "str"},
}


def _cmd_like(node: Node) -> tuple[list[str], bool]:
    if node.attributes.get("json"):
        return node.args(), False
    args = node.args()
    return ([args[0]] if args else []), True


def to_instruction(node: Node, filename: str = "Dockerfile") -> Instruction:
    """One AST line as a typed instruction; errors name the file and the line."""
    name = node.value
    flags = _flags(node, _ALLOWED.get(name, {}), filename)

    def fail(problem: str) -> ParseError:
        return ParseError(problem, node.start_line, node.end_line, filename)

    args = node.args()
    if name in ("run", "cmd", "entrypoint", "shell"):
        cmd, shell_form = _cmd_like(node)
        if name == "run":
            if not cmd and not node.attributes.get("json"):
                raise fail("RUN requires at least one argument")
            return Run(name, node, flags, cmd=cmd, shell_form=shell_form, heredocs=list(node.heredocs))
        if name == "shell" and (shell_form or not cmd):
            raise fail("SHELL requires the arguments to be in JSON form" if shell_form
                           else "SHELL requires at least one argument")
        return CmdLike(name, node, flags, cmd=cmd, shell_form=shell_form)
    if name in ("env", "label"):
        if not args:
            raise fail(f"{name.upper()} requires at least one argument")
        pairs = [(args[i], args[i + 1]) for i in range(0, len(args) - 2, 3)]
        for k, _ in pairs:
            if not k:
                raise fail(f"{name.upper()} names can not be blank")
        return KeyValues(name, node, flags, pairs=pairs)
    if name == "maintainer":
        if not args:
            raise fail("MAINTAINER requires exactly one argument")
        return Words(name, node, flags, args=args)
    if name in ("copy", "add"):
        heredoc_names = {h.name for h in node.heredocs}
        if len(args) < 2 and not (node.heredocs and len(args) >= 1):
            raise fail(f"{name.upper()} requires at least two arguments, but only {len(args)} provided"
                       " (destination could not be determined)" if len(args) == 1 else
                       f"{name.upper()} requires at least two arguments")
        srcs, dest = args[:-1], args[-1]
        if node.heredocs:
            srcs = [s for s in srcs if not _heredoc_word(s, heredoc_names)]
        if name == "copy" and flags.get("from") == "":
            raise fail("COPY --from requires a value")
        return Copy(name, node, flags, sources=srcs, dest=dest, heredocs=list(node.heredocs))
    if name in ("expose", "volume"):
        if not args:
            raise fail(f"{name.upper()} requires at least one argument")
        return Words(name, node, flags, args=args)
    if name in ("user", "workdir", "stopsignal"):
        if len(args) != 1:
            raise fail(f"{name.upper()} requires exactly one argument")
        return Words(name, node, flags, args=args)
    if name == "arg":
        if not args:
            raise fail("ARG requires at least one argument")
        out: list[tuple[str, str | None]] = []
        for a in args:
            k, eq, v = a.partition("=")
            if not k:
                raise fail("ARG names can not be blank")
            out.append((k, v if eq else None))
        return Arg(name, node, flags, args=out)
    if name == "healthcheck":
        if not args:
            raise fail("HEALTHCHECK requires an argument")
        typ = args[0].upper()
        if typ == "NONE":
            if len(args) > 1 or any(v for k, v in flags.items() if v):
                raise fail("HEALTHCHECK NONE takes no arguments")
            return Healthcheck(name, node, flags, test=["NONE"])
        if typ != "CMD":
            raise fail(f"Unknown type {typ!r} in HEALTHCHECK (try CMD)")
        rest = args[1:]
        if not rest:
            raise fail("Missing command after HEALTHCHECK CMD")
        test = ["CMD"] + rest if node.attributes.get("json") else ["CMD-SHELL", rest[0]]
        for key in ("interval", "timeout", "start-period", "start-interval"):
            if flags.get(key):
                try:
                    d = parse_duration(flags[key])
                except ValueError as err:
                    raise fail(str(err)) from None
                if 0 < d < 1_000_000:
                    raise fail(f"Interval {key} cannot be less than 1ms")
        if flags.get("retries"):
            try:
                if int(flags["retries"]) < 0:
                    raise fail("--retries cannot be negative")
            except ValueError:
                raise fail(f"invalid value for --retries: {flags['retries']}") from None
        return Healthcheck(name, node, flags, test=test)
    if name == "onbuild":
        if not node.next or not node.next.children:
            raise fail("ONBUILD requires at least one argument")
        child = node.next.children[0]
        if child.value in ("onbuild", "from", "maintainer"):
            raise fail(f"{child.value.upper()} isn't allowed as an ONBUILD trigger")
        expr = node.original.strip()
        expr = re.sub(r"(?i)^onbuild\s+", "", expr, count=1)
        to_instruction(child, filename)  # validate now
        return Onbuild(name, node, flags, expression=expr)
    raise fail(f"unknown instruction: {node.value.upper() or node.original.split()[0]}")


def _heredoc_word(word: str, names: set[str]) -> bool:
    m = re.match(r"^\d*<<-?(.*)$", word)
    return m is not None and m.group(1).strip("'\"") in names


def parse_dockerfile(text: str | bytes, filename: str = "Dockerfile") -> Dockerfile:
    """A whole Dockerfile as stages; ARGs before the first FROM are the global (meta) args."""
    result = parse(text, filename)
    stages: list[Stage] = []
    meta: list[Arg] = []
    for node in result.ast.children:
        if node.value == "from":
            args = node.args()
            flags = _flags(node, _ALLOWED["from"], filename)
            if len(args) == 3 and args[1].lower() == "as":
                name = args[2].lower()
                if not re.fullmatch(r"[a-z][a-z0-9-_.]*", name):
                    raise ParseError(f"invalid name for build stage: {args[2]!r}, name can't start with a number"
                                     " or contain symbols", node.start_line, node.end_line, filename)
                if any(s.name == name for s in stages):
                    raise ParseError(f"duplicate stage name {name!r}", node.start_line, node.end_line, filename)
            elif len(args) == 1:
                name = ""
            else:
                raise ParseError("FROM requires either one or three arguments", node.start_line, node.end_line,
                                 filename)
            stages.append(Stage(base=args[0], name=name, platform=flags["platform"] or "", index=len(stages),
                                line=node.start_line))
            continue
        inst = to_instruction(node, filename)
        if not stages:
            if not isinstance(inst, Arg):
                raise ParseError("no build stage in current context", node.start_line, node.end_line, filename)
            meta.append(inst)
            continue
        stages[-1].instructions.append(inst)
    if not stages:
        raise ParseError("no build stage in current context", 0, 0, filename)
    return Dockerfile(stages=stages, meta_args=meta, escape=result.escape, warnings=result.warnings)


def expand(lex: ShellLex, word: str, env: dict[str, str], line: int, filename: str = "Dockerfile") -> str:
    """One word expanded against ``env``; a lexer error becomes a ParseError at ``line``."""
    try:
        return lex.process_word(word, env)
    except LexError as err:
        raise ParseError(str(err), line, line, filename) from None
