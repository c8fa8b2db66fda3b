"""Attached ``up``: a ``post_start`` hook's output is written as the hook prints it, between the
container's log lines, as Compose v2 writes it (it was printed whole, before any log line)."""

from __future__ import annotations

import re

from tests.integration.compose.conftest import Project, ok

COMPOSE = """
services:
  web:
    image: busybox
    command: ["sh", "-c", "echo main-1; sleep 1; echo main-2; sleep 4; echo main-3"]
    post_start:
      - command: ["sh", "-c", "echo hook-1; sleep 3; echo hook-2"]
networks:
  default:
    ipam:
      config: [{subnet: "${SUBNET}"}]
"""


def _order(stdout: str) -> list[str]:
    """The lines without their padding, in the order written."""
    return [re.sub(r" +\| ", " | ", line) for line in stdout.split("\n") if line.strip()]


def test_hook_output_interleaves_with_the_logs_as_v2(project: Project, compose_v2: str) -> None:
    p = project
    (p.dir / "compose.yaml").write_text(COMPOSE)
    seen = {}
    for tool, run in (("dockyard", p.dy), ("v2", lambda *a: p.v2(compose_v2, *a))):
        r = run("up", "--no-color")
        ok(r)
        seen[tool] = _order(r.stdout)
        ok(run("down", "-t", "0"))
    expected = ["Attaching to web-1", "web-1 | main-1", "web-1 -> | hook-1", "web-1 | main-2", "web-1 -> | hook-2",
                "web-1 | main-3", "\x1b[Kweb-1 exited with code 0"]  # "\r" read as a line end
    for tool in ("v2", "dockyard"):
        lines = seen[tool]
        assert lines[0] == expected[0], (tool, lines)
        assert sorted(lines) == sorted(expected), (tool, lines)
        # main-1 and hook-1 come at the same moment (either first); the rest in time order
        assert lines[3:] == expected[3:], (tool, lines)
    assert p.leftovers() == {}
