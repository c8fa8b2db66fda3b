"""create/start/state/kill/delete semantics, as containerd-shim drives runc."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from rtkit import Bundle, Runtime

pytestmark = pytest.mark.root


def _wait_status(runtime: Runtime, cid: str, want: str, timeout: float = 5.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        st = runtime.state(cid)
        if st["status"] == want or time.monotonic() > deadline:
            return st
        time.sleep(0.02)


def test_create_start_state_delete(runtime: Runtime, bundle: Bundle, tmp_path: Path) -> None:
    bundle.write(["sleep", "30"])
    pid_file = tmp_path / "init.pid"
    proc = runtime.create(bundle, "--pid-file", str(pid_file))
    assert proc.returncode == 0, proc.stderr
    st = runtime.state(bundle.id)
    assert st["status"] == "created"
    assert st["id"] == bundle.id and st["bundle"] == str(bundle.path)
    assert int(pid_file.read_text()) == st["pid"] > 0
    assert (runtime.root / bundle.id / "exec.fifo").exists()
    assert all(d.is_dir() for d in bundle.cgroup_dirs())
    assert str(st["pid"]) in (bundle.cgroup_dirs()[0] / "cgroup.procs").read_text().split()

    runtime("start", bundle.id, check=True)
    assert runtime.state(bundle.id)["status"] == "running"
    assert not (runtime.root / bundle.id / "exec.fifo").exists()
    again = runtime("start", bundle.id)
    assert again.returncode == 1 and "running" in again.stderr

    refused = runtime("delete", bundle.id)
    assert refused.returncode == 1
    assert f"cannot delete container {bundle.id} that is not stopped: running" in refused.stderr

    runtime("kill", bundle.id, "KILL", check=True)
    assert _wait_status(runtime, bundle.id, "stopped")["status"] == "stopped"
    runtime("delete", bundle.id, check=True)
    assert not (runtime.root / bundle.id).exists()
    assert not any(d.exists() for d in bundle.cgroup_dirs())
    missing = runtime("state", bundle.id)
    assert missing.returncode == 1 and "does not exist" in missing.stderr


def test_start_releases_process_and_output(runtime: Runtime, bundle: Bundle) -> None:
    bundle.write(["echo", "released"])
    assert runtime.create(bundle).returncode == 0
    assert (bundle.path / "stdout").read_text() == ""  # nothing runs before start
    runtime("start", bundle.id, check=True)
    st = _wait_status(runtime, bundle.id, "stopped")
    assert st["status"] == "stopped"
    assert (bundle.path / "stdout").read_text() == "released\n"


def test_start_returns_once_the_program_runs(runtime: Runtime, bundle: Bundle) -> None:
    """`start` returns after init's exec, not at its fifo byte: a signal sent right after the start
    (docker kill after docker start) reaches the container's program, never init's setup (which
    would leave a PID 1 without the program's handlers, so a TERM would be lost)."""
    bundle.config["hooks"] = {"startContainer": [{"path": "/bin/sleep", "args": ["sleep", "0.3"]}]}  # a slow init
    bundle.write(["sleep", "30"])
    assert runtime.create(bundle).returncode == 0
    pid = runtime.state(bundle.id)["pid"]
    runtime("start", bundle.id, check=True)
    assert os.readlink(f"/proc/{pid}/exe").endswith("/bin/busybox")
    runtime("kill", bundle.id, "KILL", check=True)
    _wait_status(runtime, bundle.id, "stopped")
    runtime("delete", bundle.id, check=True)


def test_missing_executable_reports_real_error(runtime: Runtime, bundle: Bundle) -> None:
    bundle.write(["nosuch"])
    proc = runtime.create(bundle)
    assert proc.returncode == 1
    assert 'exec: "nosuch": executable file not found in $PATH' in proc.stderr
    assert not (runtime.root / bundle.id).exists()
    assert not any(d.exists() for d in bundle.cgroup_dirs())


def test_create_existing_id_fails(runtime: Runtime, bundle: Bundle) -> None:
    bundle.write(["sleep", "30"])
    assert runtime.create(bundle).returncode == 0
    proc = runtime.create(bundle)
    assert proc.returncode == 1 and "exists" in proc.stderr
    assert runtime.state(bundle.id)["status"] == "created"


def test_delete_created_container_kills_init(runtime: Runtime, bundle: Bundle) -> None:
    bundle.write(["sleep", "30"])
    assert runtime.create(bundle).returncode == 0
    pid = runtime.state(bundle.id)["pid"]
    runtime("delete", bundle.id, check=True)
    time.sleep(0.05)
    from dockyard.runtime.container import proc_starttime

    assert proc_starttime(pid) is None


def test_kill_all_and_signal_names(runtime: Runtime, bundle: Bundle) -> None:
    bundle.write(["sh", "-c", "sleep 30 & sleep 30 & wait"])
    assert runtime.create(bundle).returncode == 0
    runtime("start", bundle.id, check=True)
    procs = bundle.cgroup_dirs()[0] / "cgroup.procs"
    deadline = time.monotonic() + 5
    while len(procs.read_text().split()) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(procs.read_text().split()) == 3
    bad = runtime("kill", bundle.id, "NOSUCHSIG")
    assert bad.returncode == 1 and "unknown signal" in bad.stderr
    runtime("kill", "--all", bundle.id, str(int(signal.SIGKILL)), check=True)
    assert _wait_status(runtime, bundle.id, "stopped")["status"] == "stopped"


def test_list_and_json_log(runtime: Runtime, bundle: Bundle, tmp_path: Path) -> None:
    bundle.write(["sleep", "30"])
    assert runtime.create(bundle).returncode == 0
    out = runtime("list", "--format", "json", check=True).stdout
    assert bundle.id in out and "created" in out
    log = tmp_path / "log.json"
    proc = runtime("--log", str(log), "--log-format", "json", "start", "nope")
    assert proc.returncode == 1
    import json

    line = json.loads(log.read_text().splitlines()[-1])
    assert line["level"] == "error" and "nope" in line["msg"] and "time" in line


def test_state_dir_and_pid_reuse_guard(runtime: Runtime, bundle: Bundle) -> None:
    """A recorded pid that now belongs to another process (different starttime) reads as stopped."""
    bundle.write(["sleep", "30"])
    assert runtime.create(bundle).returncode == 0
    state_file = runtime.root / bundle.id / "state.json"
    import json

    raw = json.loads(state_file.read_text())
    raw["pid_starttime"] += 1
    state_file.write_text(json.dumps(raw))
    assert runtime.state(bundle.id)["status"] == "stopped"
    raw["pid_starttime"] -= 1
    state_file.write_text(json.dumps(raw))
    assert runtime.state(bundle.id)["status"] == "created"
    os.kill(raw["pid"], 9)
