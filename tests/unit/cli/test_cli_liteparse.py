"""The argparse-free parser of the hot read commands gives argparse's namespace, or steps aside."""

from __future__ import annotations

import sys

import pytest

from dockyard.cli import main as cli
from dockyard.cli.liteparse import Fallback

PLAIN = [
    ["ps"], ["ps", "-a"], ["ps", "-aq"], ["ps", "-a", "-q", "--no-trunc"], ["ps", "-n", "3"], ["ps", "-n3"],
    ["ps", "--last=2"], ["ps", "-n", "-1"], ["ps", "-f", "name=x", "--filter", "status=exited", "-s"],
    ["ps", "--format", "{{.ID}}"], ["ps", "--format={{.Names}}\t{{.Image}}"], ["ps", "-l"],
    ["-H", "unix:///x.sock", "ps", "-a"], ["--context", "c", "--tlsverify", "-D", "ps"],
    ["images"], ["images", "-a", "busybox"], ["images", "busybox:latest", "-q"], ["images", "--digests", "--no-trunc"],
    ["images", "-f", "dangling=true", "--format", "json"], ["version"], ["version", "--format", "{{.Server.Version}}"],
    ["info"], ["info", "-f", "{{.ID}}"], ["network", "ls"], ["network", "ls", "-q", "--no-trunc"],
    ["network", "list", "-f", "driver=bridge"], ["volume", "ls"], ["volume", "ls", "-q"],
    ["logs", "c1"], ["logs", "-f", "--tail", "5", "c1"], ["logs", "-t", "--since", "1m", "c1"],
    ["history", "busybox"], ["history", "--no-trunc", "-q", "busybox"], ["history", "--human=false", "busybox"],
    ["images", "--", "busybox"], ["ps", "--no-trunc=false", "-a"], ["history", "--human=0", "busybox"],
]

# Forms argparse must word (errors, help) or that the lite parser does not take.
ARGPARSE_ONLY = [
    ["ps", "--help"], ["ps", "--bogus"], ["ps", "-x"], ["ps", "--no-tr"], ["ps", "-n"], ["ps", "-n", "x"],
    ["ps", "--format"], ["ps", "extra"], ["images", "a", "b"], ["network"], ["network", "bogus"], ["logs"],
    ["ps", "--format", "--all"], ["network", "ls", "--help"], ["version", "--help"],
    ["history", "--human=maybe", "busybox"],
]


def _vars(ns: object) -> dict[str, object]:
    """The namespace less the parsers themselves (``parser``, ``net_parser``: only help uses them)."""
    return {k: v for k, v in vars(ns).items() if not k.endswith("parser")}


def _lite(argv: list[str]) -> object:
    lean = cli._lean_module(argv)
    return cli.build_parser(lean, cli._subcommand(argv), lite=True).parse_args(argv)


def _full(argv: list[str]) -> object:
    lean = cli._lean_module(argv)
    return cli.build_parser(lean, cli._subcommand(argv)).parse_args(argv)


@pytest.mark.parametrize("argv", PLAIN, ids=" ".join)
def test_the_lite_parser_gives_argparses_namespace(argv: list[str]) -> None:
    assert cli._subcommand(argv) in cli._LITE
    assert _vars(_lite(argv)) == _vars(_full(argv))


@pytest.mark.parametrize("argv", ARGPARSE_ONLY, ids=" ".join)
def test_errors_and_help_fall_back_to_argparse(argv: list[str]) -> None:
    with pytest.raises(Fallback):
        _lite(argv)


def test_a_plain_read_command_imports_neither_argparse_nor_re_nor_json() -> None:
    import subprocess

    code = ("import sys\nfrom dockyard.cli import main\nmain.main(['-H', 'unix:///nonexistent.sock', 'ps', '-a'])\n"
            "print(sorted(m for m in ('argparse', 're', 'json', 'enum', 'socket') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
