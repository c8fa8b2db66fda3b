"""The ``local`` log driver end to end: binary records, rotation, gzip of rotated files, logs filters."""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

import pytest

from tests.conftest import Daemon, inspect

pytestmark = pytest.mark.root


def _local_dir(daemon: Daemon, cid: str) -> Path:
    return daemon.data_root / "containers" / cid / "local-logs"


def _run_to_exit(daemon: Daemon, *args: str) -> str:
    r = daemon.cli("run", "-d", *args)
    assert r.returncode == 0, r.stderr.decode()
    cid = r.stdout.decode().strip()
    r = daemon.cli("wait", cid)
    assert r.returncode == 0 and r.stdout.strip() == b"0", r.stderr.decode()
    return cid


def test_local_rotates_compresses_and_tails(daemon: Daemon) -> None:
    cid = _run_to_exit(daemon, "--log-driver", "local", "--log-opt", "max-size=2k", "--log-opt", "max-file=3",
                       "busybox", "sh", "-c", "i=0; while [ $i -lt 400 ]; do echo line$i; i=$((i+1)); done; "
                       "echo oops >&2")
    try:
        c = inspect(daemon, cid)
        assert c["HostConfig"]["LogConfig"] == {"Type": "local", "Config": {"max-size": "2k", "max-file": "3"}}
        assert c["LogPath"] == ""
        d = _local_dir(daemon, cid)
        deadline = time.monotonic() + 10  # the rotated file is compressed by a thread
        while sorted(p.name for p in d.iterdir()) != ["container.log", "container.log.1.gz", "container.log.2.gz"]:
            assert time.monotonic() < deadline, sorted(p.name for p in d.iterdir())
            time.sleep(0.05)
        assert (d / "container.log").stat().st_size <= 2048
        with gzip.open(d / "container.log.1.gz") as f:
            assert b"line" in f.read()  # real gzip of the binary records
        assert not (daemon.data_root / "containers" / cid / f"{cid}-json.log").exists()

        r = daemon.cli("logs", "--tail", "3", cid)
        assert r.returncode == 0, r.stderr.decode()
        assert r.stdout == b"line398\nline399\n" and r.stderr == b"oops\n"
        r = daemon.cli("logs", "--tail", "2", "--timestamps", cid)
        stamped = r.stdout.decode().split()
        assert stamped[1] == "line399" and stamped[0].endswith("Z") and len(stamped[0]) == 30

        r = daemon.cli("logs", cid)  # everything the three files still hold, in order, none repeated
        lines = r.stdout.decode().split()
        assert 100 < len(lines) < 400 and lines[-1] == "line399"
        numbers = [int(x[4:]) for x in lines]
        assert numbers == list(range(numbers[0], 400))
    finally:
        daemon.cli("rm", "-f", cid)


def test_local_since_until_and_follow(daemon: Daemon) -> None:
    r = daemon.cli("run", "-d", "--log-driver", "local", "busybox", "sh", "-c",
                   "echo early; sleep 1.2; echo late; sleep 0.3; echo last")
    assert r.returncode == 0, r.stderr.decode()
    cid = r.stdout.decode().strip()
    try:
        r = daemon.cli("logs", "-f", cid)  # follows to the end of the run
        assert r.returncode == 0, r.stderr.decode()
        assert r.stdout == b"early\nlate\nlast\n"
        r = daemon.cli("logs", "--timestamps", cid)  # the stamps stored with the records
        stamps = dict(reversed(line.split(" ", 1)) for line in r.stdout.decode().splitlines())
        assert list(stamps) == ["early", "late", "last"]
        late = stamps["late"]
        r = daemon.cli("logs", "--since", late, cid)
        assert r.stdout == b"late\nlast\n", r.stderr.decode()
        r = daemon.cli("logs", "--until", late, cid)
        assert r.stdout == b"early\nlate\n", r.stderr.decode()
        r = daemon.cli("logs", "--since", late, "--tail", "1", cid)
        assert r.stdout == b"last\n"
    finally:
        daemon.cli("rm", "-f", cid)


def test_log_driver_refusals(daemon: Daemon) -> None:
    r = daemon.cli("create", "--log-driver", "syslogish", "busybox", "true")
    assert r.returncode == 125
    assert b"logger: no log driver named 'syslogish' is registered" in r.stderr
    r = daemon.cli("create", "--log-driver", "local", "--log-opt", "labels=x", "busybox", "true")
    assert r.returncode == 125
    assert b"unknown log opt 'labels' for log driver local" in r.stderr
    r = daemon.cli("create", "--log-driver", "local", "--log-opt", "max-file=0", "busybox", "true")
    assert r.returncode == 125 and b"max-file cannot be less than 1" in r.stderr


def test_log_driver_unknown_is_400(daemon: Daemon) -> None:
    import socket

    body = json.dumps({"Image": "busybox", "HostConfig": {"LogConfig": {"Type": "nope", "Config": {}}}}).encode()
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(daemon.socket))
    try:
        s.sendall(b"POST /v1.51/containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        raw = b""
        while chunk := s.recv(65536):
            raw += chunk
    finally:
        s.close()
    head, _, payload = raw.partition(b"\r\n\r\n")
    assert head.split()[1] == b"400"
    assert json.loads(payload) == {"message": "logger: no log driver named 'nope' is registered"}
