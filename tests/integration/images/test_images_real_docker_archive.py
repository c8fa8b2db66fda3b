"""`docker save` tars from the real Docker (Debian's docker.io) load into Dockyard, and Dockyard's `save`
tars load back into Docker, with the same image ID both ways."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, Daemon

pytestmark = pytest.mark.root


def _run(*argv: str) -> str:
    r = subprocess.run(list(argv), capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, (argv, r.stdout[-2000:], r.stderr[-2000:])
    return r.stdout


def test_docker_save_loads_into_dockyard_and_back(daemon: Daemon, busybox_tar: Path, tmp_path: Path) -> None:
    assert shutil.which("dockerd"), "Debian's docker.io is installed by `make deps`"
    sys.path.insert(0, str(REPO / "bench"))
    from run_latency import PrivateDockerd  # noqa: E402  (the bench's clean private dockerd)

    d = PrivateDockerd(shutil.which("dockerd") or "/usr/sbin/dockerd", "/usr/local/bin/docker")
    dockyard = [str(Path(sys.executable).parent / "dockyard"), "-H", daemon.host]
    try:
        d.start()
        docker = ["/usr/local/bin/docker", "-H", d.host]
        _run(*docker, "import", "-c", 'CMD ["sh"]', str(busybox_tar), "fromdocker/bb:v1")
        docker_id = _run(*docker, "image", "inspect", "-f", "{{.Id}}", "fromdocker/bb:v1").strip()
        _run(*docker, "save", "-o", str(tmp_path / "from-docker.tar"), "fromdocker/bb:v1")

        out = _run(*dockyard, "load", "-i", str(tmp_path / "from-docker.tar"))
        assert "fromdocker/bb:v1" in out
        ours = json.loads(_run(*dockyard, "image", "inspect", "fromdocker/bb:v1"))[0]["Id"]
        assert ours == docker_id
        assert _run(*dockyard, "run", "--rm", "fromdocker/bb:v1", "echo", "from docker") == "from docker\n"

        _run(*dockyard, "tag", "fromdocker/bb:v1", "fromdockyard/bb:v2")
        _run(*dockyard, "save", "-o", str(tmp_path / "from-dockyard.tar"), "fromdockyard/bb:v2")
        _run(*docker, "load", "-i", str(tmp_path / "from-dockyard.tar"))
        back = _run(*docker, "image", "inspect", "-f", "{{.Id}}", "fromdockyard/bb:v2").strip()
        assert back == docker_id
        assert _run(*docker, "run", "--rm", "--network", "none", "fromdockyard/bb:v2", "echo", "back") == "back\n"
    finally:
        d.stop()
        subprocess.run([*dockyard, "rmi", "fromdocker/bb:v1", "fromdockyard/bb:v2"], capture_output=True)
