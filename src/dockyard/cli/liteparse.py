"""A parser for the hot read commands (``ps``, ``images``, ``version``, ``network ls``, ...) that
needs neither argparse nor ``re``: importing those two costs more than the rest of such a run.

The command modules register their flags on it exactly as on argparse (``add_argument``,
``add_subparsers``, ``set_defaults``); it parses the common forms only (``-aq``, ``--flag=v``,
``--flag v``, ``-fv``, ``--``, positionals) and raises ``Fallback`` for anything else: help, an
unknown or abbreviated flag, a bad value, a missing argument. ``main`` then parses the same argv
with argparse, which prints docker's usage error or help. tests/unit/cli checks that both
parsers give the same namespace.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class Fallback(Exception):
    """This argv needs argparse."""


class Namespace:
    """argparse.Namespace's behaviour as the CLI uses it: attributes, ``vars()``, equality."""

    def __init__(self, **kwargs: Any) -> None:
        self.__dict__.update(kwargs)

    def __eq__(self, other: object) -> bool:
        return vars(self) == vars(other)

    def __contains__(self, key: str) -> bool:
        return key in self.__dict__

    def __repr__(self) -> str:
        return "Namespace(" + ", ".join(f"{k}={v!r}" for k, v in sorted(vars(self).items())) + ")"


_GO_BOOLS = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
             "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}
_ACTIONS = ("store", "store_true", "store_false", "append", "help", "store_const")
_ARG_KEYS = {"action", "default", "type", "dest", "nargs", "choices", "metavar", "help", "const", "required"}


class _Arg:
    def __init__(self, names: tuple[str, ...], kw: dict[str, Any]) -> None:
        if set(kw) - _ARG_KEYS or kw.get("action", "store") not in _ACTIONS:
            raise Fallback(f"{names}: {kw}")
        self.names = names
        self.action: str = kw.get("action", "store")
        self.positional = not names[0].startswith("-")
        self.nargs = kw.get("nargs")
        if self.nargs not in (None, "?", "*", "+") or (self.nargs is not None and not self.positional):
            raise Fallback(f"{names}: nargs={self.nargs!r}")
        self.type = kw.get("type")
        self.choices = kw.get("choices")
        self.const = kw.get("const")
        self.required = kw.get("required", False)
        self.dest: str = kw.get("dest") or self._dest()
        default = {"store_true": False, "store_false": True}.get(self.action)
        self.default = kw.get("default", default)
        if self.positional and self.nargs == "*" and "default" not in kw:
            self.default = []

    def _dest(self) -> str:
        if self.positional:
            return self.names[0]
        name = next((n for n in self.names if n.startswith("--")), self.names[0])
        return name.lstrip("-").replace("-", "_")

    def takes_value(self) -> bool:
        return self.action in ("store", "append")

    def convert(self, value: str) -> Any:
        if self.type is not None:
            try:
                value = self.type(value)
            except Exception as err:  # the type's message is argparse's to word
                raise Fallback(str(err)) from None
        if self.choices is not None and value not in self.choices:
            raise Fallback(f"{value!r} not in choices")
        return value


