"""What moby's integration suite checks at the API's door, answered as dockerd (issue 14, session 6):
JSON bodies as httputils.ReadJSON reads them, resize and checkpoint arguments, detach keys spelt as
moby/term knows them, health timeouts in Go's duration format, /info fields by API version."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from dockyard import errors
from dockyard.engine import detachkeys, validate
from dockyard.engine.api import decode, versions
from dockyard.engine.api.app import build_app
from dockyard.engine.health import go_duration


class _NoContainers:
    """An engine without containers or execs: every lookup is a 404."""

    containers: dict[str, Any] = {}
    execs: dict[str, Any] = {}

    def get(self, ref: str) -> dict[str, Any]:
        raise errors.NotFound(f"No such container: {ref}")


def _post(path: str, body: bytes, content_type: str) -> tuple[int, str]:
    async def run() -> tuple[int, str]:
        async with TestClient(TestServer(build_app(_NoContainers()))) as client:  # type: ignore[arg-type]
            resp: Any = await client.post(path, data=body, headers={"Content-Type": content_type})
            return resp.status, (await resp.json())["message"]

    return asyncio.run(run())


@pytest.mark.parametrize("path", ["/containers/create", "/containers/foobar/exec", "/containers/foobar/update",
                                  "/exec/foobar/start", "/commit?container=foobar"])
def test_json_bodies_are_checked_before_the_lookup(path: str) -> None:
    assert _post(path, b"{}", "text/plain") == (
        400, "unsupported Content-Type header (text/plain): must be 'application/json'")
    assert _post(path, b"{invalid json", "application/json") == (
        400, "invalid JSON: invalid character 'i' looking for beginning of object key string")
    assert _post(path, b"{} trailing content", "application/json") == (400, "unexpected content after JSON")


def test_go_syntax_errors() -> None:
    for text, message in (('{"a":', "invalid JSON: unexpected EOF"),
                          ('{"a" 1}', "invalid JSON: invalid character '1' after object key"),
                          ("[x]", "invalid JSON: invalid character 'x' looking for beginning of value")):
        with pytest.raises(errors.InvalidArgument) as err:
            decode.loads(text)
        assert str(err.value) == message


@pytest.mark.parametrize(("query", "message"), [
    ({"w": "100"}, 'invalid resize height "": invalid syntax'),
    ({"h": "100"}, 'invalid resize width "": invalid syntax'),
    ({"h": "x", "w": "100"}, 'invalid resize height "x": invalid syntax'),
    ({"h": "-100", "w": "100"}, 'invalid resize height "-100": value out of range'),
    ({"h": "100", "w": "4294967296"}, 'invalid resize width "4294967296": value out of range'),
])
def test_resize_arguments(query: dict[str, str], message: str) -> None:
    with pytest.raises(errors.InvalidArgument) as err:
        validate.resize(query)
    assert str(err.value) == message


def test_resize_refused_before_the_lookup() -> None:
    status, message = _post("/containers/foobar/resize?h=x&w=1", b"", "application/json")
    assert (status, message) == (400, 'invalid resize height "x": invalid syntax')
    assert validate.resize({"h": "40", "w": "+80"}) == (40, 80)


def test_checkpoint_is_refused_with_dockerds_messages() -> None:
    status, message = _post("/containers/missing/start?checkpoint=../outside", b"", "application/json")
    assert status == 400 and message.startswith('invalid checkpoint ID "../outside"')
    with pytest.raises(errors.InvalidArgument, match="only supported in experimental mode"):
        validate.checkpoint("cp1")
    validate.checkpoint("")


def test_detach_keys_are_spelt_as_moby_term_knows_them() -> None:
    assert detachkeys.parse("ctrl-a,a,DEL") == b"\x01a\x7f"
    for bad in ("ctrl-A", "CTRL-a", " ctrl-a", "ctrl-"):
        with pytest.raises(errors.InvalidArgument):
            detachkeys.parse(bad)


def test_go_durations() -> None:
    assert [go_duration(n) for n in (50_000_000, 1_500_000_000, 90 * 10**9, 3600 * 10**9, 1500, 0)] == [
        "50ms", "1.5s", "1m30s", "1h0m0s", "1.5µs", "0s"]


def test_info_fields_by_version() -> None:
    doc = {"ContainerdCommit": {"ID": "1"}, "RuncCommit": {"ID": "1"}, "InitCommit": {"ID": ""},
           "RegistryConfig": {"AllowNondistributableArtifactsCIDRs": None, "Mirrors": []},
           "BridgeNfIptables": False, "BridgeNfIp6tables": False, "KernelMemoryTCP": False}
    old = versions.info(doc, (1, 48))
    assert old["RuncCommit"] == {"ID": "1", "Expected": "1"} and "AllowNondistributableArtifactsCIDRs" in \
        old["RegistryConfig"]
    v149 = versions.info(doc, (1, 49))
    assert "Expected" not in v149["RuncCommit"] and v149["BridgeNfIptables"] is False
    assert v149["RegistryConfig"] == {"Mirrors": []}
    v150 = versions.info(doc, (1, 50))
    assert "BridgeNfIptables" not in v150 and "BridgeNfIp6tables" not in v150 and "KernelMemoryTCP" in v150
    assert "KernelMemoryTCP" not in versions.info(doc, (1, 52))


def test_an_image_that_is_no_reference_is_a_400_at_create() -> None:
    status, message = _post("/containers/create", b'{"Image": "busybox:sha256:' + b"0" * 64 + b'"}',
                            "application/json")
    assert (status, message) == (400, "invalid reference format")


def test_default_masked_paths_in_dockerds_order() -> None:
    from dockyard.engine.spec import docker_masked_paths

    paths = docker_masked_paths()
    assert paths[:12] == ["/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys",
                          "/proc/latency_stats", "/proc/sched_debug", "/proc/scsi", "/proc/timer_list",
                          "/proc/timer_stats", "/sys/devices/virtual/powercap", "/sys/firmware"]
    assert all(p.endswith("/thermal_throttle") for p in paths[12:])


def test_a_custom_seccomp_profile_applies_to_a_privileged_container() -> None:
    from dockyard.engine import spec as specs

    profile = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["chown"], "action": "SCMP_ACT_ERRNO"}]}
    host = {"Privileged": True, "SecurityOpt": ['seccomp={"defaultAction": "SCMP_ACT_ALLOW", "syscalls": '
                                                '[{"names": ["chown"], "action": "SCMP_ACT_ERRNO"}]}']}
    assert specs.build("c" * 64, {"Cmd": ["sh"]}, host, {}, "p")["linux"]["seccomp"] == profile
    assert "seccomp" not in specs.build("c" * 64, {"Cmd": ["sh"]}, {"Privileged": True}, {}, "p")["linux"]


def test_writable_cgroups_security_option() -> None:
    from dockyard.engine import spec as specs

    def cgroup_options(*opts: str) -> list[str]:
        s = specs.build("c" * 64, {"Cmd": ["sh"]}, {"SecurityOpt": list(opts)}, {}, "p")
        return next(m["options"] for m in s["mounts"] if m["destination"] == "/sys/fs/cgroup")

    assert "ro" in cgroup_options() and "ro" in cgroup_options("writable-cgroups=false")
    assert "rw" in cgroup_options("writable-cgroups") and "rw" in cgroup_options("writable-cgroups=true")
    for bad in ("writable-cgroups=1", "writeable-cgroups=true"):
        with pytest.raises(errors.InvalidArgument, match=f'invalid --security-opt 2: "{bad}"'):
            cgroup_options(bad)


def test_legacy_links_split_both_ways() -> None:
    from dockyard.engine.names import split_link

    assert split_link("db") == ("db", "db")
    assert split_link("db:mysql") == ("db", "mysql")
    assert split_link("/db:/app/mysql") == ("db", "mysql")


def _names(root: str, path: str) -> list[bytes]:
    import io

    from dockyard.archive.files import write_tar

    buf = io.BytesIO()
    write_tar(root, path, buf)
    raw = buf.getvalue()
    return [raw[i:i + 100].split(b"\0")[0] for i in range(0, len(raw), 512) if raw[i + 257:i + 262] == b"ustar"]


def test_archive_of_the_root_is_named_as_dockerd_names_it(tmp_path: Any) -> None:
    (tmp_path / "foo").write_text("hello")
    assert _names(str(tmp_path), "/") == [b"/", b"/foo"]
    for current in (".", "/.", "./", "/./"):
        assert _names(str(tmp_path), current) == [b"./", b"./foo"]
    assert _names(str(tmp_path), "") == [b"foo"]  # docker export: relative to the root


@pytest.mark.parametrize("path", ["/plugins/foobar/set", "/plugins/foobar/upgrade", "/plugins/pull"])
def test_plugin_bodies_are_read_as_dockerd_reads_json(path: str) -> None:
    assert _post(path, b"{}", "text/plain") == (
        400, "unsupported Content-Type header (text/plain): must be 'application/json'")
    assert _post(path, b"[] trailing", "application/json") == (400, "unexpected content after JSON")


def test_session_upgrade_is_checked_then_refused() -> None:
    assert _post("/session", b"", "application/json") == (400, "no upgrade proto in request")

    async def run(upgrade: str) -> tuple[int, str]:
        async with TestClient(TestServer(build_app(_NoContainers()))) as client:  # type: ignore[arg-type]
            resp: Any = await client.post("/session", headers={"Upgrade": upgrade, "Connection": "Upgrade"})
            return resp.status, (await resp.json())["message"]

    assert asyncio.run(run("foo")) == (400, "protocol foo not supported")
    assert asyncio.run(run("h2c"))[0] == 501


def test_a_signal_to_a_task_whose_process_just_exited_is_no_error() -> None:
    from types import SimpleNamespace

    from dockyard.engine.container import Container
    from dockyard.engine.daemon import Engine

    async def kill(request: Any) -> None:
        raise errors.FailedPrecondition("runtime kill failed: container not running")

    async def run() -> bool:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        eng = SimpleNamespace(cd=SimpleNamespace(tasks=SimpleNamespace(Kill=kill)))
        live = SimpleNamespace(next_exit=lambda: future)
        exited = await Engine._signal(eng, Container({"Id": "c" * 64}), live, 15)  # type: ignore[arg-type]
        return exited is future  # the exit is on its way to the monitor: stop waits for it

    assert asyncio.run(run())


def test_several_endpoints_at_create_need_api_1_44() -> None:
    body = b'{"Image": "busybox", "NetworkingConfig": {"EndpointsConfig": {"a": {}, "b": {}}}}'
    assert _post("/v1.43/containers/create", body, "application/json") == (
        400, "Container cannot be created with multiple network endpoints")


def test_numeric_users_with_an_empty_side() -> None:
    from dockyard.engine.spec import user_ids

    assert user_ids(":7777") == (0, 7777)  # docker run --user :7777: uid 0, gid 7777
    assert user_ids("7777:") == (7777, 0)
    assert user_ids("7777") == (7777, 7777)  # placeholder until the image's passwd is read


def test_binds_of_the_daemon_root_are_rslave() -> None:
    from dockyard.volumes.service import daemon_root_propagation as prop

    assert prop("/var/lib/d", "/var/lib/d", "") == "rslave"
    assert prop("/var/lib/d", "/var/lib/d/containers", "rshared") == "rshared"
    assert prop("/var/lib/d", "/var/lib/dx", "") == ""  # not inside: as asked
    assert prop("/var/lib/d", "/srv", "private") == "private"
    with pytest.raises(errors.InvalidArgument, match='must use either propagation mode "rslave" or "rshared"'):
        prop("/var/lib/d", "/var/lib/d/containers", "private")
