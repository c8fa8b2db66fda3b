"""A daemon whose bridge configuration changed never deletes the bridge it used to have.

With another name configured the old bridge may belong to another daemon now (the `make demo`
daemon's dockyard0 was once deleted by a test daemon restarted with `--bridge-name none`).
"""

from __future__ import annotations

import random
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from tests.conftest import Daemon

pytestmark = pytest.mark.root


def _link_exists(name: str) -> bool:
    return subprocess.run(["ip", "link", "show", name], capture_output=True).returncode == 0


def test_restart_with_another_bridge_config_leaves_the_old_bridge_alone() -> None:
    bridge = f"dyo{uuid.uuid4().hex[:8]}"
    base = Path(tempfile.mkdtemp(prefix="dy-", dir="/tmp"))
    first = Daemon(base)
    first.extra_args = ["--bridge-name", bridge, "--bridge-subnet", f"10.220.{random.randint(0, 255)}.0/24"]
    try:
        first.start()
        assert _link_exists(bridge)
        first.stop()
        # The old bridge stands in for one that another daemon now uses: keep it up while we restart.
        if not _link_exists(bridge):
            subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], check=True)
        second = Daemon(base)
        second.cgroup_parent = first.cgroup_parent
        second.start()
        second.stop()
        assert _link_exists(bridge), "a daemon deleted a bridge it no longer owns"
    finally:
        subprocess.run(["ip", "link", "del", bridge], capture_output=True)
        first.cleanup()
