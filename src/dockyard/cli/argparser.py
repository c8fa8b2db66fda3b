"""The argparse side of the CLI: docker's help layout and usage errors. Imported only when a run
needs argparse (``liteparse`` takes the hot read commands without it)."""

from __future__ import annotations

import argparse

from dockyard.cli.errors import ArgumentCountError, CLIError, StatusError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn

PROG = "dockyard"

# strconv.ParseBool's words.
GO_BOOLS = {**dict.fromkeys(("1", "t", "T", "TRUE", "true", "True"), True),
            **dict.fromkeys(("0", "f", "F", "FALSE", "false", "False"), False)}

# argparse passes every message through gettext, which stats a dozen locale paths per call
# (~3 ms of each start); Dockyard's messages are English only.
argparse._ = str  # type: ignore[attr-defined]
argparse.ngettext = lambda singular, plural, n: singular if n == 1 else plural  # type: ignore[attr-defined]


class Formatter(argparse.HelpFormatter):
    """argparse's formatter, sized with ``os.get_terminal_size``: its own default imports shutil
    (~3 ms with bz2 and lzma), and add_argument builds a formatter for every flag."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        super().__init__(prog, indent_increment, max_help_position, width or 78)


class Parser(argparse.ArgumentParser):
    """argparse with docker's help layout and docker's usage errors (raised, never printed here)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.usage_line: str = kwargs.pop("usage_line", "")
        self.summary: str = kwargs.pop("summary", "")
        kwargs.setdefault("formatter_class", Formatter)
        super().__init__(*args, **kwargs)

    def format_help(self) -> str:
        from dockyard.cli.help import command_help

        return command_help(self)

    def error(self, message: str) -> NoReturn:
        raise usage_error(self, message)

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        """pflag's ``--flag=false`` for a boolean flag of a command (argparse has no value for them)."""
        import sys

        args, explicit = self._explicit_bools(list(sys.argv[1:] if args is None else args))
        ns, extra = super().parse_known_args(args, namespace)
        for dest, value in explicit:
            setattr(ns, dest, value)
        return ns, extra

    def _explicit_bools(self, args: list[str]) -> tuple[list[str], list[tuple[str, bool]]]:
        if any(isinstance(a, argparse._SubParsersAction) for a in self._actions):
            return args, []  # the sub-command's parser reads its own flags
        kept: list[str] = []
        explicit: list[tuple[str, bool]] = []
        for i, arg in enumerate(args):
            if arg == "--":
                return kept + args[i:], explicit
            name, eq, value = arg.partition("=")
            action = self._option_string_actions.get(name) if eq and arg.startswith("--") else None
            if not isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
                kept.append(arg)
                continue
            if value not in GO_BOOLS:
                flags = "/".join(action.option_strings)
                self.error(f'argument {flags}: {value}\0strconv.ParseBool: parsing "{value}": invalid syntax')
            explicit.append((action.dest, GO_BOOLS[value] == isinstance(action, argparse._StoreTrueAction)))
        return kept, explicit

    def parse_args(self, args: Any = None, namespace: Any = None) -> Any:
        """Unknown flags are the sub-command's error, named as docker names it (``dockyard run``)."""
        ns, extra = self.parse_known_args(args, namespace)
        if extra:
            raise usage_error(_innermost(self, ns), "unrecognized arguments: " + " ".join(extra))
        return ns


def _innermost(parser: argparse.ArgumentParser, ns: argparse.Namespace) -> Any:
    """The deepest sub-command parser ``ns`` went through."""
    while True:
        sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
        name = getattr(ns, sub.dest, None) if sub is not None and sub.dest != argparse.SUPPRESS else None
        if sub is None or name not in sub.choices:
            return parser
        parser = sub.choices[name]


def usage_error(parser: Parser, message: str) -> CLIError:
    """argparse's complaint as docker words it."""
    command = parser.prog
    if message.startswith("unrecognized arguments: "):
        extra = message.removeprefix("unrecognized arguments: ").split()
        flag = next((x for x in extra if x.startswith("-") and x != "-"), "")
        if flag:
            name = flag.split("=", 1)[0]
            if name.startswith("--"):
                return UsageError(f"unknown flag: {name}", command)
            return UsageError(f"unknown shorthand flag: '{name[1:2]}' in {name}", command)
        return ArgumentCountError(f'"{command}" accepts no arguments.' if not _positionals(parser)
                                  else f'"{command}" requires at most {_positionals(parser)} arguments.',
                                  command, _usage_block(parser))
    if message.startswith("the following arguments are required"):
        return ArgumentCountError(f'"{command}" requires at least 1 argument.', command, _usage_block(parser))
    if message.startswith("argument ") and ": " in message:
        flags, _, rest = message.removeprefix("argument ").partition(": ")
        opts = flags.split("/")
        names = ", ".join([o for o in opts if not o.startswith("--")] + [o for o in opts if o.startswith("--")][:1])
        if "\0" in rest:  # a FlagValueError: value and reason
            value, _, reason = rest.partition("\0")
            return UsageError(f'invalid argument "{value}" for "{names}" flag: {reason}', command)
        if rest.startswith("expected one argument"):
            return UsageError(f"flag needs an argument: {flags.split('/')[-1]}", command)
        if rest.startswith("invalid choice: "):
            value = rest.removeprefix("invalid choice: ").split(" (", 1)[0].strip("'")
            if flags.startswith("-"):
                return UsageError(f'invalid argument "{value}" for "{names}" flag: invalid value', command)
            if flags != "COMMAND":
                return ArgumentCountError(f'invalid argument "{value}" for "{command}"', command, _usage_block(parser))
            return StatusError(f"{PROG}: '{value}' is not a {PROG} command.\nSee '{PROG} --help'", 1)
        return UsageError(f"{names}: {rest}", command)
    return UsageError(message, command)


def _positionals(parser: argparse.ArgumentParser) -> int:
    return sum(1 for a in parser._actions if not a.option_strings and a.nargs != argparse.PARSER)


def _usage_block(parser: Parser) -> str:
    usage = parser.usage_line or f"{parser.prog} [OPTIONS]"
    return f"Usage:  {usage}\n\n{parser.summary}".rstrip()
