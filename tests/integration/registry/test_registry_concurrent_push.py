"""Several pushes of one image at once (Compose v2's ``build --push`` pushes a shared image once per
service, two ``docker push`` of one tag), then several pulls of it at once into another daemon:
all succeed, the registry serves the image, and no ingest is left in either content store.

A push writes to the content store when the image has plain layers (an import, a build): the
gzip copies and the manifest naming them. Two pushes wrote that manifest under one ingest ref and
failed on each other's half-made ingest (``FileNotFoundError .../ingest/<hash>.tmp-.../ref``) or
on its lock."""

from __future__ import annotations

import json
import subprocess
import tempfile
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import Daemon

pytestmark = pytest.mark.root
N = 6


def _ingests(d: Daemon) -> list[str]:
    return [str(p) for ingest in d.data_root.rglob("ingest") if ingest.is_dir() for p in ingest.iterdir()]


def _all_at_once(d: Daemon, *args: str) -> list[subprocess.CompletedProcess[bytes]]:
    with ThreadPoolExecutor(N) as pool:
        return list(pool.map(lambda _: d.cli(*args, timeout=120), range(N)))


def test_concurrent_pushes_then_concurrent_pulls_of_one_image(fresh_daemon: Daemon, registry: str) -> None:
    d = fresh_daemon
    ref = f"{registry}/team/shared:v1"
    assert d.cli("tag", "busybox:latest", ref).returncode == 0
    pushes = _all_at_once(d, "push", ref)
    assert [r.stderr.decode() for r in pushes if r.returncode] == []
    assert _ingests(d) == []
    req = urllib.request.Request(f"http://{registry}/v2/team/shared/manifests/v1", headers={
        "Accept": "application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        manifest = json.loads(resp.read())
    assert [lay["mediaType"].endswith("gzip") for lay in manifest["layers"]] == [True]

    other = Daemon(Path(tempfile.mkdtemp(prefix="dy-", dir="/tmp")))
    try:
        other.start()
        pulls = _all_at_once(other, "pull", ref)
        assert [r.stderr.decode() for r in pulls if r.returncode] == []
        assert _ingests(other) == []
        r = other.cli("run", "--rm", "--network", "none", ref, "echo", "pulled")
        assert r.returncode == 0 and r.stdout == b"pulled\n", r.stderr.decode()
    finally:
        other.cleanup()
