"""The progress writers (``--progress``/``--ansi``) as Compose v2 2.40.3 shows them, and the pure
pieces of the new flags: ``build --build-arg``/``--with-dependencies``, ``gpus`` and one-off aliases."""

from __future__ import annotations

import io
import re

import pytest

from dockyard import errors
from dockyard.compose import buildcmd, engine, progress, shapes
from dockyard.compose.project import Project

UP = [" Network e1_default  Creating", " Network e1_default  Created", " Container e1-a-1  Creating",
      " Container e1-a-1  Created", " Container e1-b-1  Creating", " Container e1-b-1  Created",
      " Container e1-a-1  Starting", " Container e1-a-1  Started", " Container e1-b-1  Starting",
      " Container e1-b-1  Started"]
# the last frame v2 drew for that `up -d` (`--progress tty`, output not a terminal: no right-aligned timer)
V2_LAST_FRAME = ("\x1b[1A\x1b[1A\x1b[1A\x1b[1A\x1b[0G\x1b[?25l\x1b[34m[+] Running 3/3\x1b[0m\n"
                 " \x1b[32m✔\x1b[0m Network e1_default  \x1b[32mCreated\x1b[0m\x1b[34m0.0s \x1b[0m\n"
                 " \x1b[32m✔\x1b[0m Container e1-a-1    \x1b[32mStarted\x1b[0m\x1b[34m0.1s \x1b[0m\n"
                 " \x1b[32m✔\x1b[0m Container e1-b-1    \x1b[32mStarted\x1b[0m\x1b[34m0.1s \x1b[0m\n\x1b[?25h")


def _times(text: str) -> str:
    return re.sub(r"\d+\.\ds ", "T.Ts ", text)


def test_tty_draws_v2s_summary_and_lines() -> None:
    out = io.StringIO()
    p = progress.Progress("tty", out=out)
    for line in UP[:7]:
        p(line)
    p.print()  # a frame mid-way: a 3-line frame, "2/3" not colored
    first = out.getvalue()
    assert first.startswith("\x1b[1A\x1b[1B\x1b[0G\x1b[?25l[+] Running 2/3\n")
    assert " \x1b[32m✔\x1b[0m Network e1_default  \x1b[32mCreated\x1b[0m" in first
    assert re.search(r" \x1b\[33m.\x1b\[0m Container e1-a-1    Starting\x1b\[34m", first)
    for line in UP[7:]:
        p(line)
    p.close()
    last = out.getvalue()[len(first):]
    assert _times(last) == _times(V2_LAST_FRAME)


def test_tty_messages_that_are_no_events_follow_the_last_frame() -> None:
    out = io.StringIO()
    p = progress.Progress("tty", title="Stopping", color=False, out=out)
    p(" Container x-a-1  Stopping")
    p("Found orphan containers (x-old-1) for this project.")
    p(" Container x-a-1  Stopped")
    p.close()
    text = out.getvalue()
    assert "[+] Stopping 1/1\n" in text
    assert text.endswith("\x1b[?25hFound orphan containers (x-old-1) for this project.\n")
    p(" Container x-a-1  Removed")  # after close: a plain line
    assert out.getvalue().endswith("\n Container x-a-1  Removed\n")


def test_json_and_quiet_and_plain() -> None:
    out = io.StringIO()
    p = progress.Progress("json", out=out)
    p(" Container e1-a-1  Started")
    p(" base Skipped ")
    assert out.getvalue().splitlines() == ['{"id":"Container e1-a-1","status":"Started"}',
                                           '{"id":"base","text":"Skipped"}']
    out = io.StringIO()
    progress.Progress("quiet", out=out)(" Container e1-a-1  Started")
    assert out.getvalue() == ""
    out = io.StringIO()
    progress.Progress("plain", dry_run=True, out=out)(" Container e1-a-1  Started")
    assert out.getvalue() == " DRY-RUN MODE -  Container e1-a-1  Started\n"  # as v2's Println


