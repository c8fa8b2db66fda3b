"""User names to ids by Docker's (runc's) rules, from a container's /etc/passwd and /etc/group."""

from __future__ import annotations

import pytest

from dockyard import errors
from dockyard.engine.users import ExecUser, apply, group_ids, resolve

PASSWD = """\
root:x:0:0:root:/root:/bin/sh
# a comment
postgres:x:70:70::/var/lib/postgresql:/bin/sh
nobody:x:65534:65534:nobody:/:/bin/false
"""
GROUP = """\
root:x:0:root
wheel:x:10:root,postgres
postgres:x:70:
audio:x:29:
nogroup:x:65534:
"""


@pytest.mark.parametrize(("spec", "want"), [
    ("", ExecUser(0, 0, [0, 10], "/root")),
    ("root", ExecUser(0, 0, [0, 10], "/root")),
    ("postgres", ExecUser(70, 70, [10], "/var/lib/postgresql")),
    ("70", ExecUser(70, 70, [10], "/var/lib/postgresql")),
    ("postgres:audio", ExecUser(70, 29, [], "/var/lib/postgresql")),
    ("postgres:29", ExecUser(70, 29, [], "/var/lib/postgresql")),
    ("1234", ExecUser(1234, 0, [], "/")),  # not in passwd: the number, gid 0 (as dockerd)
    ("1234:5678", ExecUser(1234, 5678, [], "/")),
    ("nobody:root", ExecUser(65534, 0, [], "/")),
])
def test_resolve(spec: str, want: ExecUser) -> None:
    assert resolve(spec, PASSWD, GROUP) == want


@pytest.mark.parametrize(("spec", "message"), [
    ("mysql", "unable to find user mysql: no matching entries in passwd file"),
    ("postgres:staff", "unable to find group staff: no matching entries in group file"),
])
def test_unknown_names_are_refused(spec: str, message: str) -> None:
    with pytest.raises(errors.InvalidArgument, match=message):
        resolve(spec, PASSWD, GROUP)


def test_no_files_numbers_still_work_names_do_not() -> None:
    assert resolve("5:6", "", "") == ExecUser(5, 6)
    assert resolve("", "", "") == ExecUser(0, 0)
    for spec, what in (("postgres", "user postgres"), ("root", "user root"), ("0:root", "group root")):
        with pytest.raises(errors.InvalidArgument, match=f"unable to find {what}: no matching entries"):
            resolve(spec, "", "")  # libcontainer's GetExecUser: no file, no names (moby's TestExecUser)


def test_group_add_names_and_apply() -> None:
    assert group_ids(["audio", 1001, "1001", "10"], GROUP) == [29, 1001, 10]
    with pytest.raises(errors.InvalidArgument, match="unable to find group video"):
        group_ids(["video"], GROUP)
    proc: dict = {"env": ["PATH=/bin"]}  # type: ignore[type-arg]
    apply(proc, ExecUser(70, 70, [10], "/var/lib/pg"), [29, 10])
    assert proc["user"] == {"uid": 70, "gid": 70, "additionalGids": [70, 10, 29]}  # moby's getUser: primary first
    assert proc["env"] == ["PATH=/bin", "HOME=/var/lib/pg"]
    proc = {"env": ["HOME=/mine"]}
    apply(proc, ExecUser(1, 2), [])
    assert proc == {"user": {"uid": 1, "gid": 2, "additionalGids": [2]}, "env": ["HOME=/mine"]}  # a HOME given wins


class _FakeContainerd:
    """``read_snapshot_files`` as containerd answers it, counting the calls."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files, self.calls = files, 0

    async def read_snapshot_files(self, key: str, paths: tuple[str, ...]) -> dict[str, bytes]:
        self.calls += 1
        return {p: self.files[p] for p in paths if p in self.files}


def test_new_containers_read_their_images_files_once_per_image() -> None:
    import asyncio

    from dockyard.engine import users

    cd = _FakeContainerd({"/etc/passwd": PASSWD.encode(), "/etc/group": GROUP.encode()})
    chain = "sha256:" + "c" * 64

    async def create(n: int, chain_id: str) -> tuple[ExecUser, list[int]]:
        return await users.resolve_new(cd, f"ctr{n}", chain_id, "postgres", ["audio"])  # type: ignore[arg-type]

    first, again = asyncio.run(create(1, chain)), asyncio.run(create(2, chain))
    assert first == again and first[0].uid == 70 and cd.calls == 1  # the image's layers never change
    asyncio.run(create(3, ""))  # no chain ID (an image without layers): read each time
    asyncio.run(create(4, ""))
    assert cd.calls == 3
    with pytest.raises(errors.InvalidArgument, match="unable to find user nobody2"):
        asyncio.run(users.resolve_in(cd, "ctr5", "nobody2"))  # type: ignore[arg-type]
    assert cd.calls == 4  # a running container's files are read again: they may have changed
