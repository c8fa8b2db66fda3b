"""A RUN step's layer leaves out the mount points the runtime made for it (``mount_stubs`` to
CreateLayer's ``exclude``): BuildKit leaves no ``/run/secrets/<id>`` behind, nor its parents."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

from dockyard.builder.steps.run import mount_stubs
from dockyard.containerd.diff.diff import write_diff


def layer_names(upper: Path, exclude: frozenset[str]) -> list[str]:
    out = io.BytesIO()
    write_diff(upper, out, frozenset(p.strip("/") for p in exclude))
    out.seek(0)
    with tarfile.open(fileobj=out) as tf:
        return [m.name for m in tf.getmembers()]


def test_mount_stubs_are_each_destination_with_its_parents() -> None:
    stubs = mount_stubs([{"destination": "/run/secrets/tok"}, {"destination": "/root/.cache/pip/"},
                         {"destination": "/proc"}])
    assert {"/run/secrets/tok", "/run/secrets", "/run", "/root/.cache/pip", "/root/.cache", "/root",
            "/proc", "/etc/hosts", "/etc/resolv.conf", "/etc/hostname"} == stubs
    assert "/" not in stubs


def test_layer_has_no_trace_of_stubs_but_keeps_what_the_step_wrote(tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    (upper / "run" / "secrets").mkdir(parents=True)
    (upper / "run" / "secrets" / "tok").touch()  # a secret's mount point
    (upper / "root" / ".cache" / "pip").mkdir(parents=True)  # a cache's, /root copied up
    (upper / "tmp" / "t").mkdir(parents=True)  # a tmpfs's
    (upper / "seen").write_text("what the command wrote\n")
    stubs = mount_stubs([{"destination": "/run/secrets/tok"}, {"destination": "/root/.cache/pip"},
                         {"destination": "/tmp/t"}])
    assert layer_names(upper, stubs) == ["seen"]

    (upper / "run" / "app").mkdir()
    (upper / "run" / "app" / "f").write_text("x")  # a real change beside a stub keeps its parent
    (upper / "root" / ".cache" / "pip" / "under-a-stub").write_text("y")
    assert layer_names(upper, stubs) == ["root", "root/.cache", "root/.cache/pip", "root/.cache/pip/under-a-stub",
                                         "run", "run/app", "run/app/f", "seen"]


def test_whiteouts_and_opaque_dirs_under_a_stub_parent_are_kept(tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    (upper / "run" / "secrets").mkdir(parents=True)
    (upper / "run" / "secrets" / "tok").touch()
    os.mknod(upper / "run" / "gone", 0o600 | 0o020000, os.makedev(0, 0))  # the step removed /run/gone
    stubs = mount_stubs([{"destination": "/run/secrets/tok"}])
    assert layer_names(upper, stubs) == ["run", "run/.wh.gone"]
    os.unlink(upper / "run" / "gone")
    os.setxattr(upper / "run", "trusted.overlay.opaque", b"y")  # the step replaced /run
    assert layer_names(upper, stubs) == ["run", "run/.wh..wh..opq"]


def test_managed_files_stay_out_whatever_they_hold(tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    (upper / "etc").mkdir(parents=True)
    (upper / "etc" / "hosts").write_text("127.0.0.1 localhost\n")
    assert layer_names(upper, mount_stubs([])) == ["etc"]  # /etc/hosts was never a mount's parent here
    assert layer_names(upper, mount_stubs([{"destination": "/etc/hosts"}])) == []
