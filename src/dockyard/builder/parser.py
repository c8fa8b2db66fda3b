"""The Dockerfile parser: text to an AST of instruction nodes, as BuildKit's parser builds it.

Stage one of two (``instructions.py`` is stage two): it knows lines, parser directives,
continuations, comments, heredocs and each instruction's argument *shape* (JSON array,
whitespace list, key=value pairs, a sub-command), but not what instructions mean. The AST
prints in BuildKit's dump form (``Node.dump``), which the shared corpus compares byte for
byte; ``python -m dockyard.builder.parser PATH`` prints it.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from dockyard import errors
from dockyard.builder.shell_lex import LexError, ShellLex

_WS = re.compile(r"[\t\v\f\r ]+")
_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_HEREDOC = re.compile(r"^(\d*)<<(-?)(.*)$")
HEREDOC_INSTRUCTIONS = {"run", "copy", "add"}


class ParseError(errors.InvalidArgument):
    """A Dockerfile that does not parse; the message names the file, the line and the problem."""

    def __init__(self, message: str, start: int = 0, end: int = 0, filename: str = "Dockerfile") -> None:
        self.problem = message
        self.start = start
        self.end = end or start
        self.filename = filename
        where = f"{filename}:{start}" if start else filename
        if self.end != self.start:
            where += f"-{self.end}"
        super().__init__(f"{where}: {message}")


@dataclass
class Heredoc:
    name: str
    content: str = ""
    expand: bool = True
    chomp: bool = False
    fd: int = 0


@dataclass
class Node:
    """One AST node: ``value`` is the lower-cased instruction for a line, an argument otherwise."""

    value: str = ""
    next: Node | None = None
    children: list[Node] = field(default_factory=list)
    heredocs: list[Heredoc] = field(default_factory=list)
    attributes: dict[str, bool] = field(default_factory=dict)
    original: str = ""
    flags: list[str] = field(default_factory=list)
    start_line: int = 0
    end_line: int = 0
    comments: list[str] = field(default_factory=list)

    def args(self) -> list[str]:
        out = []
        n = self.next
        while n is not None:
            out.append(n.value)
            n = n.next
        return out

    def dump(self) -> str:
        s = self.value.lower()
        if self.flags:
            s += " [" + " ".join(go_quote(f) for f in self.flags) + "]"
        for c in self.children:
            s += "(" + c.dump() + ")\n"
        n = self.next
        while n is not None:
            s += " " + (n.dump() if n.children else go_quote(n.value))
            n = n.next
        return s.strip()


@dataclass
class Result:
    ast: Node
    escape: str = "\\"
    directives: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def go_quote(s: str) -> str:
    """Go's ``strconv.Quote``: printable unicode kept, the rest escaped."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\a":
            out.append("\\a")
        elif ch == "\b":
            out.append("\\b")
        elif ch == "\f":
            out.append("\\f")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\v":
            out.append("\\v")
        elif ch.isprintable() or ch == " ":
            out.append(ch)
        elif o < 0x80:
            out.append(f"\\x{o:02x}")
        elif o < 0x10000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    out.append('"')
    return "".join(out)


class _Directives:
    def __init__(self) -> None:
        self.escape = "\\"
        self.values: dict[str, str] = {}
        self.done = False
        self._set_continuation()

    def _set_continuation(self) -> None:
        e = re.escape(self.escape)
        self.continuation = re.compile(r"(^|[^" + e + "])" + e + r"[ \t]*$")

    def parse_line(self, line: str, lineno: int) -> None:
        if self.done:
            return
        m = _DIRECTIVE.match(line)
        if not m:
            self.done = True
            return
        key, value = m.group(1).lower(), m.group(2)
        if key in self.values:
            raise ParseError(f"only one {key} parser directive can be used", lineno)
        self.values[key] = value
        if key == "escape":
            if value not in ("`", "\\"):
                raise ParseError(f"invalid escape token '{value}' does not match ` or \\", lineno)
            self.escape = value
            self._set_continuation()


