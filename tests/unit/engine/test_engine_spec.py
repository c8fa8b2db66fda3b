"""Docker's Config + HostConfig + image config → OCI runtime spec (engine/spec.py)."""

from __future__ import annotations

from typing import Any

import pytest

from dockyard import errors
from dockyard.engine import spec
from dockyard.oci.runtime_spec import DEFAULT_CAPABILITIES, DEFAULT_PATH

ID = "0123456789abcdef" * 4
IMAGE: dict[str, Any] = {"Cmd": ["sh"], "Env": ["PATH=/image/bin", "LANG=C"]}


def build(config: dict[str, Any] | None = None, host: dict[str, Any] | None = None,
          image: dict[str, Any] | None = None, parent: str = "dockyard") -> dict[str, Any]:
    return spec.build(ID, config or {}, host or {}, IMAGE if image is None else image, parent)


def env_of(s: dict[str, Any]) -> list[str]:
    return list(s["process"]["env"])


def caps_of(s: dict[str, Any]) -> set[str]:
    caps = s["process"]["capabilities"]
    assert caps["bounding"] == caps["effective"] == caps["permitted"]
    return set(caps["bounding"])


# -- command ---------------------------------------------------------------------


def test_image_entrypoint_and_cmd_are_concatenated() -> None:
    assert spec.command({}, {"Entrypoint": ["/init"], "Cmd": ["--serve"]}) == ["/init", "--serve"]


def test_run_time_cmd_replaces_the_image_cmd_but_keeps_its_entrypoint() -> None:
    assert spec.command({"Cmd": ["echo", "hi"]}, {"Entrypoint": ["/init"], "Cmd": ["--serve"]}) == \
        ["/init", "echo", "hi"]


def test_run_time_entrypoint_drops_the_image_cmd() -> None:
    assert spec.command({"Entrypoint": ["/bin/true"]}, {"Entrypoint": ["/init"], "Cmd": ["--serve"]}) == ["/bin/true"]


def test_run_time_entrypoint_and_cmd_are_both_used() -> None:
    assert spec.command({"Entrypoint": ["sh"], "Cmd": ["-c", "exit 3"]}, {"Cmd": ["x"]}) == ["sh", "-c", "exit 3"]


def test_no_command_anywhere_is_invalid() -> None:
    with pytest.raises(errors.InvalidArgument, match="no command specified"):
        spec.command({}, {})
    with pytest.raises(errors.InvalidArgument):
        spec.command({"Cmd": [], "Entrypoint": None}, {"Cmd": None})


# -- env and users ------------------------------------------------------------------


def test_merge_env_overrides_by_key_and_keeps_first_position() -> None:
    assert spec.merge_env(["A=1", "B=2", "C=3"], ["B=two", "D=4"]) == ["A=1", "B=two", "C=3", "D=4"]


def test_merge_env_values_may_contain_equals() -> None:
    assert spec.merge_env(["OPTS=a=b"], ["OPTS=c=d=e"]) == ["OPTS=c=d=e"]


@pytest.mark.parametrize(
    ("user", "ids"),
    [("", (0, 0)), ("root", (0, 0)), ("0", (0, 0)), ("1000", (1000, 1000)), ("1000:100", (1000, 100)),
     ("root:5", (0, 5)), ("7:root", (7, 0))],
)
def test_user_ids_for_numeric_users(user: str, ids: tuple[int, int]) -> None:
    assert spec.user_ids(user) == ids


@pytest.mark.parametrize("user", ["nobody", "1000:staff", "x:1"])
def test_user_names_are_not_resolved_yet(user: str) -> None:
    with pytest.raises(errors.InvalidArgument, match="unable to find user"):
        spec.user_ids(user)


# -- build -----------------------------------------------------------------------


def test_process_args_come_from_the_docker_command_rules() -> None:
    s = build({"Cmd": ["echo", "x"]}, image={"Entrypoint": ["/e"], "Cmd": ["ignored"]})
    assert s["process"]["args"] == ["/e", "echo", "x"]


def test_hostname_defaults_to_the_short_id_and_is_exported() -> None:
    s = build()
    assert s["hostname"] == ID[:12]
    assert f"HOSTNAME={ID[:12]}" in env_of(s)


def test_hostname_from_config() -> None:
    s = build({"Hostname": "web"})
    assert s["hostname"] == "web"
    assert "HOSTNAME=web" in env_of(s)


def test_user_env_may_override_hostname() -> None:
    # Docker starts from PATH and HOSTNAME and then lets Config.Env replace them by key.
    s = build({"Env": ["HOSTNAME=custom"]})
    assert [e for e in env_of(s) if e.startswith("HOSTNAME=")] == ["HOSTNAME=custom"]


def test_image_path_is_kept_and_container_env_overrides_image_env() -> None:
    s = build({"Env": ["LANG=C.UTF-8", "X=1"]})
    env = [e for e in env_of(s) if not e.startswith("HOSTNAME=")]
    assert env == ["PATH=/image/bin", "LANG=C.UTF-8", "X=1"]


def test_path_defaults_when_neither_image_nor_container_sets_it() -> None:
    s = build(image={"Cmd": ["sh"]})
    assert env_of(s)[0] == f"PATH={DEFAULT_PATH}"


def test_tty_sets_term_unless_given() -> None:
    assert "TERM=xterm" in env_of(build({"Tty": True}))
    assert "TERM=xterm" not in env_of(build())
    tty_env = env_of(build({"Tty": True, "Env": ["TERM=vt100"]}))
    assert [e for e in tty_env if e.startswith("TERM=")] == ["TERM=vt100"]
    assert build({"Tty": True})["process"]["terminal"] is True


