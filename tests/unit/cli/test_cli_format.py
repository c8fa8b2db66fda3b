"""CLI output helpers and ``--format`` templates (cli/format.py, cli/template.py)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from dockyard.cli import format as fmt
from dockyard.cli.template import render


def test_short_id_drops_the_algorithm_and_keeps_12() -> None:
    assert fmt.short_id("sha256:" + "0123456789abcdef" * 4) == "0123456789ab"
    assert fmt.short_id("0123456789abcdef" * 4) == "0123456789ab"
    assert fmt.short_id("abc") == "abc"


@pytest.mark.parametrize(
    ("n", "text"),
    [(0, "0B"), (999, "999B"), (1000, "1kB"), (1234, "1.23kB"), (4_404_019, "4.4MB"), (123_456_789, "123MB"),
     (2_000_000_000, "2GB"), (5e12, "5TB")],
)
def test_human_size_is_decimal_with_three_significant_digits(n: float, text: str) -> None:
    assert fmt.human_size(n) == text


def test_ago_is_go_units_human_duration() -> None:
    now = time.time()
    assert fmt.ago(now) == "Less than a second ago"
    assert fmt.ago(now - 1) == "1 second ago"
    assert fmt.ago(now - 90) == "About a minute ago"
    assert fmt.ago(now - 600) == "10 minutes ago"
    assert fmt.ago(now - 3700) == "About an hour ago"
    assert fmt.ago(now - 5 * 3600) == "5 hours ago"
    assert fmt.ago(now - 3 * 86400) == "3 days ago"
    assert fmt.ago(now - 20 * 86400) == "2 weeks ago"
    assert fmt.ago(now - 90 * 86400) == "3 months ago"
    assert fmt.ago(now - 800 * 86400) == "2 years ago"
    assert fmt.ago(now + 100) == "Less than a second ago"


def test_table_is_gos_tabwriter_min_width_10_padding_3() -> None:
    # Cells are padded to the widest cell + 3, at least 10; the last cell of a line is not
    # padded, and an empty last cell leaves the padding of the one before (as docker prints).
    out = fmt.table(["CONTAINER ID", "NAMES", "X"], [["abc", "web", ""], ["0123456789abcdef", "", "y"]])
    assert out.splitlines() == [
        "CONTAINER ID       NAMES     X",
        "abc                web       ",
        "0123456789abcdef" + " " * 13 + "y",
    ]


def test_tabwriter_column_blocks_end_at_a_line_without_that_column() -> None:
    assert fmt.tabwrite("a\tb\nlonger-than-ten\nccccccccccccc\td") == \
        "a         b\nlonger-than-ten\nccccccccccccc   d"


@pytest.mark.parametrize(("ports", "text"), [
    ([{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
      {"IP": "::", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}], "0.0.0.0:8080->80/tcp, :::8080->80/tcp"),
    ([{"IP": "0.0.0.0", "PrivatePort": p, "PublicPort": p, "Type": "udp"} for p in (9002, 9000, 9001)],
     "0.0.0.0:9000-9002->9000-9002/udp"),
    ([{"PrivatePort": 80, "Type": "tcp"}, {"PrivatePort": 81, "Type": "tcp"}, {"PrivatePort": 443, "Type": "tcp"}],
     "80-81/tcp, 443/tcp"),
    ([{"IP": "127.0.0.1", "PrivatePort": 7000, "PublicPort": 7000, "Type": "tcp"},
      {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}],
     "127.0.0.1:7000->7000/tcp, 0.0.0.0:8080->80/tcp"),
    ([], ""),
])
def test_ports_column_as_docker_20_10_displays_it(ports: list[dict[str, Any]], text: str) -> None:
    assert fmt.display_ports(ports) == text


@pytest.mark.parametrize(("n", "text"), [(0.3, "Less than a second"), (59, "59 seconds"), (3599, "59 minutes"),
                                         (5399, "About an hour"), (5400, "2 hours")])
def test_human_duration_rounds_hours_as_go_units(n: float, text: str) -> None:
    assert fmt.human_duration(n) == text


def test_go_quote_and_ellipsis() -> None:
    assert fmt.go_quote('sh -c "echo \\x"\n') == '"sh -c \\"echo \\\\x\\"\\n"'
    assert fmt.ellipsis("/bin/sh -c while true; do sleep 1; done", 20) == "/bin/sh -c while tr…"
    assert fmt.ellipsis("short", 20) == "short"


def test_natural_sort_orders_digit_runs_as_numbers() -> None:
    assert sorted(["net10", "net2", "bridge", "net1"], key=fmt.natural_key) == ["bridge", "net1", "net2", "net10"]


INSPECT: dict[str, Any] = {
    "Id": "abc",
    "State": {"Status": "exited", "Running": False, "ExitCode": 3, "Pid": 0},
    "Config": {"Env": ["A=1"], "Tty": False, "Labels": {"b": "2", "a": "1"}},
    "Args": ["-c", "exit 3"],
}


@pytest.mark.parametrize(
    ("template", "text"),
    [
        ("{{.State.Status}}", "exited"),
        ("{{ .State.ExitCode }}", "3"),
        ("{{.State.Running}}", "false"),
        ("{{.Id}} is {{.State.Status}}!", "abc is exited!"),
        ("{{.Args}}", "[-c exit 3]"),
        ("{{.Config.Labels}}", "map[a:1 b:2]"),
        ("{{.Config.Labels.nope}}", "<no value>"),
        ("no actions", "no actions"),
    ],
)
def test_render_field_paths_as_go_templates_print_them(template: str, text: str) -> None:
    assert render(template, INSPECT) == text


def test_render_json_of_a_subtree_round_trips() -> None:
    assert json.loads(render("{{json .Config}}", INSPECT)) == INSPECT["Config"]
    assert render("{{json .State.ExitCode}}", INSPECT) == "3"
    assert render("{{json .Config.Labels.nope}}", INSPECT) == "null"


def test_render_json_is_compact_like_dockers() -> None:
    # Docker's `json` template function is encoding/json: no spaces after ',' and ':'.
    assert render("{{json .Config.Env}}", INSPECT) == '["A=1"]'
    assert render("{{json .State}}", {"State": {"Status": "exited", "Pid": 0}}) == '{"Status":"exited","Pid":0}'
