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


LATER = """
services:
  first:
    image: busybox
    command: ["sh", "-c", "echo from first; touch /tmp/ready; exec sleep 1000"]
    stop_signal: SIGKILL
    healthcheck: {test: ["CMD", "sh", "-c", "sleep 2; test -e /tmp/ready"], interval: 1s, retries: 30}
  later:
    image: busybox
    command: ["sh", "-c", "echo from later"]
    deploy: {replicas: 2}
    depends_on: {first: {condition: service_healthy}}
networks:
  default:
    ipam:
      config: [{subnet: "${SUBNET}"}]
"""


def test_attaching_to_lists_the_containers_made_after_the_first_line_as_v2(project: Project,
                                                                           compose_v2: str) -> None:
    """v2 writes "Attaching to" once it created every container, before it starts any (its
    pkg/compose/up.go, attach.go); Dockyard starts `first` before `later`'s containers exist and
    `first` writes a line at once: the header still names `later`'s two, sorted by name."""
    p = project
    (p.dir / "compose.yaml").write_text(LATER)
    for tool, run in (("dockyard", p.dy), ("v2", lambda *a: p.v2(compose_v2, *a))):
        r = run("up", "--no-color", "--exit-code-from", "later")
        assert r.returncode == 0, (tool, r.stdout, r.stderr)
        lines = _order(r.stdout)
        assert lines[0] == "Attaching to first-1, later-1, later-2", (tool, lines)
        assert "first-1 | from first" in lines, (tool, lines)
        ok(run("down", "-t", "0"))
    assert p.leftovers() == {}
