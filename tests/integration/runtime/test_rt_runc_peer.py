"""dockyard-runc as runc's peer: what runc's own bats suite (v1.1.5) asks of the command line.

A foreground terminal run/exec under a pty, ``spec`` + ``run`` giving runc's output, compact
``events --stats`` and ``list --format json``, runc's exit codes, ``ps`` options passed to the
host's ps, ``exec --ignore-paused``/``--cgroup``, refusals (unified on v1, a frozen cgroup,
SCMP_ACT_NOTIFY for write), ``--debug`` for exec, help and version screens.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import termios
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from rtkit import Bundle, Runtime, make_rootfs, run_on_pty

pytestmark = pytest.mark.root


class ConsoleReceiver:
    """A --console-socket listener that keeps every master it is sent (runc's recvtty --mode null)."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(4)
        self.masters: list[int] = []

    def take(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            _, fds, _, _ = socket.recv_fds(conn, 1024, 1)
        self.masters.extend(fds)

    def close(self) -> None:
        for fd in self.masters:
            os.close(fd)
        self.sock.close()


@pytest.fixture
def console(tmp_path: Path) -> Iterator[ConsoleReceiver]:
    rx = ConsoleReceiver(tmp_path / "console.sock")
    yield rx
    rx.close()


def _detached_tty(runtime: Runtime, bundle: Bundle, console: ConsoleReceiver) -> None:
    bundle.write(["sleep", "60"], terminal=True)
    runtime.ids.append(bundle.id)
    proc = runtime("run", "-d", "--console-socket", console.path, "--bundle", str(bundle.path), bundle.id,
                   stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    console.take()


def _run_detached(runtime: Runtime, bundle: Bundle) -> None:
    """run -d with the container's stdio on files (pipes would keep the caller waiting for EOF)."""
    proc = runtime.create(bundle)
    assert proc.returncode == 0, proc.stderr
    assert runtime("start", bundle.id).returncode == 0


# -- spec + run -------------------------------------------------------------------------------
SPEC_PROBE = ["sh", "-c", "readlink /proc/self/fd/0; stty size; grep -E '^Cap(Amb|Eff)' /proc/self/status; "
              "touch /probe 2>&1 | sed 's/.*: //'; hostname; exit 7"]


# runc sizes the container's pty only once the process runs: stty there races it
SPEC_PROBE_RACE_FREE = [SPEC_PROBE[0], SPEC_PROBE[1], SPEC_PROBE[2].replace(" stty size;", "")]


def _spec_bundle(top: Path, argv: list[str], probe: list[str] = SPEC_PROBE) -> Path:
    bundle = top / "bundle"
    make_rootfs(bundle / "rootfs")
    proc = subprocess.run([*argv, "spec", "--bundle", str(bundle)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["process"]["args"] = probe
    (bundle / "config.json").write_text(json.dumps(cfg))
    return bundle


def test_spec_is_runcs_and_runs_on_a_terminal(runtime: Runtime, tmp_path: Path) -> None:
    """``spec`` then a foreground ``run`` under a pty: runc's default spec (ambient caps it cannot
    raise, a read-only root, terminal) runs, output on our terminal, exit status passed through."""
    bundle = _spec_bundle(tmp_path, runtime.argv)
    cfg = json.loads((bundle / "config.json").read_text())
    assert cfg["root"] == {"path": "rootfs", "readonly": True}
    assert cfg["process"]["terminal"] is True and cfg["hostname"] == "runc"
    assert cfg["process"]["capabilities"]["ambient"] and "inheritable" not in cfg["process"]["capabilities"]
    cid = "s" + uuid.uuid4().hex[:12]
    runtime.ids.append(cid)
    code, out, _ = run_on_pty([*runtime.argv, "--root", str(runtime.root), "run", "--bundle", str(bundle), cid])
    text = out.decode()
    assert code == 7, text
    assert text.count("\r\n") == text.count("\n")  # the container pty's ONLCR cleared: one \r, our terminal's
    lines = text.replace("\r\n", "\n").split("\n")
    assert lines[0] == "/dev/pts/0", text  # the container's own devpts
    assert lines[1] == "33 101"  # our window size copied onto the container's pty
    assert "CapAmb:\t0000000000000000" in lines  # not raisable (not inheritable): skipped, as runc does
    assert "Read-only file system" in text and "runc" in lines
    assert not (runtime.root / cid).exists()  # run deletes what it created


def test_spec_run_output_is_runcs(runtime: Runtime, tmp_path: Path) -> None:
    """The same bundle from ``runc spec`` gives the same bytes under runc and dockyard-runc."""
    if shutil.which("runc") is None:
        pytest.skip("runc is not installed")
    outputs = {}
    for name, argv in (("runc", ["runc"]), ("dockyard-runc", runtime.argv)):
        top = tmp_path / name
        bundle = _spec_bundle(top, ["runc"], SPEC_PROBE_RACE_FREE)
        cid = "s" + uuid.uuid4().hex[:12]
        runtime.ids.append(cid)
        code, out, _ = run_on_pty([*argv, "--root", str(top / "state"), "run", "--bundle", str(bundle), cid])
        outputs[name] = (code, out)
    assert outputs["dockyard-runc"] == outputs["runc"]


def test_foreground_run_needs_a_terminal_of_ours(runtime: Runtime, bundle: Bundle) -> None:
    bundle.write(["true"], terminal=True)
    proc = runtime("run", "--bundle", str(bundle.path), bundle.id, stdin=subprocess.DEVNULL, start_new_session=True)
    assert proc.returncode == 1
    assert "open /dev/tty: no such device or address" in proc.stderr
    assert not (runtime.root / bundle.id).exists()


def test_terminal_and_console_socket_rules(runtime: Runtime, bundle: Bundle, tmp_path: Path) -> None:
    bundle.write(["true"], terminal=True)
    runtime.ids.append(bundle.id)
    detached = runtime("run", "-d", "--bundle", str(bundle.path), bundle.id, stdin=subprocess.DEVNULL)
    assert detached.returncode == 1
    assert "cannot allocate tty if runc will detach without setting console socket" in detached.stderr
    bundle.write(["true"], terminal=False)
    stray = runtime("run", "--console-socket", str(tmp_path / "x.sock"), "--bundle", str(bundle.path), bundle.id,
                    stdin=subprocess.DEVNULL)
    assert stray.returncode == 1
    assert "cannot use console socket if runc will not detach or allocate tty" in stray.stderr
    assert not (runtime.root / bundle.id).exists()


def test_foreground_exec_tty(runtime: Runtime, bundle: Bundle, console: ConsoleReceiver) -> None:
    _detached_tty(runtime, bundle, console)
    code, out, after = run_on_pty([*runtime.argv, "--root", str(runtime.root), "exec", "-t", bundle.id,
                                   "sh", "-c", "readlink /proc/self/fd/1; stty size; exit 3"], rows=21, cols=77)
    lines = out.decode().replace("\r\n", "\n").split("\n")
    assert code == 3, out
    assert lines[0].startswith("/dev/pts/") and lines[1] == "21 77", out
    assert after[3] & termios.ECHO  # our terminal is cooked again


# -- output formats ---------------------------------------------------------------------------
def test_events_stats_and_list_json_are_compact(runtime: Runtime, bundle: Bundle, tmp_path: Path) -> None:
    empty = runtime("list", "--format", "json")
    assert empty.returncode == 0 and empty.stdout == "null\n"
    bundle.write(["sleep", "60"])
    assert runtime.create(bundle).returncode == 0
    ev = runtime("events", "--stats", bundle.id)
    assert ev.returncode == 0, ev.stderr
    assert ev.stdout.startswith(f'{{"type":"stats","id":"{bundle.id}","data":{{')
    assert len(ev.stdout.splitlines()) == 1 and json.loads(ev.stdout)["data"]["memory"]
    ls = runtime("list", "--format", "json")
    row = f'[{{"ociVersion":"1.0.2","id":"{bundle.id}","pid":'
    assert ls.stdout.startswith(row) and ls.stdout.endswith(',"owner":"root"}]\n'), ls.stdout
    assert '"status":"created","bundle":' in ls.stdout


def test_ps_passes_options_to_the_hosts_ps(runtime: Runtime, bundle: Bundle) -> None:
    bundle.write(["sleep", "60"])
    runtime.ids.append(bundle.id)
    _run_detached(runtime, bundle)
    pid = runtime.state(bundle.id)["pid"]
    table = runtime("ps", bundle.id, "-o", "pid,comm")
    assert table.returncode == 0, table.stderr
    assert table.stdout.split("\n")[0].split() == ["PID", "COMMAND"]
    assert [line.split() for line in table.stdout.strip().split("\n")[1:]] == [[str(pid), "sleep"]]
    default = runtime("ps", bundle.id)
    assert default.stdout.split()[:8] == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert runtime("ps", "-f", "json", bundle.id).stdout == f"[{pid}]\n"


# -- exit codes and exec ----------------------------------------------------------------------
def test_exit_codes(runtime: Runtime, bundle: Bundle, tmp_path: Path) -> None:
    """runc: a failed exec is 255 (apart from its process's own 1); other verbs fail with 1."""
    bundle.write(["sleep", "60"])
    runtime.ids.append(bundle.id)
    _run_detached(runtime, bundle)
    assert runtime("exec", bundle.id, "false").returncode == 1
    assert runtime("exec", bundle.id, "sh", "-c", "exit 42").returncode == 42
    assert runtime("exec", bundle.id, "no-such-binary").returncode == 255
    assert runtime("exec", "no_such_container", "true").returncode == 255
    assert runtime("exec", "--pid-file", "/non-existent/directory", bundle.id, "true").returncode == 255
    assert runtime("state", "no_such_container").returncode == 1
    assert runtime("kill", bundle.id, "KILL").returncode == 0
    deadline = time.monotonic() + 5
    while runtime.state(bundle.id)["status"] != "stopped" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert runtime("kill", "-a", bundle.id, "0").returncode == 0  # signal 0 to whatever is left: nothing


def test_exec_paused_and_sub_cgroups(runtime: Runtime, bundle: Bundle) -> None:
    bundle.write(["sleep", "60"])
    runtime.ids.append(bundle.id)
    _run_detached(runtime, bundle)
    assert runtime("pause", bundle.id).returncode == 0
    refused = runtime("exec", bundle.id, "echo", "ok")
    assert refused.returncode == 255 and "cannot exec in a paused container" in refused.stderr
    resumer = subprocess.Popen(["sh", "-c", f"sleep 0.5; exec {' '.join(runtime.argv)} --root {runtime.root} "
                                f"resume {bundle.id}"])
    try:
        waited = runtime("exec", "--ignore-paused", bundle.id, "echo", "ok")
    finally:
        resumer.wait(10)
    assert waited.returncode == 0 and waited.stdout == "ok\n", waited.stderr
    up = runtime("exec", "--cgroup", "..", bundle.id, "true")
    assert up.returncode == 255 and ".. is not a sub cgroup path" in up.stderr
    missing = runtime("exec", "--cgroup", "nonexistent", bundle.id, "true")
    assert missing.returncode == 255
    assert "adding pid" in missing.stderr and "/nonexistent/cgroup.procs: no such file" in missing.stderr
    unknown = runtime("exec", "--cgroup", "whaaat:/", bundle.id, "true")
    assert "unknown controller whaaat" in unknown.stderr


def test_debug_exec_logs_the_setup_steps(runtime: Runtime, bundle: Bundle, tmp_path: Path) -> None:
    bundle.write(["sleep", "60"])
    runtime.ids.append(bundle.id)
    _run_detached(runtime, bundle)
    log = tmp_path / "log.out"
    proc = runtime("--debug", "--log", str(log), "exec", bundle.id, "true")
    assert proc.returncode == 0 and "level=debug" not in proc.stderr
    text = log.read_text()
    for step in ("nsexec container setup", "child process in init()", "setns_init: about to exec"):
        assert f'level=debug msg="{step}"' in text


# -- refusals ---------------------------------------------------------------------------------
def test_unified_resources_refused_on_cgroup_v1(runtime: Runtime, bundle: Bundle) -> None:
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        pytest.skip("cgroup v2 host")
    bundle.config["linux"]["resources"]["unified"] = {"memory.min": "131072"}
    bundle.write(["true"])
    proc = runtime.create(bundle)
    assert proc.returncode == 1 and "invalid configuration: cannot use unified on cgroup v1" in proc.stderr


def test_frozen_cgroup_refused_not_joined(runtime: Runtime, bundle: Bundle) -> None:
    freezer = Path("/sys/fs/cgroup/freezer/dockyard-test") / bundle.id
    if not freezer.parent.parent.is_dir():
        pytest.skip("no cgroup v1 freezer")
    freezer.mkdir(parents=True)
    try:
        (freezer / "freezer.state").write_text("FROZEN")
        bundle.write(["true"])
        proc = runtime.create(bundle)
        assert proc.returncode == 1 and "container's cgroup unexpectedly frozen" in proc.stderr
        assert freezer.is_dir()  # not ours to remove
    finally:
        (freezer / "freezer.state").write_text("THAWED")
        freezer.rmdir()


def test_seccomp_notify_write_refused(runtime: Runtime, bundle: Bundle, tmp_path: Path) -> None:
    """The runtime's own sync writes would wait for the agent: runc refuses it (an agent: test_rt_bats_peer)."""
    rule = {"names": ["write"], "action": "SCMP_ACT_NOTIFY"}
    bundle.config["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [rule],
                                         "listenerPath": str(tmp_path / "agent.sock")}
    bundle.write(["true"])
    proc = runtime.create(bundle)
    assert proc.returncode == 1 and "SCMP_ACT_NOTIFY cannot be used for the write syscall" in proc.stderr


# -- help and version -------------------------------------------------------------------------
def test_help_and_version_layout(runtime: Runtime) -> None:
    version = runtime("-v")
    lines = version.stdout.split("\n")
    assert version.returncode == 0 and lines[0].startswith("dockyard-runc version ")
    assert lines[1].startswith("commit:") and lines[2].startswith("spec: 1.0.2")
    top = runtime("--help").stdout.split("\n")
    assert top[0] == "NAME:" and top[1] == "   dockyard-runc - Open Container Initiative runtime"
    verb = runtime("delete", "-h")
    assert verb.returncode == 0 and verb.stdout.split("\n")[:2] == ["NAME:", "   dockyard-runc delete - delete "
                                                                   "any resources held by the container often "
                                                                   "used with detached container"]
    assert "   --force, -f  " in verb.stdout
    unknown = runtime("foo", "-h")
    assert unknown.returncode == 3 and "No help topic for 'foo'" in unknown.stderr


def test_create_container_hook_runs_in_the_rootfs(runtime: Runtime, bundle: Bundle) -> None:
    """runc runs createContainer hooks from init standing in the rootfs: relative paths are the container's."""
    out = bundle.path / "hook-cwd"
    bundle.config["hooks"] = {"createContainer": [{"path": "/bin/sh", "args": ["sh", "-c", f"pwd > {out}"]}]}
    bundle.write(["true"])
    proc = runtime.create(bundle)
    assert proc.returncode == 0, proc.stderr
    assert out.read_text().strip() == str(bundle.rootfs)
