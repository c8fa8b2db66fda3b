"""Crash and concurrency: no partial blob ever visible, concurrent pushes stay consistent."""

from __future__ import annotations

import hashlib
import http.client
import os
import signal
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "unit" / "registry"))
from dockyard_regkit import Server, sha


def _blobs_verified(root: Path) -> list[str]:
    """Every published blob's bytes hash to its name; returns the digests."""
    out = []
    for f in sorted((root / "content" / "blobs" / "sha256").iterdir()):
        assert hashlib.sha256(f.read_bytes()).hexdigest() == f.name, f"corrupt blob {f}"
        out.append("sha256:" + f.name)
    return out


def test_kill9_during_20_uploads_leaves_no_partial_blob(tmp_path: Path) -> None:
    s = Server(tmp_path / "root").start()
    payloads = [os.urandom(1 << 20) * 4 for _ in range(20)]  # 4 MiB each
    socks: list[socket.socket] = []
    try:
        sent = threading.Barrier(21)

        def upload(i: int) -> None:
            data = payloads[i]
            if i % 2:  # half: PATCH of a session, the other half: monolithic POST
                loc = s.req("POST", f"/v2/crash/r{i}/blobs/uploads/").headers["Location"]
                head = f"PATCH {loc} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(data)}\r\n\r\n"
            else:
                head = (f"POST /v2/crash/r{i}/blobs/uploads/?digest={sha(data)} HTTP/1.1\r\nHost: x\r\n"
                        f"Content-Length: {len(data)}\r\n\r\n")
            c = socket.create_connection(("127.0.0.1", s.port))
            socks.append(c)
            c.sendall(head.encode() + data[: len(data) // 2])  # half the body, then the server dies
            sent.wait(timeout=30)

        threads = [threading.Thread(target=upload, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        sent.wait(timeout=30)
        deadline = time.monotonic() + 10  # let the server take the bytes in
        ingest = s.root / "content" / "ingest"
        while time.monotonic() < deadline and sum(1 for f in ingest.glob("*/data") if f.stat().st_size) < 20:
            time.sleep(0.05)
        partial = [f.stat().st_size for f in ingest.glob("*/data")]
        assert len(partial) == 20 and all(0 < n < 4 << 20 for n in partial), partial
        s.stop(signal.SIGKILL)
        for t in threads:
            t.join(timeout=30)
    finally:
        for c in socks:
            c.close()
        s.stop()
    assert _blobs_verified(s.root) == []
    s2 = Server(s.root).start()
    try:
        for i, data in enumerate(payloads):
            assert s2.req("HEAD", f"/v2/crash/r{i}/blobs/{sha(data)}").status == 404
        s2.push_blob("crash/r0", payloads[0])  # a fresh upload of the same blob still works
        assert s2.req("GET", f"/v2/crash/r0/blobs/{sha(payloads[0])}").body == payloads[0]
    finally:
        s2.stop()
    assert _blobs_verified(s.root) == [sha(payloads[0])]


def test_20_concurrent_pushes_sharing_layers(tmp_path: Path) -> None:
    s = Server(tmp_path / "root").start()
    shared = [os.urandom(300_000), os.urandom(200_000)]
    try:
        def push(i: int) -> tuple[str, str, str]:
            repo, tag = f"conc/img{i % 5}", f"t{i}"
            digest, _ = s.push_image(repo, tag, [*shared, f"unique {i}".encode()], config=f'{{"i":{i}}}'.encode())
            return repo, tag, digest

        with ThreadPoolExecutor(20) as pool:
            results = list(pool.map(push, range(20)))
        for repo, tag, digest in results:
            r = s.req("GET", f"/v2/{repo}/manifests/{tag}")
            assert r.status == 200 and r.headers["Docker-Content-Digest"] == digest
            for layer in r.json()["layers"]:
                assert s.req("HEAD", f"/v2/{repo}/blobs/{layer['digest']}").status == 200
        for k in range(5):
            tags = s.req("GET", f"/v2/conc/img{k}/tags/list").json()["tags"]
            assert sorted(tags) == sorted(f"t{i}" for i in range(20) if i % 5 == k)
    finally:
        s.stop()
    blobs = _blobs_verified(s.root)
    # one copy per blob: 2 shared + 20 unique layers + 20 configs + 20 manifests
    assert len(blobs) == len(set(blobs)) == 62
    assert list((s.root / "content" / "ingest").iterdir()) == []


@pytest.mark.parametrize("chunks", [1, 3])
def test_large_blob_digest_checked_end_to_end(tmp_path: Path, chunks: int) -> None:
    s = Server(tmp_path / "root").start()
    try:
        data = os.urandom(3 << 20)
        loc = s.req("POST", "/v2/big/x/blobs/uploads/").headers["Location"]
        step = len(data) // chunks + 1
        for off in range(0, len(data), step):
            part = data[off:off + step]
            r = s.req("PATCH", loc, part, {"Content-Range": f"{off}-{off + len(part) - 1}"})
            assert r.status == 202
            loc = r.headers["Location"]
        wrong = data[:-1] + bytes([data[-1] ^ 1])  # always differs (a fixed b"!" matched 1 time in 256)
        r = s.req("PUT", f"{loc}?digest={sha(wrong)}")
        assert r.status == 400 and r.codes() == ["DIGEST_INVALID"]
        assert s.req("HEAD", f"/v2/big/x/blobs/{sha(data)}").status == 404
    finally:
        s.stop()
    assert _blobs_verified(s.root) == []


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _settled_fds(pid: int, at_most: int, timeout: float = 10.0) -> int:
    """The fd count once closing connections are gone (or the last count seen)."""
    deadline = time.monotonic() + timeout
    while (n := _fds(pid)) > at_most and time.monotonic() < deadline:
        time.sleep(0.1)
    return n


def _abandon(conn: http.client.HTTPConnection, repo: str, chunk: bytes) -> str:
    """POST + PATCH one chunk, never finished; returns the upload's Location."""
    conn.request("POST", f"/v2/{repo}/blobs/uploads/", headers={"Content-Length": "0"})
    r = conn.getresponse()
    r.read()
    assert r.status == 202
    loc = r.headers["Location"]
    conn.request("PATCH", loc, body=chunk, headers={"Content-Range": f"0-{len(chunk) - 1}"})
    r = conn.getresponse()
    r.read()
    assert r.status == 202, r.status
    return r.headers["Location"]


def test_1000_abandoned_uploads_hold_no_fds(tmp_path: Path) -> None:
    s = Server(tmp_path / "root").start()
    try:
        assert s.proc is not None
        s.push_blob("fd/warm", b"warm up the threads and the store")
        idle = _fds(s.proc.pid)
        conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
        try:
            locs = [_abandon(conn, f"fd/r{i % 10}", f"chunk {i}".encode()) for i in range(1000)]
        finally:
            conn.close()
        after = _settled_fds(s.proc.pid, idle + 3)
        assert after <= idle + 3, f"{after} fds after 1,000 abandoned uploads, {idle} idle"
        assert sum(1 for _ in (s.root / "content" / "ingest").iterdir()) == 1000  # kept: not idle long enough
        data = b"chunk 7" + b" and the rest"  # an abandoned upload can still be finished
        r = s.req("PUT", f"{locs[7]}?digest={sha(data)}", data[7:], {"Content-Range": f"7-{len(data) - 1}"})
        assert r.status == 201, r.body
        assert s.req("GET", f"/v2/fd/r7/blobs/{sha(data)}").body == data
    finally:
        s.stop()


def test_idle_upload_expires_with_its_bytes(tmp_path: Path) -> None:
    s = Server(tmp_path / "root", ["--upload-ttl", "1s"]).start()
    ingest = s.root / "content" / "ingest"
    try:
        conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
        try:
            idle_loc = _abandon(conn, "exp/idle", b"abandoned bytes")
            busy_loc = _abandon(conn, "exp/busy", b"0")
        finally:
            conn.close()
        assert len(list(ingest.iterdir())) == 2
        busy = b"0"
        deadline = time.monotonic() + 3  # three TTLs: the idle one goes, the busy one stays
        while time.monotonic() < deadline:
            part = str(len(busy) % 10).encode()
            r = s.req("PATCH", busy_loc, part, {"Content-Range": f"{len(busy)}-{len(busy)}"})
            assert r.status == 202, r.body
            busy += part
            time.sleep(0.3)
        assert len(list(ingest.iterdir())) == 1  # removed by the purge, before anyone asked
        for method in ("GET", "PATCH", "PUT", "DELETE"):
            r = s.req(method, f"{idle_loc}?digest={sha(b'abandoned bytes')}" if method == "PUT" else idle_loc,
                      b"more" if method == "PATCH" else None)
            assert r.status == 404 and r.codes() == ["BLOB_UPLOAD_UNKNOWN"], (method, r.status, r.body)
        r = s.req("PUT", f"{busy_loc}?digest={sha(busy)}")
        assert r.status == 201 and s.req("GET", f"/v2/exp/busy/blobs/{sha(busy)}").body == busy
        assert list(ingest.iterdir()) == []
    finally:
        s.stop()


def test_upload_expiry_after_a_restart_and_bad_ttl_refused(tmp_path: Path) -> None:
    s = Server(tmp_path / "root").start()
    try:
        loc = s.req("POST", "/v2/exp/restart/blobs/uploads/").headers["Location"]
        assert s.req("PATCH", loc, b"before the restart").status == 202
    finally:
        s.stop()
    s2 = Server(s.root, ["--upload-ttl", "0.5"]).start()
    try:
        time.sleep(1.0)
        r = s2.req("GET", loc)
        assert r.status == 404 and r.codes() == ["BLOB_UPLOAD_UNKNOWN"]
        assert list((s.root / "content" / "ingest").iterdir()) == []
    finally:
        s2.stop()
    with pytest.raises(RuntimeError, match="upload-ttl"):
        Server(tmp_path / "bad", ["--upload-ttl", "soon"]).start()
