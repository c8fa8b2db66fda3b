"""Go's text/template, the part people pass to ``--format``, with the docker CLI's functions.

Actions with pipelines (``{{.A.B | upper}}``), variables (``$``, ``$x :=``), ``if``/``else if``/
``else``/``end``, ``range`` (with ``$k, $v :=`` and ``else``), ``with``, comments, trim markers
(``{{-``, ``-}}``), parenthesised pipelines. Functions: Go's builtins (``and or not len index
slice print printf println eq ne lt le gt ge``) and docker's (``json split join title lower
upper pad truncate``), in ``gofuncs``. Values are JSON data; a ``Row`` is a docker formatter context (ps, images,
...), where an unknown field is an error, as on docker's structs. Errors carry Go's messages.
"""

from __future__ import annotations

from dockyard.cli.errors import TemplateError
from dockyard.cli.gofuncs import FUNCS, HEADER_FUNCS, MISSING, first_word, pattern, text, truth

# ``re`` and ``json`` are imported where used: a table in the default format never parses a
# template (``_plain_fields``), and those two imports cost as much as the rest of a ``ps``.

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


class TemplateParseError(TemplateError):
    """The template does not parse."""


class Row(dict):  # type: ignore[type-arg]
    """One row of a docker list (``ps``, ``images``, ...): its fields as text. ``go_type`` names the
    formatter context in errors, as docker's do."""

    go_type = "*formatter.Context"

    def __init__(self, fields: dict[str, Any], go_type: str = "") -> None:
        super().__init__(fields)
        if go_type:
            self.go_type = go_type


# -- parsing ----------------------------------------------------------------------------------------

_TOKEN = r"""
    \s+
  | (?P<str>"(?:[^"\\]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<num>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
  | (?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+|\.)
  | (?P<var>\$[A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>:=|=|\||\(|\)|,)
"""

# Fields whose values are Go maps in docker's types: a missing key there prints <no value>;
# elsewhere (a struct) it is an error, as docker's inspect reports it.
MAP_FIELDS = frozenset(("Labels", "Options", "DriverOpts", "Ports", "Networks", "ExposedPorts", "Volumes",
                        "Tmpfs", "Sysctls", "Annotations", "StorageOpt", "Data", "PortBindings", "Containers",
                        "EndpointsConfig", "Status", "Plugins", "Attributes"))


class _Action:
    """A pipeline: optional declared variables, then commands joined by ``|``; a command is a
    list of operand tokens ``(kind, value, pos)``."""

    def __init__(self, decl: list[str], assign: bool, commands: list[list[Any]], pos: int) -> None:
        self.decl = decl
        self.assign = assign
        self.commands = commands
        self.pos = pos


