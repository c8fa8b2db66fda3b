"""The public Docker CLI smoke battery driven by the ``dockyard`` CLI itself (DOCKER_BIN=dockyard).

PASSING lists the scenarios (all 57) the dockyard client passes against a private
dockyardd with its own bridge (so port publishing works); grow it as the CLI does.
The battery's last line must read "N passed, 0 failed".
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import BIN, REPO, Daemon, started_daemon

pytestmark = pytest.mark.root

BATTERY = Path(os.environ.get("COMPAT_BATTERY", REPO.parent / "shared" / "compat" / "docker-cli-smoke.sh"))

PASSING = (
    "version info ping_api_negotiation images_ls image_inspect tag_rmi history "
    "run_exit_codes run_rm run_env run_workdir_user run_name run_entrypoint run_detach_logs_wait "
    "run_stdin run_tty ps_filters stop_start kill restart pause_unpause rm_force "
    "exec exec_stdin logs_tail logs_follow logs_since cp commit diff export_import save_load rename top port "
    "publish stats inspect_format volume_lifecycle volume_use bind_rw bind_ro tmpfs "
    "network_lifecycle network_dns cgroup_limits read_only caps restart_policy healthcheck "
    "build build_cache events system_df container_prune image_prune volume_prune"
).split()


@pytest.fixture(scope="module")
def bridged_daemon(busybox_tar: Path) -> Iterator[Daemon]:
    with started_daemon(busybox_tar, "dyc", "10.215") as d:
        yield d


def test_docker_cli_smoke_battery_with_dockyard_client(bridged_daemon: Daemon, tmp_path: Path) -> None:
    assert BATTERY.exists(), f"the compat battery is missing: {BATTERY}"
    env = {**os.environ, "DOCKER_HOST": bridged_daemon.host, "DOCKER_BIN": str(BIN / "dockyard"),
           "COMPAT_ONLY": " ".join(PASSING), "COMPAT_TIMEOUT": "30", "COMPAT_SCN_TIMEOUT": "90",
           "COMPAT_VERBOSE": "1"}
    r = subprocess.run(["bash", str(BATTERY), "busybox:latest"], env=env, capture_output=True, timeout=900,
                       cwd=tmp_path)
    out = r.stdout.decode(errors="replace")
    lines = out.strip().splitlines()
    assert lines, r.stderr.decode(errors="replace")
    assert lines[-1] == f"{len(PASSING)} passed, 0 failed", out[-6000:] + r.stderr.decode(errors="replace")[-2000:]
    assert r.returncode == 0
