"""No host user but root reaches a container's env, logs, config or rootfs (CVE-2021-41091/41103).

The daemon runs on roots under a world-traversable directory, so only the modes the daemons
give their roots and what lies beneath them keep the user ``nobody`` out. A container plants a
setuid-root busybox in its rootfs and prints a secret; ``nobody`` then tries every host path
to it that ``/proc/self/mountinfo`` (world-readable) names, reads the files that hold the env,
and stats everything under both roots. A canary only root may read must stay unread. (This
busybox drops its setuid privileges for ``cat``: on the old code the exec itself succeeded,
and any exec that succeeds fails the test.)
"""

from __future__ import annotations

import json
import os
import re
import secrets
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Daemon

pytestmark = pytest.mark.root

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c"]

# Run as nobody: try each operation, report what succeeded (and what an exec printed).
_PROBE = r"""
import json, os, subprocess, sys
req = json.load(sys.stdin)
out = {"stat": [], "read": [], "list": [], "exec": []}
for p in req["stat"]:
    try:
        os.lstat(p)
        out["stat"].append(p)
    except OSError:
        pass
for p in req["read"]:
    try:
        with open(p, "rb") as f:
            out["read"].append([p, f.read(1 << 20).decode("latin-1")])
    except OSError:
        pass
for p in req["list"]:
    try:
        out["list"].append([p, os.listdir(p)])
    except OSError:
        pass
for p in req["exec"]:
    try:
        r = subprocess.run(["busybox", "cat", req["canary"]], executable=p, capture_output=True, timeout=10)
        out["exec"].append([p, r.returncode, (r.stdout + r.stderr).decode("latin-1")])
    except OSError:
        pass
json.dump(out, sys.stdout)
"""


class Planted:
    def __init__(self, daemon: Daemon, cid: str, local_cid: str, env_secret: str, log_secret: str) -> None:
        self.daemon, self.cid, self.local_cid = daemon, cid, local_cid
        self.env_secret, self.log_secret = env_secret, log_secret