class _Parser:
    def __init__(self, template: str, funcs: dict[str, Callable[..., Any]]) -> None:
        self.template = template
        self.funcs = funcs

    def fail(self, pos: int, message: str) -> TemplateError:
        line = self.template.count("\n", 0, pos) + 1
        return TemplateParseError(f"template: :{line}: {message}")

    def pipeline(self, src: str, pos: int) -> _Action:
        toks = self.tokens(src, pos)
        decl: list[str] = []
        assign = False
        i = 0
        if toks and toks[0][0] == "var":
            j = 0
            names = [toks[0][1]]
            while j + 2 < len(toks) and toks[j + 1][:2] == ("op", ",") and toks[j + 2][0] == "var":
                names.append(toks[j + 2][1])
                j += 2
            if j + 1 < len(toks) and toks[j + 1][0] == "op" and toks[j + 1][1] in (":=", "="):
                decl, assign, i = names, toks[j + 1][1] == "=", j + 2
        commands, i = self.commands(toks, i, pos)
        if i != len(toks):
            raise self.fail(pos, f"unexpected {toks[i][1]!r} in command")
        if not commands:
            raise self.fail(pos, "missing value for command")
        return _Action(decl, assign, commands, pos)

    def commands(self, toks: list[tuple[Any, ...]], i: int, pos: int) -> tuple[list[list[Any]], int]:
        commands: list[list[Any]] = [[]]
        while i < len(toks):
            kind, value, at = toks[i]
            if kind == "op" and value == "|":
                if not commands[-1]:
                    raise self.fail(pos, "missing command")
                commands.append([])
                i += 1
            elif kind == "op" and value == "(":
                inner, i = self.commands(toks, i + 1, pos)
                if i >= len(toks) or toks[i][:2] != ("op", ")"):
                    raise self.fail(pos, "unclosed left paren")
                i += 1
                chain = ""
                if i < len(toks) and toks[i][0] == "field" and toks[i][1] != ".":
                    chain = toks[i][1]
                    i += 1
                commands[-1].append(("pipe", inner, at, chain))
            elif kind == "op" and value == ")":
                break
            elif kind == "op":
                raise self.fail(pos, f"unexpected {value!r} in operand")
            else:
                if kind == "ident" and value not in ("true", "false", "nil") and value not in self.funcs:
                    raise self.fail(pos, f'function "{value}" not defined')
                commands[-1].append((kind, value, at))
                i += 1
        if commands and not commands[-1] and len(commands) > 1:
            raise self.fail(pos, "missing command")
        return [c for c in commands if c], i

    def tokens(self, src: str, pos: int) -> list[tuple[Any, ...]]:
        out: list[tuple[Any, ...]] = []
        i = 0
        while i < len(src):
            m = pattern(_TOKEN, verbose=True).match(src, i)
            if not m or m.end() == i:
                raise self.fail(pos, f"unexpected {src[i]!r} in command")
            at = pos + i
            i = m.end()
            kind = m.lastgroup
            if kind is None:
                continue
            value: Any = m.group(kind)
            if kind == "str":
                try:
                    import json

                    value = json.loads(value)
                except ValueError:
                    value = value[1:-1]
                kind = "lit"
            elif kind == "raw":
                value, kind = value[1:-1], "lit"
            elif kind == "num":
                value, kind = (float(value) if any(c in value for c in ".eE") else int(value)), "lit"
            out.append((kind, value, at))
        return out

    def parse(self) -> list[Any]:
        """Nodes: str, _Action, ["if"|"with"|"range", _Action, body, else_body(, closes the parent)]."""
        t = self.template
        root: list[Any] = []
        stack: list[tuple[list[Any], Any]] = [(root, None)]
        pos = 0
        trim_next = False
        while True:
            start = t.find("{{", pos)
            chunk = t[pos:] if start < 0 else t[pos:start]
            if start >= 0 and t[start + 2:start + 4] in ("- ", "-\t", "-\n", "-\r"):
                chunk = chunk.rstrip(" \t\r\n")
            if trim_next:
                chunk = chunk.lstrip(" \t\r\n")
            if chunk:
                stack[-1][0].append(chunk)
            if start < 0:
                break
            end = t.find("}}", start + 2)
            if end < 0:
                raise self.fail(start, "unclosed action")
            inner_at = start + 2
            inner = t[inner_at:end]
            if inner[:2] in ("- ", "-\t", "-\n", "-\r"):
                inner, inner_at = inner[1:], inner_at + 1
            trim_next = inner[-2:] in (" -", "\t-", "\n-", "\r-")
            if trim_next:
                inner = inner[:-1]
            pos = end + 2
            body = inner.strip()
            if body.startswith("/*"):
                if not body.endswith("*/"):
                    raise self.fail(start, "unclosed comment")
                continue
            self.node(body, inner_at + len(inner) - len(inner.lstrip()), stack)
        if len(stack) > 1:
            raise self.fail(len(t), "unexpected EOF")
        return root

    def _rest(self, body: str, at: int, word: str) -> tuple[str, int]:
        rest = body[len(word):]
        stripped = rest.lstrip()
        return stripped.strip(), at + len(word) + len(rest) - len(stripped)

    def node(self, body: str, at: int, stack: list[tuple[list[Any], Any]]) -> None:
        word = first_word(body)
        if word in ("if", "with", "range"):
            node: list[Any] = [word, self.pipeline(*self._rest(body, at, word)), [], []]
            stack[-1][0].append(node)
            stack.append((node[2], node))
        elif word == "else":
            if len(stack) == 1 or stack[-1][1] is None:
                raise self.fail(at, "unexpected {{else}}")
            _, node = stack.pop()
            rest, rest_at = self._rest(body, at, word)
            kind = first_word(rest)
            if kind in ("if", "with"):
                inner: list[Any] = [kind, self.pipeline(*self._rest(rest, rest_at, kind)), [], [], True]
                node[3].append(inner)
                stack.append((node[3], node))
                stack.append((inner[2], inner))
            else:
                stack.append((node[3], node))
        elif word == "end":
            if len(stack) == 1:
                raise self.fail(at, "unexpected {{end}}")
            _, node = stack.pop()
            while len(node) > 4 and len(stack) > 1:  # an {{else if}} ends with its first {{if}}
                _, node = stack.pop()
        elif word in ("define", "template", "block"):
            raise self.fail(at, f"{{{{{word}}}}} is not supported")
        elif word == "":
            raise self.fail(at, "missing value for command")
        else:
            stack[-1][0].append(self.pipeline(body, at))


