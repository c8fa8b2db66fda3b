"""The typed container model (engine/records.py, engine/container.py) and its API renderers
(engine/api/render.py): parsed once, typed to read, the client's JSON given back exactly."""

from __future__ import annotations

import copy
import json

import pytest

from dockyard.engine.api import render
from dockyard.engine.container import ZERO_TIME, Container, State
from dockyard.engine.records import Config, HostConfig, NetworkSettings, Record, snake


def test_every_docker_key_has_a_typed_attribute() -> None:
    assert snake("CpuShares") == "cpu_shares" and snake("OOMKilled") == "oom_killed"
    assert snake("ContainerIDFile") == "container_id_file" and snake("IOMaximumIOps") == "io_maximum_iops"
    for cls in (Config, HostConfig, NetworkSettings, State, Container):
        assert len(cls._ATTR) == len(cls.KEYS) == len(set(cls._ATTR.values()))
    with pytest.raises(TypeError, match="no typed attribute"):
        type("Bad", (Record,), {"KEYS": ("Foo",), "__annotations__": {}})


def test_a_config_reads_typed_and_renders_exactly_what_came() -> None:
    sent = {"Image": "busybox", "Cmd": None, "Tty": True, "Env": ["A=1"], "FutureField": {"x": [1]}}
    cfg = Config(sent)
    assert (cfg.image, cfg.cmd, cfg.tty, cfg.env) == ("busybox", None, True, ["A=1"])
    assert (cfg.user, cfg.open_stdin, cfg.labels, cfg.stop_timeout) == ("", False, None, None)  # unset: zero values
    assert cfg.extra == {"FutureField": {"x": [1]}}
    assert cfg.to_json() == sent and list(cfg.to_json()) == list(sent)
    assert not cfg.has("User") and cfg.has("Cmd")  # absent and null stay apart
    assert json.dumps(cfg.to_json()) == json.dumps(sent)


def test_attributes_and_json_keys_are_one_record() -> None:
    host = HostConfig({"NetworkMode": "bridge"})
    host.auto_remove = True
    assert host.has("AutoRemove") and host.to_json() == {"NetworkMode": "bridge", "AutoRemove": True}
    host.set("Links", ["/a:/b/a"])  # by its JSON key, as an update body names it
    assert host.links == ["/a:/b/a"]
    host.unset("Links")
    host.unset("Links")  # what is not there: nothing to do
    assert host.links is None and not host.has("Links") and host.pids_limit is None
    host.set("Other", 1)
    assert host.extra == {"Other": 1} and host.to_json() == {"NetworkMode": "bridge", "AutoRemove": True, "Other": 1}
    host.unset("Other")
    assert host.extra == {} and list(host.to_json()) == ["NetworkMode", "AutoRemove"]
    assert not hasattr(host, "__getitem__") and not hasattr(host, "get")  # read through the attributes only


def test_copies_do_not_share_what_is_present() -> None:
    host = HostConfig({"Memory": 5})
    shallow, deep = copy.copy(host), copy.deepcopy(host)
    shallow.privileged = True
    deep.cpu_shares = 2
    assert host.to_json() == {"Memory": 5}
    assert shallow.to_json() == {"Memory": 5, "Privileged": True} and deep.to_json() == {"Memory": 5, "CpuShares": 2}


def test_a_new_container_has_docker_s_shape_and_typed_parts() -> None:
    c = Container.new("a" * 64, "web", ["sh", "-c", "true"], "sha256:" + "1" * 64, Config({"Image": "busybox"}),
                      HostConfig({"AutoRemove": True}), "/l.log")
    assert (c.path, c.args, c.short_name, c.state.status, c.state.started_at) == \
        ("sh", ["-c", "true"], "web", "created", ZERO_TIME)
    assert isinstance(c.config, Config) and isinstance(c.host_config, HostConfig) and isinstance(c.state, State)
    doc = c.to_json()
    assert list(doc)[:4] == ["Id", "Created", "Path", "Args"] and doc["HostConfig"] == {"AutoRemove": True}
    assert doc["State"]["Status"] == "created" and "Health" not in doc["State"]
    again = Container(json.loads(json.dumps(doc)))
    assert again.to_json() == doc and isinstance(again.config, Config)
    c.set("Config", {"Image": "alpine"})  # a nested record set by its JSON key is parsed
    assert isinstance(c.config, Config) and c.config.image == "alpine"


def test_network_settings_read_typed_and_a_stored_row_renders_as_it_came() -> None:
    stored = {"Bridge": "", "SandboxID": "", "Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]},
              "Networks": {"bridge": {"IPAddress": "172.17.0.2", "NetworkID": "n"}}, "SandboxKey": "/run/netns/x",
              "Gateway": "172.17.0.1", "IPAddress": "172.17.0.2", "IPPrefixLen": 16, "GlobalIPv6Address": "",
              "MacAddress": "02:42:ac:11:00:02", "EndpointID": "e", "Future": 1}
    c = Container({"Id": "c" * 64, "NetworkSettings": json.loads(json.dumps(stored))})
    ns = c.network_settings
    assert isinstance(ns, NetworkSettings) and (ns.sandbox_key, ns.ip_address, ns.ip_prefix_len) == \
        ("/run/netns/x", "172.17.0.2", 16)
    assert ns.networks["bridge"]["IPAddress"] == "172.17.0.2" and ns.ports == stored["Ports"]
    assert ns.extra == {"Future": 1} and ns.ipv6_gateway == "" and not ns.has("IPv6Gateway")
    assert c.to_json()["NetworkSettings"] == stored and list(c.to_json()["NetworkSettings"]) == list(stored)
    fresh = Container({"Id": "d" * 64})  # no NetworkSettings stored: no endpoints, one dict per record
    assert fresh.network_settings.networks == {} and fresh.network_settings.networks is not NetworkSettings().networks


