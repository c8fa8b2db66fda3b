"""dockyardd supervises what it runs on: a killed dockyard-containerd is restarted and the
running containers stay Up; a crashed daemon's zombie does not block the next one; a TCP
listener without TLS is refused unless asked for (``--tls=false``)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import BIN, Daemon, _alive

pytestmark = pytest.mark.root


def _pid(path: Path) -> int:
    return int(path.read_text().strip())


def _state(pid: int) -> str:
    """The process state letter of /proc/<pid>/stat ("" once the pid is gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def _running(d: Daemon, names: list[str]) -> dict[str, bool]:
    r = d.cli("inspect", *names)
    assert r.returncode == 0, (r.stderr, d.log_tail())
    return {c["Name"].lstrip("/"): c["State"]["Running"] for c in json.loads(r.stdout)}


def test_kill9_of_containerd_keeps_the_containers_up_and_usable(fresh_daemon: Daemon) -> None:
    d = fresh_daemon
    names = [f"sup{i}" for i in range(10)]
    for name in names:
        r = d.cli("run", "-d", "--name", name, "busybox", "sleep", "1000")
        assert r.returncode == 0, r.stderr
    pid_file = d.exec_root / "containerd" / "dockyard-containerd.pid"
    old = _pid(pid_file)
    os.kill(old, signal.SIGKILL)
    time.sleep(0.5)  # the engine has seen its connection drop
    assert _running(d, names) == {n: True for n in names}, "containers reported as exited"

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            new = _pid(pid_file)
        except (OSError, ValueError):
            new = 0
        if new and new != old and _alive(d.exec_root / "containerd.sock"):
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"dockyard-containerd was not restarted:\n{d.log_tail()}")
    assert _state(old) == "", "the killed containerd was left a zombie"
    assert _running(d, names) == {n: True for n in names}

    started = time.monotonic()
    r = d.cli("stop", "-t", "1", names[0])
    assert r.returncode == 0, r.stderr
    assert _running(d, names[:1]) == {names[0]: False}
    r = d.cli("rm", "-f", *names[1:])
    assert r.returncode == 0, r.stderr
    r = d.cli("run", "--rm", "busybox", "echo", "after")
    assert (r.returncode, r.stdout) == (0, b"after\n"), r.stderr
    r = d.cli("start", names[0])
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - started < 15
    assert d.cli("rm", "-f", names[0]).returncode == 0
    assert d.cli("ps", "-aq").stdout.strip() == b""


def test_a_crashed_engine_left_as_a_zombie_does_not_block_the_next_one(fresh_daemon: Daemon) -> None:
    """kill -9 of both daemons, the engine not reaped yet: its pid file names a zombie, which
    is no running daemon; the next dockyardd starts, answers and still runs the container."""
    d = fresh_daemon
    r = d.cli("run", "-d", "--name", "survivor", "busybox", "sleep", "1000")
    assert r.returncode == 0, r.stderr
    assert d.proc is not None
    zombie = d.proc
    os.kill(_pid(d.exec_root / "containerd" / "dockyard-containerd.pid"), signal.SIGKILL)
    os.kill(zombie.pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while _state(zombie.pid) != "Z" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _state(zombie.pid) == "Z"
    assert _pid(d.exec_root / "dockyardd.pid") == zombie.pid
    try:
        d.start()  # a new dockyardd on the same roots, while the old one is a zombie
        assert _running(d, ["survivor"]) == {"survivor": True}, d.log_tail()
    finally:
        zombie.wait()
    assert d.cli("rm", "-f", "survivor").returncode == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tcp_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n")
            return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def test_a_tcp_listener_without_tls_is_refused_unless_asked_for() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    d = Daemon(Path(tempfile.mkdtemp(prefix="dy-", dir="/tmp")))
    port = _free_port()
    try:
        d.extra_args += ["-H", f"tcp://127.0.0.1:{port}"]
        with pytest.raises(RuntimeError):
            d.start()
        assert d.proc is not None and d.proc.wait(timeout=10) != 0
        assert "--tls=false" in d.log_tail()
        assert not _tcp_answers(port)
        assert not (d.exec_root / "containerd" / "dockyard-containerd.pid").exists(), "containerd started anyway"

        d.extra_args += ["--tls=false"]
        d.start()
        assert _tcp_answers(port)
        assert "without TLS" in d.log_tail()
    finally:
        d.cleanup()


def test_pid_file_of_a_process_that_is_no_daemon_is_stale(tmp_path: Path) -> None:
    """The pid check takes neither a zombie nor a live process of another program for the daemon."""
    from dockyard import errors
    from dockyard.daemon import PidFile

    path = tmp_path / "dockyardd.pid"
    other = subprocess.Popen(["sleep", "30"])
    fake = tmp_path / "dockyardd"  # a script of that name: what a live daemon's command line shows
    fake.write_text(f"#!{BIN / 'python'}\nimport time\ntime.sleep(30)\n")
    fake.chmod(0o755)
    daemon = subprocess.Popen([str(fake)])
    zombie = subprocess.Popen(["true"])
    try:
        deadline = time.monotonic() + 5
        while _state(zombie.pid) != "Z" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _state(zombie.pid) == "Z"
        for stale in (zombie.pid, other.pid):
            path.write_text(f"{stale}\n")
            with PidFile(path, "dockyardd"):
                assert _pid(path) == os.getpid()
            assert not path.exists()
        path.write_text(f"{daemon.pid}\n")
        with pytest.raises(errors.AlreadyExists):
            with PidFile(path, "dockyardd"):
                pass
        assert _pid(path) == daemon.pid
    finally:
        for p in (other, daemon, zombie):
            p.kill()
            p.wait()