def test_mode_as_v2_decides_it() -> None:
    assert progress.mode("auto", "auto", {}, isatty=True) == "tty"
    assert progress.mode("auto", "auto", {}, isatty=False) == "plain"
    assert progress.mode("auto", "never", {}, isatty=True) == "plain"
    assert progress.mode("auto", "always", {}, isatty=False) == "tty"
    assert progress.mode("auto", "auto", {"COMPOSE_ANSI": "never"}, isatty=True) == "plain"
    assert progress.mode("none", "auto", {}, isatty=True) == "quiet"
    assert progress.mode("json", "auto", {}, isatty=True) == "json"
    with pytest.raises(errors.InvalidArgument, match="^can't use --progress tty while ANSI support is disabled$"):
        progress.mode("tty", "never", {}, isatty=True)
    with pytest.raises(errors.InvalidArgument, match="^can't use --progress plain while ANSI support is forced$"):
        progress.mode("plain", "always", {}, isatty=True)
    with pytest.raises(errors.InvalidArgument, match='^unsupported --progress value "fancy"$'):
        progress.mode("fancy", "auto", {}, isatty=True)


def test_build_args_and_dependencies() -> None:
    B = {"context": "."}  # noqa: N806
    assert shapes.from_env(["A=1", "B", "C", "D="], {"B": "from-env"}) == {"A": "1", "B": "from-env", "D": ""}
    services = {"app": {"build": B, "depends_on": {"lib": {}}}, "lib": {"build": B, "depends_on": {"db": {}}},
                "db": {"image": "x"}, "other": {"build": B}}
    assert buildcmd.selected(services, ["app"], False) == ["app"]
    assert buildcmd.selected(services, ["app"], True) == ["lib", "app"]
    assert buildcmd.selected(services, [], False) == ["lib", "app", "other"]
    with pytest.raises(errors.NotFound):
        buildcmd.selected(services, ["nope"], False)


def _project(svc: dict) -> Project:  # type: ignore[type-arg]
    return Project("p", "/tmp", [], {"a": {"image": "busybox", "networks": {"default": {"aliases": ["www"]}}, **svc}},
                   {"default": {"name": "p_default"}}, {}, {}, {}, {}, {})


def test_gpus_become_v2s_device_requests() -> None:
    body = engine.container_body(_project({"gpus": [{"count": -1}, {"driver": "nvidia", "device_ids": ["0"],
                                                                   "capabilities": ["utility"]}]}), "a", 1)
    assert body["HostConfig"]["DeviceRequests"] == [
        {"Driver": "", "Count": -1, "DeviceIDs": None, "Capabilities": [["gpu"]], "Options": None},
        {"Driver": "nvidia", "Count": 0, "DeviceIDs": ["0"], "Capabilities": [["utility", "gpu"]], "Options": None}]


def test_one_off_aliases_only_with_use_aliases() -> None:
    p = _project({})
    plain = engine.container_body(p, "a", 1, oneoff="abc", use_aliases=False)
    aliased = engine.container_body(p, "a", 1, oneoff="abc", use_aliases=True)
    name = engine.container_name(p, "a", 1, "abc")
    assert plain["NetworkingConfig"]["EndpointsConfig"]["p_default"]["Aliases"] == [name]
    assert aliased["NetworkingConfig"]["EndpointsConfig"]["p_default"]["Aliases"] == [name, "a", "www"]


def test_a_pull_is_an_event_working_then_done() -> None:
    out = io.StringIO()
    p = progress.Progress("tty", title="Pulling", color=False, out=out)
    p(" web Pulling ")
    p.print()
    assert "[+] Pulling 0/1\n" in out.getvalue()
    p(" web Pulled ")
    p.close()
    assert out.getvalue().rsplit("\x1b[?25l", 1)[1].startswith("[+] Pulling 1/1\n ✔ web Pulled ")
    assert progress.parse(" web Pulled ") == ("web", "Pulled", "")
