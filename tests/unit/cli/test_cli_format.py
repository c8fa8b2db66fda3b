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


def test_ago() -> None:
    now = time.time()
    assert fmt.ago(now) == "0 seconds ago"
    assert fmt.ago(now - 1) == "1 second ago"
    assert fmt.ago(now - 90) == "About a minute ago"
    assert fmt.ago(now - 600) == "10 minutes ago"
    assert fmt.ago(now - 3700) == "About an hour ago"
    assert fmt.ago(now - 5 * 3600) == "5 hours ago"
    assert fmt.ago(now - 3 * 86400) == "3 days ago"
    assert fmt.ago(now + 100) == "0 seconds ago"


def test_table_pads_columns_with_three_spaces_and_trims_line_ends() -> None:
    out = fmt.table(["CONTAINER ID", "NAMES"], [["abc", "web"], ["0123456789abcdef", ""]])
    assert out.splitlines() == [
        "CONTAINER ID       NAMES",
        "abc                web",
        "0123456789abcdef",
    ]


def test_table_with_no_rows_is_the_header() -> None:
    assert fmt.table(["A", "BB"], []) == "A   BB"


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
        ("{{.Missing}}", "<no value>"),
        ("{{.State.Missing}}", "<no value>"),
        ("{{.Id.Deeper}}", "<no value>"),
        ("no actions", "no actions"),
    ],
)
def test_render_field_paths_as_go_templates_print_them(template: str, text: str) -> None:
    assert render(template, INSPECT) == text


def test_render_json_of_a_subtree_round_trips() -> None:
    assert json.loads(render("{{json .Config}}", INSPECT)) == INSPECT["Config"]
    assert render("{{json .State.ExitCode}}", INSPECT) == "3"
    assert render("{{json .Missing}}", INSPECT) == "null"


def test_render_json_is_compact_like_dockers() -> None:
    # Docker's `json` template function is encoding/json: no spaces after ',' and ':'.
    assert render("{{json .Config.Env}}", INSPECT) == '["A=1"]'
    assert render("{{json .State}}", {"State": {"Status": "exited", "Pid": 0}}) == '{"Status":"exited","Pid":0}'
