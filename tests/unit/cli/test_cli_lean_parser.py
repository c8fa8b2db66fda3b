"""The CLI builds only the parser of the module that owns a hot command; the map must stay true."""

from __future__ import annotations

import argparse

from dockyard.cli import main as cli


def _commands_of(module: str) -> set[str]:
    parser = cli.build_parser(only=module)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return set(sub.choices)


def test_each_lean_command_is_registered_by_the_module_it_names() -> None:
    for command, module in cli._LEAN.items():
        assert command in _commands_of(module), f"{command!r} is not registered by cli/{module}.py"


def test_global_options_are_skipped_when_finding_the_command() -> None:
    assert cli._lean_module(["-H", "unix:///x.sock", "run", "busybox"]) == "containers"
    assert cli._lean_module(["--tlsverify", "ps"]) == "containers"
    assert cli._lean_module(["network", "ls"]) == "networks"
    assert cli._lean_module(["system", "df"]) is None  # not hot: every module is loaded
