"""Operations: gc, read-only mode, the write lock, and the pull-through cache (against a local upstream)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "unit" / "registry"))
from dockyard_regkit import BIN, Server, sha


def _dockyard(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "dockyard"), *args], capture_output=True, text=True, timeout=60, check=False)


def test_gc_sweeps_unreferenced_and_read_only(tmp_path: Path) -> None:
    root = tmp_path / "root"
    s = Server(root).start()
    try:
        keep, _ = s.push_image("gc/app", "keep", [b"kept layer"])
        drop, _ = s.push_image("gc/app", "drop", [b"dropped layer"])
        orphan = s.push_blob("gc/app", b"never referenced")
        assert s.req("DELETE", f"/v2/gc/app/manifests/{drop}").status == 202
        r = _dockyard("registry", "gc", "--root", str(root))
        assert r.returncode != 0 and "using this root" in r.stderr  # a read-write server holds the lock
    finally:
        s.stop()
    r = _dockyard("registry", "gc", "--root", str(root))
    assert r.returncode == 0, r.stderr
    swept = {line.split()[1] for line in r.stdout.splitlines() if line.startswith("deleted ")}
    assert swept == {drop, sha(b"dropped layer"), orphan}
    ro = Server(root, ["--read-only"]).start()
    try:
        r = ro.req("GET", "/v2/gc/app/manifests/keep")
        assert r.status == 200 and r.headers["Docker-Content-Digest"] == keep
        assert ro.req("GET", f"/v2/gc/app/blobs/{sha(b'kept layer')}").body == b"kept layer"
        assert ro.req("GET", f"/v2/gc/app/blobs/{orphan}").status == 404
        r = ro.req("POST", "/v2/gc/app/blobs/uploads/")
        assert r.status == 405 and r.codes() == ["UNSUPPORTED"]
        assert ro.req("DELETE", f"/v2/gc/app/manifests/{keep}").status == 405
        assert _dockyard("registry", "gc", "--root", str(root), "--dry-run").returncode == 0
    finally:
        ro.stop()


def test_pull_through_cache(tmp_path: Path) -> None:
    up = Server(tmp_path / "upstream").start()
    cache = None
    try:
        digest, m = up.push_image("lib/app", "v1", [b"upstream layer"])
        cache = Server(tmp_path / "cache", ["--proxy-remote", f"http://{up.addr}"]).start()
        r = cache.req("GET", "/v2/lib/app/manifests/v1")
        assert r.status == 200 and r.headers["Docker-Content-Digest"] == digest
        layer = m["layers"][0]["digest"]
        assert cache.req("GET", f"/v2/lib/app/blobs/{layer}").body == b"upstream layer"
        assert cache.req("GET", "/v2/lib/app/tags/list").json()["tags"] == ["v1"]
        assert cache.req("POST", "/v2/lib/app/blobs/uploads/").status == 405
        up.stop()  # upstream gone: what was pulled is still served
        r = cache.req("GET", "/v2/lib/app/manifests/v1")
        assert r.status == 200 and r.headers["Docker-Content-Digest"] == digest
        assert cache.req("GET", f"/v2/lib/app/blobs/{layer}").body == b"upstream layer"
        assert cache.req("GET", f"/v2/lib/app/blobs/{sha(b'never')}").status == 404
    finally:
        up.stop()
        if cache is not None:
            cache.stop()