def _as_nobody(request: dict[str, object]) -> dict[str, list]:  # type: ignore[type-arg]
    r = subprocess.run([*NOBODY, _PROBE], input=json.dumps(request).encode(), capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    return json.loads(r.stdout)  # type: ignore[no-any-return]


def _wait_for(daemon: Daemon, cid: str, *cmd: str) -> None:
    deadline = time.monotonic() + 20
    while daemon.cli("exec", cid, *cmd).returncode != 0:
        assert time.monotonic() < deadline, f"{cmd} never succeeded in {cid}"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def planted(busybox_tar: Path) -> Iterator[Planted]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    base = Path(tempfile.mkdtemp(prefix="dy-", dir="/tmp"))
    base.chmod(0o755)  # only the daemons' own modes may keep other users out
    d = Daemon(base)
    # An older daemon's roots: world-traversable, a database readable by all. Starting tightens them.
    for old in (d.data_root / "containerd" / "snapshots" / "overlayfs", d.exec_root / "containerd" / "tasks",
                d.data_root / "containers"):
        old.mkdir(parents=True, mode=0o755)
    for old in (d.data_root, d.exec_root, d.data_root / "containerd", d.exec_root / "containerd"):
        old.chmod(0o755)
    (d.data_root / "engine.db").touch(mode=0o644)
    env_secret, log_secret = f"pw-{secrets.token_hex(8)}", f"log-{secrets.token_hex(8)}"
    try:
        d.start()
        r = d.cli("import", str(busybox_tar), "busybox:latest")
        assert r.returncode == 0, r.stderr.decode()
        script = f"cp /bin/busybox /suid-bb && chmod 4755 /suid-bb && echo {log_secret} && exec sleep 1000"
        r = d.cli("run", "-d", "-e", f"DB_PASSWORD={env_secret}", "busybox", "sh", "-c", script)
        assert r.returncode == 0, r.stderr.decode()
        cid = r.stdout.decode().strip()
        r = d.cli("run", "-d", "--log-driver", "local", "-e", f"DB_PASSWORD={env_secret}", "busybox",
                  "sh", "-c", f"echo {log_secret} && exec sleep 1000")
        assert r.returncode == 0, r.stderr.decode()
        local_cid = r.stdout.decode().strip()
        _wait_for(d, cid, "test", "-u", "/suid-bb")
        deadline = time.monotonic() + 10
        while log_secret.encode() not in d.cli("logs", local_cid).stdout:
            assert time.monotonic() < deadline, "the local-driver container never logged"
            time.sleep(0.1)
        yield Planted(d, cid, local_cid, env_secret, log_secret)
    finally:
        d.cleanup()


def _all_paths(root: Path) -> list[str]:
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        found += [os.path.join(dirpath, n) for n in dirnames + filenames]
    return found


def _mountinfo_paths(under: tuple[Path, ...]) -> set[str]:
    """Every host path /proc/self/mountinfo names under the roots: mount points and overlay dirs."""
    found = set()
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            found.add(fields[4].replace("\\040", " "))
            super_options = fields[fields.index("-") + 3]
            for opt in super_options.split(","):
                key, _, value = opt.partition("=")
                if key in ("lowerdir", "upperdir", "workdir"):
                    found.update(value.split(":"))
    return {p for p in found if any(p.startswith(f"{root}/") for root in under)}


def test_nobody_cannot_read_walk_or_exec_setuid(planted: Planted) -> None:
    d = planted.daemon
    roots = (d.data_root, d.exec_root)
    canary = d.base / "canary"
    canary_text = f"canary-{secrets.token_hex(8)}"
    canary.write_text(canary_text)
    canary.chmod(0o600)
    control = d.base / "control"
    control.write_text("readable")
    control.chmod(0o644)

    suid_paths = [os.path.join(p, "suid-bb") for p in _mountinfo_paths(roots)]
    planted_at = [p for p in suid_paths if os.path.exists(p)]
    st = os.stat(planted_at[0]) if planted_at else None
    assert st is not None and st.st_uid == 0 and st.st_mode & stat.S_ISUID, suid_paths  # the test is not vacuous

    sensitive = [
        str(d.exec_root / "containerd" / "tasks" / "moby" / planted.cid / "config.json"),
        str(d.data_root / "containers" / planted.cid / f"{planted.cid}-json.log"),
        str(d.data_root / "containers" / planted.local_cid / "local-logs" / "container.log"),
        *[str(d.data_root / f"engine.db{s}") for s in ("", "-wal", "-shm")],
        str(d.data_root / "containerd" / "metadata.db"),
    ]
    for p in sensitive:  # each exists and holds a secret: the reads below are real attempts
        assert os.path.exists(p), p
    below = [p for root in roots for p in _all_paths(root)]
    assert len(below) > 100
    got = _as_nobody({"stat": below, "read": [str(control), str(canary), *sensitive],
                      "list": [str(r) for r in roots], "exec": planted_at + suid_paths, "canary": str(canary)})

    assert got["read"] == [[str(control), "readable"]]  # nobody can read what it may, and nothing else
    assert got["stat"] == [], got["stat"][:20]
    assert got["list"] == []
    assert got["exec"] == [], got["exec"]
    assert canary.read_text() == canary_text


# What may lie under the roots, by path relative to the root: the exact mode an entry must
# have, or None for an entry whose mode is the image's (a rootfs or snapshot's own tree).
_ID = r"[0-9a-f]{64}"
TABLE: list[tuple[str, int | None]] = [
    (r"", 0o710),
    (r"[^/]+\.db(-wal|-shm|-journal)?|.*/[^/]+\.db(-wal|-shm|-journal)?", 0o600),
    (r"containers", 0o700),
    (rf"containers/{_ID}", 0o755),  # under containers/ (0700)
    (rf"containers/{_ID}/(hosts|resolv\.conf|hostname)", 0o644),  # bind-mounted for the container's users
    (rf"containers/{_ID}/{_ID}-json\.log(\.\d+)?", 0o600),
    (rf"containers/{_ID}/local-logs", 0o700),
    (rf"containers/{_ID}/local-logs/container\.log(\.\d+(\.gz)?)?", 0o600),
    (rf"containers/{_ID}/(exec-[0-9a-f]+/)?(stdin|stdout|stderr)", 0o600),  # FIFOs
    (r"containerd", 0o700),
    (r"containerd/(snapshots|snapshots/overlayfs|snapshots/overlayfs/snapshots)", 0o700),
    (r"containerd/snapshots/overlayfs/snapshots/\d+", 0o700),
    (r"containerd/snapshots/overlayfs/snapshots/\d+/work", 0o700),
    (r"containerd/snapshots/overlayfs/snapshots/\d+/fs(/.*)?", None),
    (r"containerd/unpack", 0o700),
    (r"containerd/(tasks|tasks/[^/]+|s|runc|runc/[^/]+)", 0o700),
    (rf"containerd/tasks/[^/]+/{_ID}", 0o700),
    (rf"containerd/tasks/[^/]+/{_ID}/config\.json", 0o600),
    (rf"containerd/tasks/[^/]+/{_ID}/rootfs(/.*)?", None),
    (rf"containerd/runc/[^/]+/{_ID}", 0o700),
    (r"containerd/s/[0-9a-f]+|containerd/shim-template\.sock|containerd\.sock", 0o600),
]


def _rule(rel: str) -> tuple[str, int | None] | None:
    for pattern, mode in TABLE:
        if re.fullmatch(pattern, rel):
            return pattern, mode
    return None


def _reachable_by_others(path: Path, root: Path) -> bool:
    """Whether a user in neither the owner nor the group could get to ``path`` from ``root``'s parent."""
    p = path.parent
    while True:
        if not os.lstat(p).st_mode & stat.S_IXOTH:
            return False
        if p == root:
            return True
        p = p.parent


def test_modes_under_the_roots_match_the_table(planted: Planted) -> None:
    d = planted.daemon
    secrets_ = (planted.env_secret.encode(), planted.log_secret.encode())
    wrong, reachable, leaking = [], [], []
    for root in (d.data_root, d.exec_root):
        assert stat.S_IMODE(os.stat(root).st_mode) == 0o710 and os.stat(root).st_uid == 0
        for path in [root, *map(Path, _all_paths(root))]:
            rel = str(path.relative_to(root)) if path != root else ""
            st = os.lstat(path)
            mode = stat.S_IMODE(st.st_mode)
            rule = _rule(rel)
            if rule is not None and rule[1] is not None and mode != rule[1]:
                wrong.append(f"{oct(mode)} {root.name}/{rel} (table: {oct(rule[1])})")
            if rule is not None and rule[1] is None:
                continue  # the container's own files: unreachable is what protects them
            if path != root and _reachable_by_others(path, root):
                reachable.append(f"{root.name}/{rel}")
            if stat.S_ISREG(st.st_mode) and mode & 0o077 and st.st_size < 8 << 20:
                data = path.read_bytes()
                if any(s in data for s in secrets_) or b"DB_PASSWORD" in data:
                    leaking.append(f"{oct(mode)} {root.name}/{rel}")
            if mode & stat.S_IWOTH and not stat.S_ISLNK(st.st_mode):
                wrong.append(f"{oct(mode)} {root.name}/{rel} (world-writable)")
    assert wrong == [] and reachable == [] and leaking == [], (wrong, reachable, leaking)


def test_rootfs_and_snapshot_dirs_lead_through_private_dirs(planted: Planted) -> None:
    """Every directory between a root and a rootfs mount or a snapshot's tree is 0700 (the root 0710)."""
    d = planted.daemon
    targets = _mountinfo_paths((d.data_root, d.exec_root))
    assert any(t.endswith("/rootfs") for t in targets) and any(t.endswith("/fs") for t in targets), targets
    for t in targets:
        root = d.data_root if t.startswith(f"{d.data_root}/") else d.exec_root
        p = Path(t).parent
        while p != root:
            assert stat.S_IMODE(os.lstat(p).st_mode) & 0o077 == 0, f"{oct(os.lstat(p).st_mode)} {p} leads to {t}"
            p = p.parent


def test_container_users_other_than_root_still_read_their_files(planted: Planted) -> None:
    d = planted.daemon
    r = d.cli("run", "--rm", "--user", "65534:65534", "busybox", "sh", "-c",
              "cat /etc/hosts /etc/hostname /etc/resolv.conf >/dev/null && ls /bin/sh && echo ok")
    assert r.returncode == 0 and r.stdout.strip().endswith(b"ok"), r.stderr.decode()
    r = d.cli("exec", "-u", "65534", planted.cid, "cat", "/etc/hostname")
    assert r.returncode == 0 and r.stdout.strip(), r.stderr.decode()