class _Args:
    """The per-instruction argument parsers (what BuildKit's dispatch table does)."""

    def __init__(self, d: _Directives) -> None:
        self.d = d

    @staticmethod
    def chain(values: list[str]) -> Node | None:
        head: Node | None = None
        prev: Node | None = None
        for v in values:
            n = Node(value=v)
            if prev is None:
                head = n
            else:
                prev.next = n
            prev = n
        return head

    def json(self, rest: str) -> tuple[Node | None, dict[str, bool]] | None:
        """``None`` when ``rest`` is not a JSON array; an error when it is one of non-strings."""
        rest = rest.lstrip()
        if not rest.startswith("["):
            return None
        try:
            value = json.loads(rest)
        except ValueError:
            return None
        if not isinstance(value, list):
            return None
        if not all(isinstance(v, str) for v in value):
            raise ParseError("Dockerfile contains arrays of non-strings")
        return self.chain(value), {"json": True}

    def maybe_json(self, rest: str) -> tuple[Node | None, dict[str, bool]]:
        if rest == "":
            return None, {}
        j = self.json(rest)
        if j is not None:
            return j
        return Node(value=rest), {}

    def maybe_json_list(self, rest: str) -> tuple[Node | None, dict[str, bool]]:
        j = self.json(rest)
        if j is not None:
            return j
        return self.whitespace_list(rest)

    def whitespace_list(self, rest: str) -> tuple[Node | None, dict[str, bool]]:
        if rest == "":
            return None, {}
        return self.chain(_WS.split(rest)), {}

    def string(self, rest: str) -> tuple[Node | None, dict[str, bool]]:
        if rest == "":
            return None, {}
        return Node(value=rest), {}

    def words(self, rest: str) -> list[str]:
        return parse_words(rest, self.d.escape)

    def name_val(self, rest: str, key: str) -> tuple[Node | None, dict[str, bool]]:
        words = self.words(rest)
        if not words:
            return None, {}
        if "=" not in words[0]:
            parts = _WS.split(rest, maxsplit=1)
            if len(parts) < 2:
                raise ParseError(f"{key} must have two arguments")
            return self.chain([parts[0], parts[1], ""]), {}
        values: list[str] = []
        for w in words:
            if "=" not in w:
                raise ParseError(f"Syntax error - can't find = in {w!r}. Must be of the form: name=value")
            k, _, v = w.partition("=")
            values += [k, v, "="]
        return self.chain(values), {}

    def env(self, rest: str) -> tuple[Node | None, dict[str, bool]]:
        return self.name_val(rest, "ENV")

    def label(self, rest: str) -> tuple[Node | None, dict[str, bool]]:
        return self.name_val(rest, "LABEL")

    def name_or_name_val(self, rest: str) -> tuple[Node | None, dict[str, bool]]:
        return self.chain(self.words(rest)), {}

    def health(self, rest: str) -> tuple[Node | None, dict[str, bool]]:
        sep = 0
        while sep < len(rest) and not rest[sep].isspace():
            sep += 1
        nxt = sep
        while nxt < len(rest) and rest[nxt].isspace():
            nxt += 1
        if sep == 0:
            return None, {}
        cmd, attrs = self.maybe_json(rest[nxt:])
        return Node(value=rest[:sep], next=cmd), attrs

    def sub_command(self, rest: str) -> tuple[Node | None, dict[str, bool]]:
        if rest == "":
            return None, {}
        child = node_from_line(rest, self.d, [])
        return Node(children=[child]), {}

    def ignore(self, rest: str) -> tuple[Node | None, dict[str, bool]]:
        return None, {}


_DISPATCH: dict[str, Callable[[_Args, str], tuple[Node | None, dict[str, bool]]]] = {
    "add": _Args.maybe_json_list,
    "arg": _Args.name_or_name_val,
    "cmd": _Args.maybe_json,
    "copy": _Args.maybe_json_list,
    "entrypoint": _Args.maybe_json,
    "env": _Args.env,
    "expose": _Args.whitespace_list,
    "from": _Args.whitespace_list,
    "healthcheck": _Args.health,
    "label": _Args.label,
    "maintainer": _Args.string,
    "onbuild": _Args.sub_command,
    "run": _Args.maybe_json,
    "shell": _Args.maybe_json,
    "stopsignal": _Args.string,
    "user": _Args.string,
    "volume": _Args.maybe_json_list,
    "workdir": _Args.string,
}