# -- execution --------------------------------------------------------------------------------------


class Template:
    def __init__(self, source: str, funcs: dict[str, Callable[..., Any]] | None = None, name: str = "") -> None:
        self.source = source
        self.name = name
        self.funcs = funcs or FUNCS
        try:
            self.nodes = _Parser(source, self.funcs).parse()
        except TemplateError as err:
            if name:
                raise TemplateParseError(str(err).replace("template: :", f"template: {name}:", 1)) from None
            raise

    def render(self, data: Any) -> str:
        out: list[str] = []
        try:
            self._run(self.nodes, data, [{"$": data}], out)
        except TemplateError as err:
            err.partial = "".join(out)
            raise
        return "".join(out)

    def _fail(self, at: int, node: str, message: str) -> TemplateError:
        line = self.source.count("\n", 0, at) + 1
        col = at - (self.source.rfind("\n", 0, at) + 1)
        return TemplateError(f'template: {self.name}:{line}:{col}: executing "{self.name}" at <{node}>: {message}')

    def _src(self, cmd: list[Any]) -> str:
        """A command's text, as Go prints its node."""
        parts = []
        for tok in cmd:
            if tok[0] == "pipe":
                parts.append("(" + " | ".join(self._src(c) for c in tok[1]) + ")" + tok[3])
            elif tok[0] == "lit" and isinstance(tok[1], str):
                import json

                parts.append(json.dumps(tok[1]))
            else:
                parts.append(str(tok[1]))
        return " ".join(parts)

    def _run(self, nodes: list[Any], dot: Any, scopes: list[dict[str, Any]], out: list[str]) -> None:
        for node in nodes:
            if isinstance(node, str):
                out.append(node)
            elif isinstance(node, _Action):
                value = self._pipeline(node, dot, scopes)
                if not node.decl:
                    out.append(text(value))
            else:
                self._block(node, dot, scopes, out)

    def _block(self, node: list[Any], dot: Any, scopes: list[dict[str, Any]], out: list[str]) -> None:
        kind, act, body, other = node[:4]
        inner = [*scopes, {}]
        if kind == "range":
            value = self._eval(act, dot, inner)
            if isinstance(value, dict):
                items = sorted(value.items())
            elif isinstance(value, list):
                items = list(enumerate(value))
            elif value is None or value is MISSING:
                items = []
            elif isinstance(value, int):
                items = [(i, i) for i in range(value)]
            else:
                raise self._fail(act.pos, self._src(act.commands[0]), f"range can't iterate over {text(value)}")
            if not items:
                self._run(other, dot, [*scopes, {}], out)
            for k, v in items:
                names = act.decl
                scope: dict[str, Any] = {}
                if len(names) == 1:
                    scope[names[0]] = v
                elif len(names) == 2:
                    scope[names[0]], scope[names[1]] = k, v
                self._run(body, v, [*inner, scope], out)
            return
        value = self._pipeline(act, dot, inner)
        if truth(value):
            self._run(body, value if kind == "with" else dot, inner, out)
        else:
            self._run(other, dot, [*scopes, {}], out)

    def _pipeline(self, act: _Action, dot: Any, scopes: list[dict[str, Any]]) -> Any:
        value = self._eval(act, dot, scopes)
        if act.decl:
            if act.assign:
                for scope in reversed(scopes):
                    if act.decl[0] in scope:
                        scope[act.decl[0]] = value
                        break
                else:
                    raise self._fail(act.pos, act.decl[0], f"undefined variable: {act.decl[0]}")
            else:
                scopes[-1][act.decl[-1]] = value
        return value

    def _eval(self, act: _Action, dot: Any, scopes: list[dict[str, Any]]) -> Any:
        return self._commands(act.commands, dot, scopes)

    def _commands(self, commands: list[list[Any]], dot: Any, scopes: list[dict[str, Any]]) -> Any:
        value: Any = MISSING
        for i, cmd in enumerate(commands):
            value = self._command(cmd, dot, scopes, value, piped=i > 0)
        return value

    def _command(self, cmd: list[Any], dot: Any, scopes: list[dict[str, Any]], prev: Any, piped: bool) -> Any:
        head = cmd[0]
        if head[0] == "ident" and head[1] in self.funcs:
            args = [self._operand(t, dot, scopes) for t in cmd[1:]]
            if piped:
                args.append(prev)
            try:
                return self.funcs[head[1]](*args)
            except TemplateError as err:
                raise self._fail(head[2], self._src(cmd), str(err)) from None
            except (TypeError, ValueError, AttributeError, IndexError) as err:
                raise self._fail(head[2], self._src(cmd), f"error calling {head[1]}: {err}") from None
        if len(cmd) > 1 or piped:
            raise self._fail(head[2], self._src(cmd), f"can't give argument to non-function {self._src([head])}")
        return self._operand(head, dot, scopes)

    def _operand(self, tok: tuple[Any, ...], dot: Any, scopes: list[dict[str, Any]]) -> Any:
        kind, value, at = tok[0], tok[1], tok[2]
        if kind == "lit":
            return value
        if kind == "ident":
            if value in ("true", "false"):
                return value == "true"
            if value == "nil":
                raise self._fail(at, "nil", "nil is not a command")
            return self.funcs[value]()
        if kind == "field":
            return self._fields(dot, value, at, value)
        if kind == "var":
            name, dot_, rest = value.partition(".")
            for scope in reversed(scopes):
                if name in scope:
                    return self._fields(scope[name], "." + rest, at + len(name), value) if dot_ else scope[name]
            raise self._fail(at, value, f"undefined variable: {name}")
        inner = self._commands(value, dot, scopes)
        return self._fields(inner, tok[3], at, self._src([tok])) if tok[3] else inner

    def _fields(self, obj: Any, chain: str, at: int, node: str) -> Any:
        if chain == ".":
            return obj
        names = chain[1:].split(".")
        err_at = at + len(names[0]) + 1 if len(names) > 1 else at  # Go: a chain is placed at its 2nd field
        parent = ""
        for name in names:
            if isinstance(obj, Row):
                if name not in obj:
                    raise self._fail(err_at, node, f"can't evaluate field {name} in type {obj.go_type}")
                obj = obj[name]
            elif isinstance(obj, dict):
                if name not in obj and parent not in MAP_FIELDS:
                    raise self._fail(err_at, node, f'map has no entry for key "{name}"')
                obj = obj.get(name, MISSING)
            elif obj is None or obj is MISSING:
                raise self._fail(err_at, node, f"nil pointer evaluating interface {{}}.{name}")
            else:
                raise self._fail(err_at, node, f"can't evaluate field {name} in type interface {{}}")
            parent = name
        return obj


