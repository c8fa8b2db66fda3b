"""Build contexts are streamed to disk with limits (issue 13): a 1 GiB-expanding gzip context
never grows dockyardd's memory, an over-limit context is refused with a 400 naming the limit,
traversal names are refused, and COPY of a big context file reads it from disk."""

from __future__ import annotations

import io
import json
import os
import tarfile
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Daemon, started_daemon
from tests.httpcall import request

pytestmark = pytest.mark.root

GIB = 1 << 30
RSS_CEILING = 200 << 20


def post_build(d: Daemon, body: bytes, query: str = "") -> tuple[int, str]:
    status, _, answer = request(d, "POST", "/build" + query, raw=body, timeout=300)
    return status, answer.decode()


def _header(name: str, size: int) -> bytes:
    ti = tarfile.TarInfo(name)
    ti.size, ti.mode, ti.mtime = size, 0o644, 0
    return ti.tobuf(tarfile.PAX_FORMAT)


def _pad(size: int) -> bytes:
    return bytes(-size % 512)


def zeros_context(dockerfile: bytes, zeros: int) -> bytes:
    """A gzip (level 1) tar: the Dockerfile and ``zeros`` bytes of zeros; streamed, never whole."""
    z = zlib.compressobj(1, zlib.DEFLATED, 31)
    out = [z.compress(_header("Dockerfile", len(dockerfile)) + dockerfile + _pad(len(dockerfile)))]
    out.append(z.compress(_header("zeros", zeros)))
    block = bytes(8 << 20)
    left = zeros
    while left:
        n = min(left, len(block))
        out.append(z.compress(block[:n]))
        left -= n
    out.append(z.compress(_pad(zeros) + bytes(1024)))
    out.append(z.flush())
    return b"".join(out)


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{pid}/status")


class RssSampler:
    """The peak VmRSS of a process, sampled every 10 ms while in use (VmHWM is checked too)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _status_kib(self.pid, "VmRSS") << 10)
            time.sleep(0.01)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture
def limited_daemon(busybox_tar: Path) -> Iterator[Daemon]:
    """A fresh daemon with a 64 MiB context limit and at most 100 context entries."""
    with started_daemon(busybox_tar, extra_args=("--build-context-limit", "64m", "--build-context-max-files", "100")) as d:
        yield d


def context_dirs(d: Daemon) -> list[Path]:
    root = d.data_root / "builder" / "contexts"
    return sorted(root.iterdir()) if root.exists() else []


def test_a_1gib_gzip_context_builds_without_growing_the_daemon(fresh_daemon: Daemon) -> None:
    d = fresh_daemon
    assert d.proc is not None
    body = zeros_context(b"FROM busybox\nLABEL big=context\n", GIB)
    assert len(body) < 8 << 20
    with RssSampler(d.proc.pid) as rss:
        status, text = post_build(d, body, "?t=bigctx")
    assert status == 200, text
    assert '"aux"' in text and "error" not in text, text
    assert rss.peak < RSS_CEILING, f"dockyardd grew to {rss.peak >> 20} MiB"
    assert _status_kib(d.proc.pid, "VmHWM") << 10 < RSS_CEILING
    assert context_dirs(d) == []  # the docker CLI's path keeps nothing: its files are gone


def test_an_over_limit_context_is_refused_with_400_naming_the_limit(limited_daemon: Daemon) -> None:
    d = limited_daemon
    assert d.proc is not None
    with RssSampler(d.proc.pid) as rss:
        status, text = post_build(d, zeros_context(b"FROM busybox\n", GIB))
    assert status == 400, text
    msg = json.loads(text)["message"]
    assert "limit" in msg and "64.0 MiB" in msg and "--build-context-limit" in msg, msg
    assert rss.peak < RSS_CEILING, f"dockyardd grew to {rss.peak >> 20} MiB"
    assert context_dirs(d) == []
    # under the limit, the same daemon builds
    status, text = post_build(d, zeros_context(b"FROM busybox\nLABEL small=1\n", 1 << 20), "?t=small")
    assert status == 200 and '"aux"' in text, text


def _plain_tar(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def test_too_many_entries_and_traversal_names_are_refused(limited_daemon: Daemon) -> None:
    d = limited_daemon
    many = _plain_tar([("Dockerfile", b"FROM busybox\n")] + [(f"f{i}", b"x") for i in range(150)])
    status, text = post_build(d, many)
    assert status == 400 and "100" in text and "--build-context-max-files" in text, text
    status, text = post_build(d, _plain_tar([("Dockerfile", b"FROM busybox\n"), ("../../escape", b"x")]))
    assert status == 400 and "../../escape" in text, text
    assert context_dirs(d) == []


def test_copy_of_a_big_context_file_streams_from_disk(fresh_daemon: Daemon, tmp_path: Path) -> None:
    """COPY reads the file from the context directory in pieces: 300 MiB copied, RSS bounded."""
    d = fresh_daemon
    assert d.proc is not None
    size = 300 << 20
    body = zeros_context(b"FROM busybox\nCOPY zeros /zeros\n", size)
    with RssSampler(d.proc.pid) as rss:
        status, text = post_build(d, body, "?t=bigcopy")
    assert status == 200 and '"aux"' in text, text
    assert rss.peak < RSS_CEILING, f"dockyardd grew to {rss.peak >> 20} MiB"
    r = d.cli("run", "--rm", "bigcopy", "stat", "-c", "%s", "/zeros")
    assert r.stdout.decode().strip() == str(size), r.stderr
    assert os.statvfs(str(d.data_root)).f_bavail > 0
