"""The default profile is compiled once per libseccomp and profile, then installed from the cache."""

from __future__ import annotations

import os

import pytest

from dockyard.oci.seccomp_default import default_profile
from dockyard.runtime.linux import seccomp


def test_compile_writes_the_cache_and_a_second_compile_reads_it(tmp_path, monkeypatch):
    profile = default_profile()
    first = seccomp.compile(profile, str(tmp_path))
    files = os.listdir(tmp_path)
    assert len(files) == 1 and files[0].endswith(".bpf")
    assert len(first.bpf) % 8 == 0 and len(first.bpf) > 8 * 100  # hundreds of BPF instructions

    def no_compile(*args):
        raise AssertionError("compiled again despite a cached program")

    monkeypatch.setattr(seccomp, "_compile", no_compile)
    second = seccomp.compile(profile, str(tmp_path))
    assert second.bpf == first.bpf


def test_a_different_profile_gets_its_own_program(tmp_path):
    a = seccomp.compile(default_profile(), str(tmp_path))
    b = seccomp.compile(default_profile(["CAP_SYS_ADMIN"]), str(tmp_path))
    assert a.bpf != b.bpf
    assert len(os.listdir(tmp_path)) == 2


def test_filter_flags_map_to_seccomp2_bits_and_unknown_flags_are_refused(tmp_path):
    profile = {"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_TSYNC"]}
    assert seccomp.compile(profile).flags == 2 | 1
    with pytest.raises(seccomp.SeccompError, match="SECCOMP_FILTER_FLAG_BOGUS"):
        seccomp.compile({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_BOGUS"]})


def test_installed_program_denies_what_the_profile_denies():
    """In a forked child: unshare(2) is refused with EPERM, the rest still works."""
    prog = seccomp.compile({"defaultAction": "SCMP_ACT_ALLOW",
                            "syscalls": [{"names": ["unshare"], "action": "SCMP_ACT_ERRNO"}]})
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            from dockyard.runtime.linux import syscalls as sc

            sc.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)
            prog.install()
            try:
                sc.unshare(sc.CLONE_NEWUTS)
                os.write(w, b"allowed")
            except OSError as err:
                os.write(w, f"errno {err.errno}".encode())
        finally:
            os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    assert os.read(r, 100) == b"errno 1"
    os.close(r)