def parse_words(rest: str, escape: str = "\\") -> list[str]:
    """Split on white space, keeping quotes and escapes in the words (ENV/LABEL/ARG)."""
    words: list[str] = []
    word = ""
    in_word = False
    quote = ""
    blank_ok = False
    i = 0
    n = len(rest)
    while i < n:
        ch = rest[i]
        if not in_word and not quote:
            if ch.isspace():
                i += 1
                continue
            in_word = True
        if quote:
            if ch == quote:
                quote = ""
            elif ch == escape and quote != "'":
                if i + 1 == n:
                    i += 1
                    continue
                word += ch
                i += 1
                ch = rest[i]
            word += ch
            i += 1
            continue
        if ch.isspace():
            if blank_ok or word:
                words.append(word)
            word, in_word, blank_ok = "", False, False
            i += 1
            continue
        if ch in ("'", '"'):
            quote = ch
            blank_ok = True
        elif ch == escape:
            if i + 1 == n:
                i += 1
                continue
            word += ch
            i += 1
            ch = rest[i]
        word += ch
        i += 1
    if (in_word or quote) and (blank_ok or word):
        words.append(word)
    return words


def extract_flags(line: str) -> tuple[str, list[str]]:
    """Leading ``--name=value`` words of an instruction's arguments, and the rest of the line."""
    words: list[str] = []
    i = 0
    n = len(line)
    while True:
        while i < n and line[i].isspace():
            i += 1
        if i >= n:
            return "", words
        if not line.startswith("--", i):
            return line[i:], words
        word = ""
        blank_ok = False
        quote = ""
        while i < n:
            ch = line[i]
            if quote:
                if ch == quote:
                    quote = ""
                    i += 1
                    continue
                if ch == "\\":
                    if i + 1 == n:
                        i += 1
                        continue
                    i += 1
                    ch = line[i]
                word += ch
                i += 1
                continue
            if ch.isspace():
                break
            if ch in ("'", '"'):
                quote = ch
                blank_ok = True
                i += 1
                continue
            if ch == "\\":
                if i + 1 == n:
                    i += 1
                    continue
                i += 1
                ch = line[i]
            word += ch
            i += 1
        if word == "--":
            return (line[i:] if i < n else ""), words
        if blank_ok or word:
            words.append(word)


def split_command(line: str) -> tuple[str, list[str], str]:
    parts = _WS.split(line.strip(), maxsplit=1)
    flags: list[str] = []
    args = ""
    if len(parts) == 2:
        args, flags = extract_flags(parts[1])
    return parts[0], flags, args.strip()


def node_from_line(line: str, d: _Directives, comments: list[str]) -> Node:
    cmd, flags, args = split_command(line)
    fn = _DISPATCH.get(cmd.lower(), _Args.ignore)
    nxt, attrs = fn(_Args(d), args)
    return Node(value=cmd.lower(), original=line, flags=flags, next=nxt, attributes=attrs,
                comments=list(comments))


def _is_comment(line: str) -> bool:
    return line.lstrip(" \t").startswith("#")


def parse_heredoc(word: str) -> Heredoc | None:
    """A ``<<[-]NAME`` word as a heredoc (quoted names disable expansion of the body)."""
    m = _HEREDOC.match(word)
    if not m or not m.group(3) or m.group(3).startswith("<"):
        return None
    rest = m.group(3)
    try:
        words = ShellLex().process_words(rest, {})
        raw = ShellLex(raw_quotes=True).process_words(rest, {})
    except LexError:
        return None
    if len(words) != 1 or len(raw) != 1:
        return None
    name = words[0]
    count = lambda s: s.count("'") + s.count('"')
    return Heredoc(name=name, expand=count(name) == count(raw[0]), chomp=m.group(2) == "-",
                   fd=int(m.group(1) or 0))


