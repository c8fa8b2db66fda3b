"""``--help`` laid out as the docker CLI's (cobra and pflag): usage, summary, options with their
type words and defaults in one aligned column, management commands and commands."""

from __future__ import annotations

import argparse

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.cli.argparser import Parser

PROG = "dockyard"


def _type_word(action: argparse.Action) -> str:
    if action.nargs == 0:
        return ""
    if action.metavar:
        return str(action.metavar)
    if isinstance(action, argparse._AppendAction):
        return "list"
    if action.type is int:
        return "int"
    if action.type is float:
        return "decimal"
    return "string"


def _default(action: argparse.Action) -> str:
    d = action.default
    if action.nargs == 0 or d in (None, "", [], 0, False) or d is argparse.SUPPRESS or "(default " in (action.help or ""):
        return ""
    return f' (default "{d}")' if isinstance(d, str) else f" (default {d})"


def options(parser: argparse.ArgumentParser) -> str:
    """pflag's FlagUsages: ``  -x, --name type`` padded to one column, then the help line."""
    rows = []
    for action in parser._actions:
        if not action.option_strings or action.help == argparse.SUPPRESS:
            continue
        longs = [o for o in action.option_strings if o.startswith("--")]
        shorts = [o for o in action.option_strings if not o.startswith("--")]
        name = longs[0] if longs else shorts[0]
        left = f"  {shorts[0]}, {name}" if shorts and longs else f"      {name}"
        word = _type_word(action)
        if word:
            left += f" {word}"
        rows.append((left, (action.help or "") + _default(action)))
    rows.sort(key=lambda r: r[0].strip().lstrip("-").split(",")[-1].strip().lstrip("-").lower())
    width = max((len(left) for left, _ in rows), default=0)
    return "\n".join(f"{left}{' ' * (width - len(left))}   {text}".rstrip() for left, text in rows)


def command_help(parser: Parser) -> str:
    usage = parser.usage_line or f"{parser.prog} [OPTIONS]"
    sub = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    out = [f"\nUsage:  {usage}\n", parser.summary or parser.description or ""]
    if parser.prog == PROG:
        return top_help()
    opts = options(parser)
    if opts:
        out.append(f"\nOptions:\n{opts}")
    if sub:
        names = sorted(n for n in sub[0].choices)
        out.append("\nCommands:\n" + "\n".join(f"  {n:<11} {sub[0].choices[n].summary}" for n in names))
        out.append(f"\nRun '{parser.prog} COMMAND --help' for more information on a command.")
    return "\n".join(out) + "\n"


def management_help(name: str) -> str:
    from dockyard.cli.main import MANAGEMENT

    summary, verbs = MANAGEMENT[name]
    lines = [f"  {verb:<11} {text}" for verb, (_, text) in sorted(verbs.items()) if text]
    return (f"\nUsage:  {PROG} {name} COMMAND\n\n{summary}\n\nCommands:\n" + "\n".join(lines)
            + f"\n\nRun '{PROG} {name} COMMAND --help' for more information on a command.\n")


def top_help() -> str:
    from dockyard.cli.main import COMMANDS, MANAGEMENT, Parser, _global_options

    p = Parser(prog=PROG, add_help=False)
    _global_options(p)
    mgmt = "\n".join(f"  {n:<11} {MANAGEMENT[n][0]}" for n in sorted(MANAGEMENT))
    cmds = "\n".join(f"  {n:<11} {COMMANDS[n]}" for n in sorted(COMMANDS))
    return (f"\nUsage:  {PROG} [OPTIONS] COMMAND\n\nA self-sufficient runtime for containers\n\n"
            f"Options:\n{options(p)}\n\nManagement Commands:\n{mgmt}\n\nCommands:\n{cmds}\n\n"
            f"Run '{PROG} COMMAND --help' for more information on a command.\n")