class LiteParser:
    """The subset of argparse.ArgumentParser that command registration and parsing use."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.prog = kwargs.get("prog", "")
        self.args: list[_Arg] = []
        self.flags: dict[str, _Arg] = {}
        self.defaults: dict[str, Any] = {}
        self.sub: LiteSub | None = None

    def add_argument(self, *names: str, **kw: Any) -> _Arg:
        arg = _Arg(names, kw)
        self.args.append(arg)
        for n in names if not arg.positional else ():
            self.flags[n] = arg
        return arg

    def set_defaults(self, **kw: Any) -> None:
        self.defaults.update(kw)

    def add_subparsers(self, **kw: Any) -> LiteSub:
        if set(kw) - {"dest", "metavar", "parser_class", "title", "help"}:
            raise Fallback(f"add_subparsers({kw})")
        self.sub = LiteSub(kw.get("dest"))
        return self.sub

    def __getattr__(self, name: str) -> Any:  # add_mutually_exclusive_group, add_argument_group, ...
        raise Fallback(f"LiteParser.{name}")

    def parse_args(self, argv: list[str], ns: Namespace | None = None) -> Namespace:
        ns = ns if ns is not None else Namespace()
        for arg in self.args:
            if arg.action != "help" and arg.dest not in vars(ns):
                default = arg.default
                if isinstance(default, str) and arg.type is not None and not arg.positional:
                    default = arg.convert(default)  # argparse converts a string default too
                setattr(ns, arg.dest, default)
        if self.sub is not None and self.sub.dest:
            setattr(ns, self.sub.dest, None)
        for k, v in self.defaults.items():
            setattr(ns, k, v)
        positionals, rest = self._options(argv, ns)
        if rest is not None:  # argparse: the sub-command's namespace overrides
            ns.__dict__.update(vars(rest[0].parse_args(rest[1])))
            return ns
        self._assign(positionals, ns)
        return ns

    def _options(self, argv: list[str], ns: Namespace) -> tuple[list[str], tuple[LiteParser, list[str]] | None]:
        """Sets the flags of ``argv``; returns the positionals and, at a sub-command, its parser and argv."""
        positionals: list[str] = []
        i = 0
        while i < len(argv):
            word = argv[i]
            i += 1
            if word == "--":
                positionals.extend(argv[i:])
                break
            if not word.startswith("-") or word == "-" or _negative(word):
                if self.sub is not None and not positionals:
                    parser = self.sub.choices.get(word)
                    if parser is None:
                        raise Fallback(f"unknown command {word}")
                    if self.sub.dest:
                        setattr(ns, self.sub.dest, word)
                    return positionals, (parser, argv[i:])
                positionals.append(word)
                continue
            i = self._flag(word, argv, i, ns)
        if self.sub is not None:
            raise Fallback("no sub-command")
        return positionals, None

    def _flag(self, word: str, argv: list[str], i: int, ns: Namespace) -> int:
        if word.startswith("--"):
            name, eq, value = word.partition("=")
            arg = self.flags.get(name)
            if arg is None:
                raise Fallback(f"unknown flag {name}")
            if not arg.takes_value():
                if eq:  # pflag's --flag=false
                    if arg.action not in ("store_true", "store_false") or value not in _GO_BOOLS:
                        raise Fallback(f"{name}={value}")
                    setattr(ns, arg.dest, _GO_BOOLS[value] == (arg.action == "store_true"))
                    return i
                self._set(arg, None, ns)
                return i
            if not eq:
                value, i = _next_value(argv, i)
            self._set(arg, value, ns)
            return i
        j = 1
        while j < len(word):  # -aq, -fvalue, -f value
            arg = self.flags.get("-" + word[j])
            if arg is None:
                raise Fallback(f"unknown shorthand {word[j]}")
            j += 1
            if not arg.takes_value():
                self._set(arg, None, ns)
                continue
            value = word[j:].removeprefix("=")
            if not value:
                value, i = _next_value(argv, i)
            self._set(arg, value, ns)
            break
        return i

    @staticmethod
    def _set(arg: _Arg, value: str | None, ns: Namespace) -> None:
        if arg.action == "help":
            raise Fallback("help")
        if arg.action == "store_true":
            setattr(ns, arg.dest, True)
        elif arg.action == "store_false":
            setattr(ns, arg.dest, False)
        elif arg.action == "store_const":
            setattr(ns, arg.dest, arg.const)
        elif arg.action == "append":
            current = getattr(ns, arg.dest, None)
            setattr(ns, arg.dest, [*(current or []), arg.convert(value or "")])
        else:
            setattr(ns, arg.dest, arg.convert(value or ""))

    def _assign(self, words: list[str], ns: Namespace) -> None:
        for arg in (a for a in self.args if not a.positional and a.required):
            raise Fallback(f"required flag {arg.names}")
        positional = [a for a in self.args if a.positional]
        for k, arg in enumerate(positional):
            later = sum(1 for a in positional[k + 1:] if a.nargs in (None, "+"))
            if arg.nargs is None or arg.nargs == "+":
                if len(words) <= later or (arg.nargs is None and len(words) - later < 1):
                    raise Fallback(f"missing {arg.dest}")
                take = 1 if arg.nargs is None else len(words) - later
                values = [arg.convert(w) for w in words[:take]]
                setattr(ns, arg.dest, values[0] if arg.nargs is None else values)
                words = words[take:]
            elif arg.nargs == "?":
                if len(words) > later:
                    setattr(ns, arg.dest, arg.convert(words[0]))
                    words = words[1:]
            else:
                take = len(words) - later
                setattr(ns, arg.dest, [arg.convert(w) for w in words[:take]])
                words = words[take:]
        if words:
            raise Fallback(f"extra arguments {words}")


class LiteSub:
    """``add_subparsers``' result: ``add_parser`` by name and aliases."""

    def __init__(self, dest: str | None) -> None:
        self.dest = dest
        self.choices: dict[str, LiteParser] = {}

    def add_parser(self, name: str, **kw: Any) -> LiteParser:
        parser = LiteParser(prog=kw.get("prog", ""))
        for n in (name, *kw.get("aliases", ())):
            self.choices[n] = parser
        return parser


def _negative(word: str) -> bool:
    """argparse's negative-number look (``-1``, ``-.5``): a value, not a flag."""
    body = word[1:]
    return bool(body) and body.replace(".", "", 1).isdigit()


def _next_value(argv: list[str], i: int) -> tuple[str, int]:
    if i >= len(argv):
        raise Fallback("flag needs an argument")
    value = argv[i]
    if value.startswith("-") and value != "-" and not _negative(value):
        raise Fallback("flag value looks like a flag")  # argparse: "expected one argument"
    return value, i + 1
