"""The Dockerfile parser against BuildKit's parser corpus (shared/testdata/dockerfile-parser)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dockyard.builder.instructions import Arg, Copy, Healthcheck, KeyValues, Run, parse_dockerfile
from dockyard.builder.parser import ParseError, parse
from dockyard.builder.shell_lex import LexError, ShellLex

DATA = Path(__file__).resolve().parents[4] / "shared" / "testdata" / "dockerfile-parser"
CASES = sorted(p.name for p in (DATA / "cases").iterdir()) if DATA.is_dir() else []
NEGATIVE = sorted(p.name for p in (DATA / "negative").iterdir()) if DATA.is_dir() else []


def test_corpus_present() -> None:
    assert len(CASES) >= 20 and len(NEGATIVE) >= 4


@pytest.mark.parametrize("case", CASES)
def test_builder_parser_case(case: str) -> None:
    d = DATA / "cases" / case
    result = parse((d / "Dockerfile").read_bytes())
    assert result.ast.dump() + "\n" == (d / "result").read_text(encoding="utf-8")


@pytest.mark.parametrize("case", NEGATIVE)
def test_builder_parser_negative(case: str) -> None:
    with pytest.raises(ParseError):
        parse((DATA / "negative" / case / "Dockerfile").read_bytes())


def test_line_numbers() -> None:
    ast = parse((DATA / "line-numbers" / "Dockerfile").read_text()).ast
    assert (ast.start_line, ast.end_line) == (5, 31)
    assert [(c.start_line, c.end_line) for c in ast.children] == [(5, 5), (11, 12), (17, 31)]


def _lex_lines(name: str) -> list[str]:
    return [line.rstrip("\n") for line in (DATA / "shell-lex" / name).open(encoding="utf-8")]


def test_shell_lex_env_var_corpus() -> None:
    env = {"PWD": "/home", "SHELL": "bash", "KOREAN": "한국어", "NULL": ""}
    lex = ShellLex()
    checked = 0
    for line in _lex_lines("envVarTest"):
        if not line.strip() or line.startswith("#"):
            continue
        platform, src, expected = (f.strip() for f in line.split("|"))
        if platform == "W":
            continue
        checked += 1
        if expected == "error":
            with pytest.raises(LexError):
                lex.process_word(src, env)
        else:
            assert lex.process_word(src, env) == expected, src
    assert checked > 200


def test_shell_lex_words_corpus() -> None:
    env: dict[str, str] = {}
    lex = ShellLex()
    checked = 0
    for line in _lex_lines("wordsTest"):
        if not line or line.startswith("#"):
            continue
        if line.startswith("ENV "):
            k, _, v = line[3:].lstrip(" ").partition("=")
            env[k] = v
            continue
        src, expected = line.split("|")
        want = expected.lstrip(" ").split(",")
        checked += 1
        if want == ["error"]:
            with pytest.raises(LexError):
                lex.process_words(src.strip(), env)
        else:
            assert lex.process_words(src.strip(), env) == want, src
    assert checked > 15


@pytest.mark.parametrize("word,expected", [
    ("${V#*/}", "b/c.tar.gz"), ("${V##*/}", "c.tar.gz"), ("${V%.*}", "a/b/c.tar"), ("${V%%.*}", "a/b/c"),
    ("${V/b/X}", "a/X/c.tar.gz"), ("${V//[a-c]/X}", "X/X/X.tXr.gz"), ("${V-x}", "a/b/c.tar.gz"),
    ("${E-x}", ""), ("${E:-x}", "x"), ("${U-x}", "x"), ("${E+y}", "y"), ("${E:+y}", ""),
])
def test_shell_lex_modifiers(word: str, expected: str) -> None:
    assert ShellLex().process_word(word, {"V": "a/b/c.tar.gz", "E": ""}) == expected


def test_parser_module_prints_dump(tmp_path: Path) -> None:
    good = DATA / "cases" / "json" / "Dockerfile"
    out = subprocess.run([sys.executable, "-m", "dockyard.builder.parser", str(good)], capture_output=True,
                         text=True, check=True)
    assert out.stdout == (DATA / "cases" / "json" / "result").read_text()
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM busybox\nENV PATH\n")
    res = subprocess.run([sys.executable, "-m", "dockyard.builder.parser", str(bad)], capture_output=True, text=True,
                         check=False)
    assert res.returncode != 0 and ":2: ENV must have two arguments" in res.stderr


def test_directives_heredoc_and_flags() -> None:
    df = parse_dockerfile(
        "# syntax=docker/dockerfile:1.7\n# check=skip=all\nARG BASE=busybox\nFROM ${BASE} AS one\n"
        "RUN --mount=type=cache,target=/c --network=none <<EOF\necho hi\nEOF\n"
        "COPY --from=one --chown=1:1 --chmod=644 --link --parents --exclude=*.md --exclude=x a b /dst/\n"
        "COPY <<-EOT /f\n\tline\n\tEOT\n"
        "ENV A=1 B=\"two words\"\nLABEL x=y\nARG Z W=3\n"
        "HEALTHCHECK --interval=5s --retries=2 CMD true\nFROM one\n")
    assert [a.args for a in df.meta_args] == [[("BASE", "busybox")]]
    one, two = df.stages
    assert (one.name, one.base, two.base) == ("one", "${BASE}", "one")
    run, copy, heredoc_copy, env, _label, arg, health = one.instructions
    assert isinstance(run, Run) and run.flags["mount"] == ["type=cache,target=/c"]
    assert run.flags["network"] == "none" and run.heredocs[0].content == "echo hi\n"
    assert isinstance(copy, Copy) and copy.flags["from"] == "one" and copy.flags["link"] is True
    assert copy.flags["exclude"] == ["*.md", "x"] and copy.sources == ["a", "b"] and copy.dest == "/dst/"
    assert isinstance(heredoc_copy, Copy) and heredoc_copy.sources == []
    assert heredoc_copy.heredocs[0].content == "\tline\n" and heredoc_copy.heredocs[0].chomp
    assert isinstance(env, KeyValues) and env.pairs == [("A", "1"), ("B", '"two words"')]
    assert isinstance(arg, Arg) and arg.args == [("Z", None), ("W", "3")]
    assert isinstance(health, Healthcheck) and health.test == ["CMD-SHELL", "true"]


@pytest.mark.parametrize("text,problem,line", [
    ("FROM busybox\nCOPY --bogus=1 a b\n", "unknown flag: bogus", 2),
    ("FROM busybox\nFOO bar\n", "unknown instruction: FOO", 2),
    ("RUN true\n", "no build stage", 1),
    ("FROM busybox\n\nCOPY a\n", "COPY requires at least two arguments", 3),
    ("FROM busybox\nSHELL sh -c\n", "JSON form", 2),
    ("FROM busybox\nRUN <<EOF\nnever ends\n", "unterminated heredoc", 2),
    ("# escape=x\nFROM busybox\n", "invalid escape token", 1),
    ("FROM a AS x\nFROM b AS x\n", "duplicate stage name", 2),
    ("FROM busybox\nONBUILD FROM x\n", "isn't allowed as an ONBUILD trigger", 2),
])
def test_errors_name_file_line_problem(text: str, problem: str, line: int) -> None:
    with pytest.raises(ParseError) as info:
        parse_dockerfile(text, filename="ctx/Dockerfile")
    assert problem in str(info.value) and str(info.value).startswith(f"ctx/Dockerfile:{line}")