_CACHE: dict[tuple[str, bool, str], Template] = {}


def parse(source: str, header: bool = False, name: str = "") -> Template:
    key = (source, header, name)
    if key not in _CACHE:
        _CACHE[key] = Template(source, HEADER_FUNCS if header else FUNCS, name)
    return _CACHE[key]


def render(source: str, data: Any) -> str:
    return parse(source).render(data)


def normalize(fmt: str) -> tuple[bool, str]:
    """(is a table, the row template) as docker's formatter reads ``--format``: ``table`` cut off,
    spaces trimmed, the two-character ``\\t`` and ``\\n`` made real."""
    is_table = fmt.startswith("table")
    body = fmt[len("table"):] if is_table else fmt
    return is_table, body.strip(" ").replace("\\t", "\t").replace("\\n", "\n")


LIST_ERRORS = ("template parsing error: ", "template parsing error: ")


def format_rows(fmt: str, rows: list[Row], headers: dict[str, str],
                prefixes: tuple[str, str] = LIST_ERRORS) -> str:
    """The docker CLI's formatter: each row through the template and a newline; a ``table``
    format gets the header line (the template over the column titles) and Go's tabwriter.
    ``json`` is ``{{json .}}``. Errors get docker's prefix for the command (parse, execute)."""
    from dockyard.cli.format import tabwrite

    if fmt == "json":
        fmt = "{{json .}}"
    is_table, body = normalize(fmt)
    head: list[Any] = [headers] if is_table else []
    plain = _plain_render(body, head + rows)
    if plain is not None:
        return tabwrite(plain) if is_table else plain
    try:
        tmpl = parse(body)
    except TemplateError as err:
        raise err.with_prefix(prefixes[0]) from None
    try:
        lines = [tmpl.render(r) + "\n" for r in rows]
        if not is_table:
            return "".join(lines)
        header = parse(body, header=True).render(dict(headers)) + "\n"
    except TemplateError as err:
        raise err.with_prefix(prefixes[1]) from None
    return tabwrite(header + "".join(lines))