def heredocs_from_line(line: str) -> list[Heredoc]:
    try:
        words = ShellLex(raw_quotes=True, raw_escapes=True).process_words(line, {})
    except LexError:
        return []
    return [h for h in (parse_heredoc(w) for w in words) if h is not None]


def parse(text: str | bytes, filename: str = "Dockerfile") -> Result:
    """Parse a whole Dockerfile; a ``ParseError`` names the file and the line."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="surrogateescape")
    text = text.removeprefix("\ufeff")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    d = _Directives()
    root = Node(start_line=-1)
    warnings: list[str] = []
    comments: list[str] = []
    i = 0
    n = len(lines)
    lineno = 0

    def clean(raw: str, strip_left: bool) -> str:
        raw = raw.rstrip("\r")
        if strip_left:
            raw = raw.lstrip(" \t")
        return "" if _is_comment(raw) else raw

    try:
        while i < n:
            raw = lines[i]
            i += 1
            lineno = i
            if not d.done:
                d.parse_line(raw.rstrip("\r"), lineno)
            if _is_comment(raw):
                c = raw.lstrip(" \t")[1:].strip()
                comments = [] if c == "" else comments + [c]
            start = lineno
            line = clean(raw, True)
            line, end_of_line = _trim_continuation(line, d)
            if end_of_line and line == "":
                continue
            empty_continuation = False
            while not end_of_line and i < n:
                raw = lines[i]
                i += 1
                lineno = i
                if _is_comment(raw):
                    continue
                cont = clean(raw, False)
                if cont.strip(" \t") == "":
                    empty_continuation = True
                    continue
                cont, end_of_line = _trim_continuation(cont, d)
                line += cont
            if empty_continuation:
                warnings.append(f"{filename}:{lineno}: empty continuation line")
            try:
                child = node_from_line(line, d, comments)
            except ParseError as err:
                raise ParseError(err.problem, start, lineno, filename) from None
            if child.value in HEREDOC_INSTRUCTIONS and "<<" in line:
                for doc in heredocs_from_line(line):
                    terminated = False
                    body: list[str] = []
                    while i < n:
                        raw = lines[i]
                        i += 1
                        lineno = i
                        candidate = raw.rstrip("\r")
                        if doc.chomp:
                            candidate = candidate.lstrip("\t")
                        if candidate == doc.name:
                            terminated = True
                            break
                        body.append(raw + "\n")
                    if not terminated:
                        raise ParseError("unterminated heredoc", start, lineno, filename)
                    doc.content = "".join(body)
                    child.heredocs.append(doc)
            child.start_line, child.end_line = start, lineno
            root.children.append(child)
            if root.start_line < 0:
                root.start_line = start
            root.end_line = lineno
            comments = []
    except ParseError as err:
        if err.filename != filename or not err.start:
            raise ParseError(err.problem, err.start or lineno, err.end or lineno, filename) from None
        raise
    if root.start_line < 0:
        raise ParseError("file with no instructions", 0, 0, filename)
    return Result(ast=root, escape=d.escape, directives=dict(d.values), warnings=warnings)


def _trim_continuation(line: str, d: _Directives) -> tuple[str, bool]:
    m = d.continuation.search(line)
    if m:
        return line[:m.start()] + m.group(1), False
    return line, True


def main(argv: list[str] | None = None) -> int:
    """``python -m dockyard.builder.parser PATH``: print the parse in BuildKit's dump form."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: python -m dockyard.builder.parser PATH\n")
        return 2
    path = args[0]
    try:
        with open(path, "rb") as f:
            result = parse(f.read(), filename=path)
    except OSError as err:
        sys.stderr.write(f"error: {err}\n")
        return 1
    except ParseError as err:
        sys.stderr.write(f"error: {err}\n")
        return 1
    sys.stdout.write(result.ast.dump() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
