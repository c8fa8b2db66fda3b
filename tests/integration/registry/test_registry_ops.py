"""Operations: gc, read-only mode, the write lock, and the pull-through cache (against a local upstream)."""

from __future__ import annotations

import json
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


def _index(*children: tuple[str, int]) -> dict:
    return {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d, "size": n}
                          for d, n in children]}


def test_sparse_manifests_and_gc(tmp_path: Path) -> None:
    """A sparse index (a child never pushed) and, with --sparse-manifests, an image whose layer
    was never pushed are stored; gc keeps what they reference that exists, sweeps the rest,
    and a missing child stays unknown. Without its config an image is refused even so."""
    root = tmp_path / "root"
    s = Server(root, ["--sparse-manifests"]).start()
    try:
        child, m = s.push_image("sp/app", "amd64", [b"child layer"])
        ghost = sha(b"ghost child")
        assert s.push_manifest("sp/app", "multi", _index((child, len(json.dumps(m))), (ghost, 99))).status == 201
        cfg = s.push_blob("sp/app", b'{"sparse":1}')
        sparse = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                  "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg, "size": 12},
                  "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha(b"absent"),
                              "size": 6}]}
        assert s.push_manifest("sp/app", "sparse-image", sparse).status == 201
        no_config = {**sparse, "config": {**sparse["config"], "digest": sha(b"no config")}}
        r = s.push_manifest("sp/app", "no-config", no_config)
        assert r.status == 400 and r.codes() == ["MANIFEST_BLOB_UNKNOWN"]
        assert s.req("GET", f"/v2/sp/app/blobs/{sha(b'absent')}").status == 404
        gone, _ = s.push_image("sp/app", "gone", [b"gone layer"])
        assert s.req("DELETE", f"/v2/sp/app/manifests/{gone}").status == 202
    finally:
        s.stop()
    r = _dockyard("registry", "gc", "--root", str(root))
    assert r.returncode == 0, r.stderr
    swept = {line.split()[1] for line in r.stdout.splitlines() if line.startswith("deleted ")}
    assert swept == {gone, sha(b"gone layer")}
    ro = Server(root, ["--read-only"]).start()
    try:
        for ref in ("multi", "amd64", child, "sparse-image"):
            assert ro.req("GET", f"/v2/sp/app/manifests/{ref}").status == 200, ref
        assert ro.req("GET", f"/v2/sp/app/blobs/{sha(b'child layer')}").body == b"child layer"
        assert ro.req("GET", f"/v2/sp/app/blobs/{cfg}").status == 200
        r = ro.req("GET", f"/v2/sp/app/manifests/{ghost}")
        assert r.status == 404 and r.codes() == ["MANIFEST_UNKNOWN"]
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
