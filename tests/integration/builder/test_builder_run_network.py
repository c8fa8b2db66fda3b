"""RUN on the default bridge, and layers without the /etc files the engine mounts.

The classic builder runs RUN on the daemon's default bridge, in a network namespace of
its own: a RUN does not see the host's interfaces or loopback services. The engine
bind-mounts /etc/hosts, /etc/resolv.conf and /etc/hostname into every container; their
mount points and copy-ups are not the container's changes, so neither a RUN layer nor
`commit` may carry them (dockerd keeps them in its init layer).
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Daemon, started_daemon

pytestmark = pytest.mark.root
MANAGED = {"etc/hosts", "etc/hostname", "etc/resolv.conf"}


@pytest.fixture(scope="module")
def bridged(busybox_tar: Path) -> Iterator[Daemon]:
    with started_daemon(busybox_tar, "dyb", "10.217") as d:
        yield d


def top_layer_names(d: Daemon, image: str, tmp_path: Path) -> set[str]:
    out = tmp_path / f"{image}.tar"
    r = d.cli("save", "-o", str(out), image)
    assert r.returncode == 0, r.stderr.decode()
    with tarfile.open(out) as tf:
        manifest = json.load(tf.extractfile("manifest.json"))  # type: ignore[arg-type]
        layer = tf.extractfile(manifest[0]["Layers"][-1]).read()  # type: ignore[union-attr]
    with tarfile.open(fileobj=io.BytesIO(layer), mode="r:*") as lt:
        return {m.name.rstrip("/") for m in lt.getmembers()}


def test_run_is_on_the_default_bridge_and_its_layer_leaves_the_etc_files_out(bridged: Daemon,
                                                                             tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(
        "FROM busybox\n"
        "RUN ls /sys/class/net | tr '\\n' ' ' > /net && cat /etc/hosts > /hosts.txt\n")
    r = bridged.cli("build", "-q", "-t", "runnet", str(ctx))
    assert r.returncode == 0, r.stderr.decode()
    net = bridged.cli("run", "--rm", "runnet", "cat", "/net").stdout.decode().split()
    hosts = bridged.cli("run", "--rm", "runnet", "cat", "/hosts.txt").stdout.decode()
    assert sorted(net) == ["eth0", "lo"]  # its own namespace: one veth on the bridge, no host links
    assert "10.217." in hosts  # its address on the daemon's bridge, written by the network manager
    names = top_layer_names(bridged, "runnet", tmp_path)
    assert {"net", "hosts.txt"} <= names
    assert not names & MANAGED, names
    assert bridged.cli("rmi", "runnet").returncode == 0


def test_commit_leaves_the_engine_managed_etc_files_out(bridged: Daemon, tmp_path: Path) -> None:
    r = bridged.cli("run", "--name", "commit-etc", "busybox", "sh", "-c", "echo x > /f")
    assert r.returncode == 0, r.stderr.decode()
    try:
        assert bridged.cli("commit", "commit-etc", "committed-etc").returncode == 0
        names = top_layer_names(bridged, "committed-etc", tmp_path)
        assert "f" in names
        assert not names & MANAGED, names
    finally:
        bridged.cli("rm", "-f", "commit-etc")
        bridged.cli("rmi", "committed-etc")