def test_workdir_and_user() -> None:
    s = build({"WorkingDir": "/srv", "User": "1000:100"})
    assert s["process"]["cwd"] == "/srv"
    assert s["process"]["user"] == {"uid": 1000, "gid": 100}
    s = build(image={"Cmd": ["sh"], "WorkingDir": "/app", "User": "5"})
    assert s["process"]["cwd"] == "/app"
    assert s["process"]["user"] == {"uid": 5, "gid": 5}
    assert build()["process"]["cwd"] == "/"


def test_no_rlimits_unless_ulimits_are_asked_for() -> None:
    assert build()["process"]["rlimits"] == []
    s = build(host={"Ulimits": [{"Name": "nofile", "Soft": 100, "Hard": 200}]})
    assert s["process"]["rlimits"] == [{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200}]


def test_memory_cpu_and_pids_limits() -> None:
    s = build(host={"Memory": 64 * 1024 * 1024, "MemorySwap": 128 * 1024 * 1024, "NanoCpus": 1_500_000_000,
                    "CpuShares": 512, "CpusetCpus": "0-1", "PidsLimit": 100})
    resources = s["linux"]["resources"]
    assert resources["memory"] == {"limit": 67108864, "swap": 134217728}
    assert resources["cpu"] == {"period": 100000, "quota": 150000, "shares": 512, "cpus": "0-1"}
    assert resources["pids"] == {"limit": 100}


def test_no_resource_limits_by_default() -> None:
    resources = build()["linux"]["resources"]
    assert "memory" not in resources and "cpu" not in resources and "pids" not in resources


def test_readonly_rootfs() -> None:
    assert build(host={"ReadonlyRootfs": True})["root"]["readonly"] is True
    assert build()["root"]["readonly"] is False


def test_default_capabilities_are_dockers_fourteen() -> None:
    assert caps_of(build()) == set(DEFAULT_CAPABILITIES)
    assert len(DEFAULT_CAPABILITIES) == 14


def test_cap_add_and_drop_accept_names_with_or_without_prefix_in_any_case() -> None:
    caps = caps_of(build(host={"CapAdd": ["sys_admin", "CAP_NET_ADMIN"], "CapDrop": ["chown", "CAP_KILL"]}))
    assert {"CAP_SYS_ADMIN", "CAP_NET_ADMIN"} <= caps
    assert "CAP_CHOWN" not in caps and "CAP_KILL" not in caps
    assert caps == set(DEFAULT_CAPABILITIES) - {"CAP_CHOWN", "CAP_KILL"} | {"CAP_SYS_ADMIN", "CAP_NET_ADMIN"}


def test_cap_drop_all_leaves_nothing() -> None:
    assert caps_of(build(host={"CapDrop": ["ALL"]})) == set()


def test_cap_drop_all_then_add_back_keeps_the_added_ones() -> None:
    # Docker (TweakCapabilities): with --cap-drop ALL the result is exactly --cap-add.
    caps = caps_of(build(host={"CapDrop": ["ALL"], "CapAdd": ["NET_BIND_SERVICE"]}))
    assert caps == {"CAP_NET_BIND_SERVICE"}


def test_cap_add_all_grants_every_capability() -> None:
    caps = caps_of(build(host={"CapAdd": ["ALL"]}))
    assert "CAP_ALL" not in caps
    assert {"CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_SYS_PTRACE", *DEFAULT_CAPABILITIES} <= caps


def test_network_mode_host_removes_the_network_namespace() -> None:
    def ns_types(s: dict[str, Any]) -> list[str]:
        return [ns["type"] for ns in s["linux"]["namespaces"]]

    assert "network" in ns_types(build())
    assert "network" in ns_types(build(host={"NetworkMode": "bridge"}))
    host = ns_types(build(host={"NetworkMode": "host"}))
    assert "network" not in host
    assert {"pid", "ipc", "uts", "mount"} <= set(host)


def test_cgroups_path_is_under_the_parent() -> None:
    assert build(parent="dockyard")["linux"]["cgroupsPath"] == f"/dockyard/{ID}"
    assert build(parent="/a/b/")["linux"]["cgroupsPath"] == f"/a/b/{ID}"


def test_sysctls() -> None:
    from dockyard.engine.spec import network_sysctls

    defaults = network_sysctls()  # dockerd's ping sockets and unprivileged ports, for a netns of its own
    assert build(host={"Sysctls": {"net.ipv4.ip_forward": "1"}})["linux"]["sysctl"] == {
        **defaults, "net.ipv4.ip_forward": "1"}
    mine = {"net.ipv4.ping_group_range": "1 0"}
    assert build(host={"Sysctls": mine})["linux"]["sysctl"]["net.ipv4.ping_group_range"] == "1 0"
    assert not build(host={"NetworkMode": "host"})["linux"].get("sysctl")


def test_build_does_not_modify_its_inputs() -> None:
    config: dict[str, Any] = {"Env": ["A=1"], "Cmd": ["x"]}
    image: dict[str, Any] = {"Env": ["B=2"], "Cmd": ["y"]}
    spec.build(ID, config, {"CapAdd": ["SYS_ADMIN"]}, image, "p")
    assert config == {"Env": ["A=1"], "Cmd": ["x"]}
    assert image == {"Env": ["B=2"], "Cmd": ["y"]}
