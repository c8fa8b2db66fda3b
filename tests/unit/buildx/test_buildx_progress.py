"""The classic builder's text as BuildKit's rawjson ``SolveStatus`` lines (what Compose v2 displays)."""

from __future__ import annotations

import base64
import io
import json

from dockyard.buildx.progress import Progress


def _statuses(out: io.StringIO) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_steps_become_vertexes_with_logs_and_cache() -> None:
    out = io.StringIO()
    p = Progress("rawjson", out, "app")
    for chunk in ["Step 1/3 : FROM busybox\n ---> 49ac\nStep 2/3 : RUN echo hi\n ---> Running in 1f\nh",
                  "i\n ---> Removed intermediate container 1f\n ---> 77aa\nStep 3/3 : COPY a /a\n",
                  " ---> Using cache\n ---> 88bb\nSuccessfully built 88bb\n"]:
        p.feed(chunk)
    p.done()
    last = {}
    order = []
    logs = []
    for s in _statuses(out):
        for v in s.get("vertexes", []):
            if v["digest"] not in last:
                order.append(v["digest"])
            last[v["digest"]] = v
        logs += s.get("logs", [])
    names = [last[d]["name"] for d in order]
    assert names == ["[app 1/3] FROM busybox", "[app 2/3] RUN echo hi", "[app 3/3] COPY a /a"]
    assert all(last[d].get("started") and last[d].get("completed") for d in order)
    assert [bool(last[d].get("cached")) for d in order] == [False, False, True]
    assert last[order[1]]["inputs"] == [order[0]]
    assert [(entry["vertex"], base64.b64decode(entry["data"])) for entry in logs] == [(order[1], b"hi\n")]


def test_an_error_completes_the_open_step_or_a_vertex_of_its_own() -> None:
    out = io.StringIO()
    p = Progress("rawjson", out, "app")
    p.feed("Step 1/2 : RUN false\n ---> Running in 1f\n")
    p.done("The command '/bin/sh -c false' returned a non-zero code: 1")
    final = _statuses(out)[-1]["vertexes"][0]
    assert final["name"] == "[app 1/2] RUN false" and "non-zero code: 1" in final["error"]
    out = io.StringIO()
    Progress("rawjson", out, "app").done("dockerfile parse error line 1: unknown instruction: FORM")
    (status,) = _statuses(out)[-1:]
    assert status["vertexes"][0]["name"] == "[app] build" and "FORM" in status["vertexes"][0]["error"]


def test_plain_passes_the_text_and_quiet_nothing() -> None:
    out = io.StringIO()
    Progress("plain", out, "app").feed("Step 1/1 : FROM busybox\n")
    assert out.getvalue() == "Step 1/1 : FROM busybox\n"
    out = io.StringIO()
    p = Progress("quiet", out, "app")
    p.feed("Step 1/1 : FROM busybox\n")
    p.done()
    assert out.getvalue() == ""


def test_tty_shows_one_line_a_step_and_the_total() -> None:
    out = io.StringIO()
    p = Progress("tty", out, "app")
    p.feed("Step 1/2 : FROM busybox\n ---> 49ac\nStep 2/2 : RUN true\n ---> Using cache\n ---> 77aa\n")
    p.done()
    text = out.getvalue()
    assert "=> DONE Step 1/2 : FROM busybox" in text and "=> CACHED Step 2/2 : RUN true" in text
    assert "=> 2 steps (1 cached) in " in text
