"""The container lifecycle under races and failures.

One state machine per container (start, stop, kill, remove, exit, restart under one lock):
a forced removal of a container that is exiting or has just exited always succeeds; a start
that fails closes what it opened exactly once (the daemon's own sockets stay open); a live
``logs -f`` frame carries one line.
"""

from __future__ import annotations

import json
import socket
import time

import pytest

from dockyard.client.http import Client
from tests.conftest import Daemon, daemon_log_problems

pytestmark = pytest.mark.root


def _frames(body: bytes) -> list[tuple[int, bytes]]:
    out = []
    while len(body) >= 8:
        size = int.from_bytes(body[4:8], "big")
        out.append((body[0], body[8:8 + size]))
        body = body[8 + size:]
    assert body == b"", "a truncated frame"
    return out


def _ping(sock_path: str) -> bytes:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect(sock_path)
        s.sendall(b"GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
        return data
    finally:
        s.close()


def test_rm_f_of_a_container_that_is_exiting_or_has_exited_never_fails(daemon: Daemon) -> None:
    failures = []
    cmds = [["true"]] * 20 + [["sh", "-c", f"sleep 0.0{i % 10}"] for i in range(20)]
    for cmd in cmds:
        r = daemon.cli("run", "-d", "busybox", *cmd)
        assert r.returncode == 0, r.stderr
        id = r.stdout.decode().strip()
        rm = daemon.cli("rm", "-f", id)
        if rm.returncode != 0:
            failures.append((cmd, rm.stderr.decode().strip()))
        elif daemon.cli("inspect", id).returncode == 0:
            failures.append((cmd, "still listed after rm -f"))
    assert failures == [], f"{len(failures)} of {len(cmds)} forced removals failed: {failures[:5]}"


def test_stop_and_kill_of_a_container_that_is_exiting_succeed(daemon: Daemon) -> None:
    failures = []
    for i in range(10):
        id = daemon.cli("run", "-d", "busybox", "sh", "-c", f"sleep 0.0{i}").stdout.decode().strip()
        for verb in (["stop", "-t", "1"], ["kill"]):
            r = daemon.cli(*verb, id)
            # kill of a container that is not running any more is Docker's 409; never a 404/500/503
            if r.returncode != 0 and b"is not running" not in r.stderr:
                failures.append((verb, r.stderr.decode().strip()))
        assert daemon.cli("rm", "-f", id).returncode == 0
    assert failures == []


def test_stop_uses_the_containers_stop_timeout_and_a_negative_timeout_waits(daemon: Daemon) -> None:
    # SIGTERM is ignored: only the SIGKILL after the container's own StopTimeout (1 s, not 10) ends it
    id = daemon.cli("run", "-d", "--stop-timeout", "1", "busybox", "sh", "-c",
                    "trap '' TERM; while true; do sleep 0.1; done").stdout.decode().strip()
    try:
        t0 = time.monotonic()
        assert daemon.cli("stop", id).returncode == 0
        assert time.monotonic() - t0 < 6
        assert json.loads(daemon.cli("inspect", id).stdout)[0]["State"]["ExitCode"] == 137
    finally:
        daemon.cli("rm", "-f", id)
    # -t -1: no SIGKILL; the process exits on its own 2 s after SIGTERM, with its own code
    id = daemon.cli("run", "-d", "busybox", "sh", "-c",
                    "trap 'sleep 2; exit 3' TERM; while true; do sleep 0.1; done").stdout.decode().strip()
    try:
        assert daemon.cli("stop", "-t", "-1", id).returncode == 0
        assert json.loads(daemon.cli("inspect", id).stdout)[0]["State"]["ExitCode"] == 3
    finally:
        daemon.cli("rm", "-f", id)


def test_live_logs_follow_frames_carry_one_line_each(daemon: Daemon) -> None:
    api = Client(daemon.host)
    script = 'sleep 0.5; i=0; while [ $i -lt 50 ]; do printf "a$i\\nb$i\\n"; i=$((i+1)); done; printf end'
    id = daemon.cli("run", "-d", "busybox", "sh", "-c", script).stdout.decode().strip()
    try:
        body = api.request("GET", f"/containers/{id}/logs", {"follow": 1, "stdout": 1, "stderr": 1}).read()
        payloads = [data for _, data in _frames(body)]
        assert b"".join(payloads) == b"".join(b"a%d\nb%d\n" % (i, i) for i in range(50)) + b"end"
        several = [p for p in payloads if p.count(b"\n") > 1]
        assert several == [], f"frames with more than one line: {several[:3]}"
        assert all(p.endswith(b"\n") for p in payloads[:-1]) and payloads[-1] == b"end"
    finally:
        daemon.cli("rm", "-f", id)


def test_a_restart_always_container_that_fails_to_start_leaves_the_api_answering(fresh_daemon: Daemon) -> None:
    """A start that fails closes its FIFOs once: before, the cancelled copier closed the same
    numbers again ("Task exception was never retrieved"), and when a number had been reused
    meanwhile, closed the daemon's freshly opened API socket."""
    d = fresh_daemon
    broken = [f"broken{i}" for i in range(3)]
    for name in broken:
        r = d.cli("run", "-d", "--restart=always", "--name", name, "busybox", "/no/such/entrypoint")
        assert r.returncode != 0
    r = d.cli("run", "-d", "--restart=always", "--name", "looping", "busybox", "sh", "-c", "sleep 0.2; exit 3")
    assert r.returncode == 0, r.stderr
    for _ in range(3):  # every daemon start retries the broken ones, while the other one loops
        d.stop()
        d.start()
        for n in range(200):
            reply = _ping(str(d.socket))
            assert reply.startswith(b"HTTP/1.1 200"), (n, reply)
        for name in broken * 3:
            r = d.cli("start", name)
            assert r.returncode != 0 and b"no/such/entrypoint" in r.stderr, r.stderr
        assert _ping(str(d.socket)).startswith(b"HTTP/1.1 200")
    assert json.loads(d.cli("inspect", "looping").stdout)[0]["RestartCount"] >= 1
    assert daemon_log_problems(d) == []
    assert d.cli("rm", "-f", *broken, "looping").returncode == 0


def test_state_transitions_are_serialized(daemon: Daemon) -> None:
    """start, stop, kill and rm -f of one container at once: each answers as Docker does, and the
    container ends removed with nothing of it left running."""
    import concurrent.futures

    id = daemon.cli("create", "busybox", "sleep", "1000").stdout.decode().strip()
    verbs = [["start", id], ["stop", "-t", "1", id], ["kill", id], ["start", id], ["restart", "-t", "0", id]] * 3
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda v: daemon.cli(*v), verbs))
    for verb, r in zip(verbs, results):
        if r.returncode != 0:  # only Docker's answers for a container in the wrong state
            assert b"is not running" in r.stderr or b"already" in r.stderr, (verb, r.stderr)
    r = daemon.cli("rm", "-f", id)
    assert r.returncode == 0, r.stderr
    assert daemon.cli("inspect", id).returncode != 0


def test_execs_still_running_when_the_daemon_stops_log_nothing_unhandled(fresh_daemon: Daemon) -> None:
    """Regression: the output pumps of an exec that outlives the daemon were cancelled at shutdown
    and asyncio logged "_GatheringFuture exception was never retrieved"."""
    cid = fresh_daemon.cli("run", "-d", "busybox", "sleep", "1000").stdout.decode().strip()
    for tty in ([], ["-t"]):
        assert fresh_daemon.cli("exec", "-d", *tty, cid, "sleep", "1000").returncode == 0
    fresh_daemon.stop()
    assert daemon_log_problems(fresh_daemon) == []
