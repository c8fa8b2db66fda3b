"""A shim driving runc or crun: an exec of a missing program is ``not_found`` (Docker's 127), one
that cannot run keeps the runtime's failure (126), asked of the container, not of the message."""

from __future__ import annotations

import argparse
import os
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
from rtkit import REFERENCE_RUNTIMES, Bundle, Runtime, argv_for, reap

from dockyard.shim.shim import Shim, ShimError, Task

pytestmark = pytest.mark.parametrize("any_runtime", REFERENCE_RUNTIMES, indirect=True)


@pytest.fixture
def task(any_runtime: Runtime, bundle: Bundle, tmp_path: Path) -> Iterator[Task]:
    wrapper = tmp_path / "runtime"  # the shim runs one executable; crun's needs its hugetlb mount
    wrapper.write_text(f'#!/bin/sh\nexec {shlex.join(argv_for(any_runtime.name))} "$@"\n')
    wrapper.chmod(0o755)
    bundle.write(["sleep", "60"])
    assert any_runtime.create(bundle).returncode == 0
    any_runtime("start", bundle.id, check=True)
    shim = Shim(argparse.Namespace(id=bundle.id, bundle=str(bundle.path), runtime=str(wrapper),
                                   runtime_root=str(any_runtime.root), socket=str(tmp_path / "shim.sock")))
    t = shim.tasks[bundle.id]
    t.pid, t.status = int(any_runtime.state(bundle.id)["pid"]), "running"
    try:
        yield t
    finally:
        for proc in t.execs.values():
            try:
                os.kill(proc.pid, 9)
            except ProcessLookupError:
                pass
        shim.sel.close()
        reap()


def _stdio(t: Task) -> dict[str, str]:
    """Files of the test's own: crun gives an exec's stdio to its user, so never the host's /dev/null."""
    paths = {name: os.path.join(t.bundle, f"exec.{name}") for name in ("stdin", "stdout", "stderr")}
    for path in paths.values():
        Path(path).touch()
    return paths


def _exec(t: Task, args: list[str]) -> ShimError:
    with pytest.raises(ShimError) as err:
        t.exec("e1", {"args": args, "env": ["PATH=/bin"], "cwd": "/"}, **_stdio(t))
    return err.value


def test_a_missing_program_is_not_found(task: Task) -> None:
    assert _exec(task, ["/no/such"]).kind == "not_found"
    assert _exec(task, ["no-such-applet"]).kind == "not_found"


def test_a_program_that_cannot_run_keeps_the_runtimes_failure(task: Task) -> None:
    # /bin is in the container (and on the host): a directory cannot be executed
    err = _exec(task, ["/bin"])
    assert err.kind == "failed_precondition"
    assert "runtime exec failed" in str(err)


def test_a_present_program_runs(task: Task) -> None:
    out = task.exec("e2", {"args": ["true"], "env": ["PATH=/bin"], "cwd": "/"}, **_stdio(task))
    assert out["pid"] > 0