def _plain_fields(body: str) -> list[str] | None:
    """The row template as literal text and field names, alternating, when it is nothing but
    ``{{.Field}}`` actions between literals (the default tables); else None."""
    parts: list[str] = []
    rest = body
    while "{{" in rest:
        literal, _, rest = rest.partition("{{")
        action, close, rest = rest.partition("}}")
        name = action[1:] if action.startswith(".") else ""
        if not close or not name.isidentifier() or "}}" in literal:
            return None
        parts += [literal, name]
    if "}}" in rest:
        return None
    return [*parts, rest]


def _plain_render(body: str, sources: list[dict[str, Any]]) -> str | None:
    """Each of ``sources`` (a table's header titles, the rows) through a plain template, with
    newlines, without the template engine; None when the template or a value needs the engine
    (a missing field is an error there, a value that is not text is printed as Go prints it)."""
    parts = _plain_fields(body)
    if parts is None:
        return None
    names = parts[1::2]
    if any(not isinstance(src.get(n), str) for src in sources for n in names):
        return None
    out = []
    for src in sources:
        out += [src[p] if i % 2 else p for i, p in enumerate(parts)]
        out.append("\n")
    return "".join(out)


def print_rows(fmt: str, rows: list[Row], headers: dict[str, str] | None = None,
               prefixes: tuple[str, str] = LIST_ERRORS) -> None:
    import sys

    sys.stdout.write(format_rows(fmt, rows, headers or {}, prefixes))


def render_one(fmt: str, data: Any, name: str = "", prefixes: tuple[str, str] = ("template parsing error: ", ""),
               parse_code: int = 64, keep_partial: bool = True) -> str:
    """One object through ``--format`` (inspect, version, info), errors worded as docker's; a
    template that fails while it runs leaves its partial output (or none, ``keep_partial=False``)
    and a newline on stdout first, as docker's do."""
    try:
        tmpl = parse(fmt, name=name)
    except TemplateError as err:
        raise err.with_prefix(prefixes[0], parse_code) from None
    try:
        return tmpl.render(data)
    except TemplateError as err:
        import sys

        sys.stdout.write((err.partial if keep_partial else "") + "\n")
        raise err.with_prefix(prefixes[1]) from None
