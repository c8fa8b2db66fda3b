"""The kind of a failed exec under an external runtime: asked of the container, not read from the
runtime's words (runc and crun exit 1 whatever the cause)."""

from __future__ import annotations

import argparse
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.shim.execpath import program_missing
from dockyard.shim.shim import Shim, ShimError, Task

# what the runtime logs says nothing of the cause, as a runtime in another language might
FAILING_RUNTIME = """#!/bin/sh
while [ "$1" != "--log" ]; do shift; done
echo '{"level":"error","msg":"exec failed: error code 3"}' >> "$2"
exit 1
"""


@pytest.fixture
def task(tmp_path: Path) -> Iterator[Task]:
    runtime = tmp_path / "fake-runc"
    runtime.write_text(FAILING_RUNTIME)
    runtime.chmod(runtime.stat().st_mode | stat.S_IXUSR)
    args = argparse.Namespace(id="c1", bundle=str(tmp_path), runtime=str(runtime),
                              runtime_root=str(tmp_path / "root"), socket=str(tmp_path / "shim.sock"))
    shim = Shim(args)
    t = shim.tasks["c1"]
    t.pid, t.status = os.getpid(), "running"  # the "container" is this process: its root is /
    yield t
    shim.sel.close()


def _exec_kind(t: Task, args: list[str], env: list[str] | None = None, cwd: str = "/") -> str:
    with pytest.raises(ShimError) as err:
        t.exec("e1", {"args": args, "env": env or [], "cwd": cwd})
    assert "error code 3" in str(err.value)  # the runtime's own message is kept
    assert t.execs == {}
    return err.value.kind


@pytest.mark.skipif(os.geteuid() != 0, reason="chroot needs root")
@pytest.mark.parametrize(("args", "env", "cwd"), [
    (["/no/such/program"], [], "/"),
    (["no-such-program-b2"], ["PATH=/usr/bin:/bin"], "/"),
    (["./nothing-here"], [], "/usr/bin"),
])
def test_a_missing_program_is_not_found_whatever_the_runtime_said(task: Task, args: list[str], env: list[str],
                                                                   cwd: str) -> None:
    assert _exec_kind(task, args, env, cwd) == "not_found"


@pytest.mark.skipif(os.geteuid() != 0, reason="chroot needs root")
@pytest.mark.parametrize(("args", "env", "cwd"), [
    (["/bin/sh"], [], "/"),
    (["sh"], ["PATH=/nowhere:/bin"], "/"),
    (["sh"], [], "/"),  # no PATH: the runtime's default one
    (["./sh"], [], "/bin"),
])
def test_any_other_failure_keeps_its_kind(task: Task, args: list[str], env: list[str], cwd: str) -> None:
    assert _exec_kind(task, args, env, cwd) == "failed_precondition"


def test_a_gone_container_or_no_program_cannot_be_told_missing() -> None:
    assert program_missing(0, {"args": ["/no/such"]}) is False
    assert program_missing(os.getpid(), {"args": []}) is False
    # a pid with no process: the child's chroot fails, so "unknown", never "missing"
    assert program_missing(2 ** 22 + 1, {"args": ["/no/such"]}) is False
