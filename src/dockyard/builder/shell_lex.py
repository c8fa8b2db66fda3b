"""Shell-like word processing for Dockerfile arguments: quotes, escapes and ``$VAR`` expansion.

This is the POSIX subset the Dockerfile reference defines (not a shell): single and double
quotes, the escape token, ``$name``/``${name}`` and the modifiers ``:-  -  :+  +  :?  ?
#  ##  %  %%  /  //``. The behaviour follows BuildKit's lexer case for case (the corpus in
shared/testdata/dockerfile-parser/shell-lex is the judge), so a Dockerfile expands here as
it does under ``docker build``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from dockyard import errors

_SPECIAL = set("@*#?-$!0")


class LexError(errors.InvalidArgument):
    """A word could not be expanded (unterminated quote, bad substitution, ``${X:?msg}``)."""


def _isspace(ch: str) -> bool:
    return ch.isspace()


def _pattern_regex(pattern: str, greedy: bool) -> str:
    """A shell glob (``*``, ``?``, ``[...]``, ``\\x``) as a Python regex fragment."""
    out: list[str] = []
    i = 0
    star = ".*" if greedy else ".*?"
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if ch == "*":
            out.append(star)
        elif ch == "?":
            out.append(".")
        elif ch == "[":
            end = pattern.find("]", i + 2 if i + 1 < len(pattern) and pattern[i + 1] in "!^" else i + 1)
            if end < 0:
                out.append(re.escape(ch))
            else:
                body = pattern[i + 1:end]
                if body[:1] in ("!", "^"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


def _compile(pattern: str, greedy: bool) -> re.Pattern[str]:
    try:
        return re.compile(_pattern_regex(pattern, greedy), re.DOTALL)
    except re.error as err:
        raise LexError(f"invalid pattern ({pattern}) in substitution: {err}") from None


def _trim_prefix(pattern: str, value: str, longest: bool) -> str:
    rx = _compile(pattern, True)
    order = range(len(value), -1, -1) if longest else range(len(value) + 1)
    for i in order:
        if rx.fullmatch(value[:i]):
            return value[i:]
    return value


def _trim_suffix(pattern: str, value: str, longest: bool) -> str:
    rx = _compile(pattern, True)
    order = range(len(value) + 1) if longest else range(len(value), -1, -1)
    for i in order:
        if rx.fullmatch(value[i:]):
            return value[:i]
    return value


class _Words:
    """Word splitting as the lexer goes: unquoted expansions split on white space."""

    def __init__(self) -> None:
        self.word = ""
        self.words: list[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if _isspace(ch):
            if self.in_word and self.word:
                self.words.append(self.word)
                self.word = ""
                self.in_word = False
        else:
            self.add_raw_char(ch)

    def add_raw_char(self, ch: str) -> None:
        self.word += ch
        self.in_word = True

    def add_string(self, s: str) -> None:
        for ch in s:
            self.add_char(ch)

    def add_raw_string(self, s: str) -> None:
        self.word += s
        self.in_word = True

    def get(self) -> list[str]:
        if self.word:
            self.words.append(self.word)
            self.word = ""
            self.in_word = False
        return self.words


class _Scanner:
    def __init__(self, src: str, env: Mapping[str, str], escape: str, raw_quotes: bool, raw_escapes: bool,
                 skip_unset: bool) -> None:
        self.src = src
        self.pos = 0
        self.env = env
        self.escape = escape
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.skip_unset = skip_unset
        self.used: set[str] = set()

    def peek(self) -> str:
        return self.src[self.pos] if self.pos < len(self.src) else ""

    def next(self) -> str:
        if self.pos >= len(self.src):
            return ""
        ch = self.src[self.pos]
        self.pos += 1
        return ch

    def getenv(self, name: str) -> tuple[str, bool]:
        self.used.add(name)
        if name in self.env:
            return self.env[name], True
        return "", False

    def process(self, stop: str = "", raw_escapes: bool | None = None) -> tuple[str, list[str]]:
        saved = self.raw_escapes
        if raw_escapes is not None:
            self.raw_escapes = raw_escapes
        try:
            return self._process(stop)
        finally:
            self.raw_escapes = saved

    def _process(self, stop: str) -> tuple[str, list[str]]:
        result: list[str] = []
        words = _Words()
        while self.peek() != "":
            ch = self.peek()
            if stop and ch == stop:
                self.next()
                return "".join(result), words.get()
            if ch == "$":
                tmp = self._dollar()
                result.append(tmp)
                words.add_string(tmp)
            elif ch == "'":
                tmp = self._single()
                result.append(tmp)
                words.add_raw_string(tmp)
            elif ch == '"':
                tmp = self._double()
                result.append(tmp)
                words.add_raw_string(tmp)
            else:
                ch = self.next()
                if ch == self.escape:
                    if self.raw_escapes:
                        words.add_raw_char(ch)
                        result.append(ch)
                    ch = self.next()
                    if ch == "":
                        break
                    words.add_raw_char(ch)
                else:
                    words.add_char(ch)
                result.append(ch)
        if stop:
            raise LexError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(result), words.get()

    def _single(self) -> str:
        out: list[str] = []
        ch = self.next()
        if self.raw_quotes:
            out.append(ch)
        while True:
            ch = self.next()
            if ch == "":
                raise LexError("unexpected end of statement while looking for matching single-quote")
            if ch == "'":
                if self.raw_quotes:
                    out.append(ch)
                return "".join(out)
            out.append(ch)

    def _double(self) -> str:
        out: list[str] = []
        ch = self.next()
        if self.raw_quotes:
            out.append(ch)
        while True:
            p = self.peek()
            if p == "":
                raise LexError("unexpected end of statement while looking for matching double-quote")
            if p == '"':
                ch = self.next()
                if self.raw_quotes:
                    out.append(ch)
                return "".join(out)
            if p == "$":
                out.append(self._dollar())
                continue
            ch = self.next()
            if ch == self.escape:
                if self.raw_escapes:
                    out.append(ch)
                nxt = self.peek()
                if nxt == "":
                    continue
                if nxt in ('"', "$", self.escape):
                    ch = self.next()
            out.append(ch)

    def _name(self) -> str:
        name: list[str] = []
        while self.peek() != "":
            ch = self.peek()
            if not name and ch.isdigit():
                while self.peek() != "" and self.peek().isdigit():
                    name.append(self.next())
                return "".join(name)
            if not name and ch in _SPECIAL:
                return self.next()
            if not (ch.isalpha() or ch.isdigit() or ch == "_"):
                break
            name.append(self.next())
        return "".join(name)

    def _dollar(self) -> str:
        self.next()
        if self.peek() != "{":
            name = self._name()
            if not name:
                return "$"
            value, found = self.getenv(name)
            if not found and self.skip_unset:
                return "$" + name
            return value
        self.next()
        p = self.peek()
        if p == "":
            raise LexError("syntax error: missing '}'")
        if p in "{}:":
            raise LexError("syntax error: bad substitution")
        name = self._name()
        ch = self.next()
        chs = ch
        null_is_unset = False
        if ch == "}":
            value, found = self.getenv(name)
            if not found and self.skip_unset:
                return "${" + name + "}"
            return value
        if ch == ":":
            null_is_unset = True
            ch = self.next()
            chs += ch
            if ch not in "+-?#%" or ch == "":
                raise LexError(f"unsupported modifier ({chs}) in substitution")
        if ch in ("+", "-", "?", "#", "%"):
            raw = ch in "#%"
            if null_is_unset and raw:
                raise LexError(f"unsupported modifier ({chs}) in substitution")
            try:
                word, _ = self.process("}", raw)
            except LexError:
                if self.peek() == "":
                    raise LexError("syntax error: missing '}'") from None
                raise
            value, found = self.getenv(name)
            if self.skip_unset and not found:
                return "${" + name + chs + word + "}"
            empty = not found or (null_is_unset and value == "")
            if ch == "-":
                return word if empty else value
            if ch == "+":
                return "" if empty else word
            if ch == "?":
                if not found:
                    raise LexError(f"{name}: {word or 'is not allowed to be unset'}")
                if null_is_unset and value == "":
                    raise LexError(f"{name}: {word or 'is not allowed to be empty'}")
                return value
            longest = word[:1] == ch
            if longest:
                word = word[1:]
            if ch == "%":
                return _trim_suffix(word, value, longest)
            return _trim_prefix(word, value, longest)
        if ch == "/":
            replace_all = self.peek() == "/"
            if replace_all:
                self.next()
            try:
                pattern, _ = self.process("/", True)
            except LexError:
                if self.peek() == "":
                    raise LexError("syntax error: missing '/' in ${}") from None
                raise
            try:
                repl, _ = self.process("}", True)
            except LexError:
                if self.peek() == "":
                    raise LexError("syntax error: missing '}'") from None
                raise
            value, found = self.getenv(name)
            if self.skip_unset and not found:
                return "${" + name + "/" + pattern + "/" + repl + "}"
            rx = _compile(pattern, True)
            if replace_all:
                return rx.sub(lambda _m: repl, value) if pattern else value
            m = rx.search(value)
            if m and pattern:
                return value[:m.start()] + repl + value[m.end():]
            return value
        raise LexError(f"unsupported modifier ({chs}) in substitution")


class ShellLex:
    """Expands Dockerfile words against an environment; ``escape`` is the file's escape token."""

    def __init__(self, escape: str = "\\", raw_quotes: bool = False, raw_escapes: bool = False,
                 skip_unset: bool = False) -> None:
        self.escape = escape
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.skip_unset = skip_unset

    def _scanner(self, src: str, env: Mapping[str, str]) -> _Scanner:
        return _Scanner(src, env, self.escape, self.raw_quotes, self.raw_escapes, self.skip_unset)

    def process_word(self, src: str, env: Mapping[str, str]) -> str:
        """The word with quotes removed and variables expanded (no splitting)."""
        word, _ = self._scanner(src, env).process()
        return word

    def process_word_used(self, src: str, env: Mapping[str, str]) -> tuple[str, set[str]]:
        """Like ``process_word``, also naming the variables it looked up (for unused build-arg warnings)."""
        sc = self._scanner(src, env)
        word, _ = sc.process()
        return word, sc.used

    def process_words(self, src: str, env: Mapping[str, str]) -> list[str]:
        """The words, split on unquoted white space (also inside unquoted expansions)."""
        _, words = self._scanner(src, env).process()
        return words


def env_map(pairs: list[str]) -> dict[str, str]:
    """``["K=V", ...]`` as a dict (later entries win, as in an image config)."""
    out: dict[str, str] = {}
    for p in pairs:
        k, _, v = p.partition("=")
        out[k] = v
    return out
