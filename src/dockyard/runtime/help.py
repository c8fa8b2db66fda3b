"""runc's help and version text (urfave/cli's layout): NAME, USAGE, COMMANDS, OPTIONS.

Tools that drive runc read these screens (runc's own tests match their first lines),
so ``-h`` on the runtime and on each verb prints them in that shape, exit 0.
"""

from __future__ import annotations

import argparse
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn

PROG = "dockyard-runc"
SPEC_VERSION = "1.0.2-dev"

ABOUT = f"""\
{PROG} is a command line client for running applications packaged according to
the Open Container Initiative (OCI) format, with runc's command line: a peer of
runc for containerd, dockerd and anything else that drives runc.

Containers are configured using bundles. A bundle for a container is a directory
that includes a specification file named "config.json" and a root filesystem.

To start a new instance of a container:

    # {PROG} run [ -b bundle ] <container-id>
"""


def version_text(version: str) -> str:
    import platform

    return (f"{PROG} version {version}\ncommit: none\nspec: {SPEC_VERSION}\n"
            f"python: {platform.python_version()}\n")


class RuncParser(argparse.ArgumentParser):
    """argparse with runc's help screens; ``summary``/``arg_usage`` set per verb."""

    summary = ""
    arg_usage = ""
    details = ""
    version = ""

    def format_help(self) -> str:
        if self.version:
            return self._top_help()
        name = self.prog.split()[-1]
        out = [f"NAME:\n   {PROG} {name} - {self.summary}\n\n", "USAGE:\n",
               f"   {PROG} {name} [command options] {self.arg_usage}".rstrip() + "\n"]
        if self.details:
            out.append("\n" + self.details.rstrip() + "\n")
        options = _option_rows(self, verb=True)
        if options:
            out.append("\nOPTIONS:\n" + options)
        return "".join(out)

    def _top_help(self) -> str:
        verbs = _subcommands(self)
        width = max(len(n) for n, _ in verbs)
        commands = "".join(f"   {n.ljust(width)}  {h}\n" for n, h in verbs)
        return (f"NAME:\n   {PROG} - Open Container Initiative runtime\n\n{ABOUT}\n"
                f"USAGE:\n   {PROG} [global options] command [command options] [arguments...]\n\n"
                f"VERSION:\n   {version_text(self.version).split(' ', 2)[2]}\n"
                f"COMMANDS:\n{commands}\nGLOBAL OPTIONS:\n{_option_rows(self)}")

    def error(self, message: str) -> NoReturn:
        """urfave/cli prints the message and the verb's help, and exits 1 (argparse: 2)."""
        sys.stderr.write(f"Incorrect Usage: {message}\n\n")
        sys.stderr.write(self.format_help())
        sys.exit(1)


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                # typeshed: a metavar may be a tuple; a subcommand's pseudo-action has its name (a str)
                rows.append((choice.dest if not choice.metavar else choice.metavar, choice.help or ""))  # type: ignore[arg-type]
    rows.append(("help, h", "Shows a list of commands or help for one command"))
    return rows


def _option_rows(parser: argparse.ArgumentParser, verb: bool = False) -> str:
    """One row per flag; a verb's screen does not list its -h (runc's do not)."""
    rows: list[tuple[str, str]] = []
    for action in parser._actions:
        if not action.option_strings or action.help == argparse.SUPPRESS:
            continue
        if verb and isinstance(action, argparse._HelpAction):
            continue
        names = sorted(action.option_strings, key=lambda s: (not s.startswith("--"), s))
        takes = action.nargs != 0
        flags = ", ".join(f"{n} value" if takes else n for n in names)
        text = action.help or ""
        if isinstance(action, argparse._HelpAction):
            text = "show help"
        elif takes and isinstance(action.default, (str, int)) and action.default not in ("", 0):
            text += f' (default: "{action.default}")' if isinstance(action.default, str) else \
                f" (default: {action.default})"
        rows.append((flags, text))
    if not rows:
        return ""
    width = max(len(f) for f, _ in rows)
    return "".join(f"   {f.ljust(width)}  {t}".rstrip() + "\n" for f, t in rows)


_GLOBAL_WITH_VALUE = ("--root", "--log", "--log-format", "--criu", "--rootless")


def no_help_topic(argv: list[str], known: Any) -> int | None:
    """``dockyard-runc foo -h`` (or ``help foo``) for an unknown verb: runc's message, exit 3."""
    words, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a in _GLOBAL_WITH_VALUE:
            skip = True
        elif not a.startswith("-"):
            words.append(a)
    if not words or words[0] in known or not ({"-h", "--help"} & set(argv) or words[0] in ("help", "h")):
        return None
    topic = words[1] if words[0] in ("help", "h") and len(words) > 1 else words[0]
    if topic in known or topic in ("help", "h"):
        return None
    sys.stderr.write(f"No help topic for '{topic}'\n")
    return 3