def _stored() -> Container:
    c = Container.new("b" * 64, "db", ["top"], "sha256:" + "2" * 64,
                      Config({"Image": "busybox", "MacAddress": "02:42:ac:11:00:02", "OnBuild": None}),
                      HostConfig({"NetworkMode": "default", "Annotations": {"a": "b"}}), "/l")
    c.has_been_manually_stopped = True
    c.network_settings.ip_address, c.network_settings.sandbox_key = "10.0.0.2", "/k"
    return c


def test_inspect_renders_the_record_by_version_and_leaves_it_alone() -> None:
    c = _stored()
    before = c.to_json()
    old = render.to_inspect(c, (1, 51))
    assert "HasBeenManuallyStopped" not in old  # the engine's own, never shown
    assert old["Config"]["MacAddress"] and old["NetworkSettings"]["IPAddress"] == "10.0.0.2" and "GraphDriver" in old
    new = render.to_inspect(c, (1, 52))
    assert "MacAddress" not in new["Config"] and "IPAddress" not in new["NetworkSettings"] and "Storage" in new
    json.dumps(new)  # plain JSON all the way down
    assert c.to_json() == before


class _Networks:
    def ps_ports(self, c: Container) -> list[dict[str, object]]:
        return [{"PrivatePort": 80, "Type": "tcp"}]


class _Engine:
    networks = _Networks()


def test_summary_renders_a_list_row_by_version() -> None:
    c = _stored()
    c.state.started(7)
    row = render.to_summary(c, _Engine(), (1, 52))
    assert (row["Id"], row["Names"], row["Command"], row["State"]) == ("b" * 64, ["/db"], "top", "running")
    assert row["Status"].startswith("Up ") and row["Ports"] == [{"PrivatePort": 80, "Type": "tcp"}]
    assert row["HostConfig"] == {"NetworkMode": "default", "Annotations": {"a": "b"}}
    assert row["Health"] == {"Status": "none", "FailingStreak": 0}
    assert "Health" not in render.to_summary(c, _Engine(), (1, 51))


def test_the_created_config_takes_the_image_s_defaults_as_dockerd() -> None:
    from dockyard.engine.container import created_config

    image = {"Cmd": ["sh"], "Entrypoint": None, "User": "app", "WorkingDir": "/srv", "Labels": {"i": "1", "x": "img"},
             "Healthcheck": {"Test": ["CMD", "true"], "Interval": 5, "Retries": 3}}
    spec = {"hostname": "abc", "process": {"env": ["PATH=/bin", "HOSTNAME=abc", "L_NAME=/a/l", "A=1"], "cwd": "/srv"}}
    sent = {"Image": "busybox", "Labels": {"x": "mine"}, "Healthcheck": {"Test": [], "Retries": 9}, "Extra": 1}
    cfg = created_config(sent, image, spec, ["L_NAME=/a/l"])
    assert (cfg.cmd, cfg.entrypoint, cfg.user, cfg.working_dir, cfg.hostname) == (["sh"], None, "app", "/srv", "abc")
    assert cfg.env == ["PATH=/bin", "A=1"] and cfg.labels == {"i": "1", "x": "mine"}
    assert cfg.healthcheck == {"Test": ["CMD", "true"], "Interval": 5, "Retries": 9}
    assert list(cfg.to_json())[:3] == ["Image", "Labels", "Healthcheck"] and cfg.extra == {"Extra": 1}
    only_entrypoint = created_config({"Image": "b", "Entrypoint": ["top"]}, image, spec, [])
    assert only_entrypoint.cmd is None and only_entrypoint.entrypoint == ["top"]  # a given entrypoint drops the CMD


def test_the_created_host_config_has_docker_s_defaults_and_runtime_name() -> None:
    from dockyard import errors
    from dockyard.engine.container import created_host_config

    log = {"Type": "json-file", "Config": {}}
    host = created_host_config({"Memory": 5, "Runtime": "dockyard-runc"}, log)
    assert (host.network_mode, host.restart_policy_name, host.log_config, host.runtime) == \
        ("default", "no", log, "runc")
    assert list(host.to_json()) == ["Memory", "Runtime", "NetworkMode", "RestartPolicy", "LogConfig"]
    assert created_host_config({"NetworkMode": "host"}, log).network_mode == "host"
    with pytest.raises(errors.InvalidArgument, match="unknown or invalid runtime name: crun"):
        created_host_config({"Runtime": "crun"}, log)
