"""``dockyard run``/``create`` flags → the JSON body of POST /containers/create (cli/main.py)."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from dockyard.cli import containers, flags
from dockyard.cli import main as cli


def parse(*argv: str) -> argparse.Namespace:
    return cli.build_parser().parse_args(list(argv))


def body(*argv: str) -> tuple[dict[str, Any], dict[str, Any]]:
    return containers._container_body(parse(*argv))


def test_run_with_rm_env_memory_name_and_a_command() -> None:
    args = parse("run", "--rm", "-e", "A=1", "-m", "64m", "--name", "x", "busybox", "sh", "-c", "exit 3")
    assert args.name == "x"
    assert args.image == "busybox"
    config, host = containers._container_body(args)
    assert config["Image"] == "busybox"
    assert config["Env"] == ["A=1"]
    assert config["Cmd"] == ["sh", "-c", "exit 3"]
    assert config["AttachStdout"] is True and config["AttachStderr"] is True
    assert config["Tty"] is False and config["OpenStdin"] is False
    assert "Entrypoint" not in config
    assert host["AutoRemove"] is True
    assert host["Memory"] == 64 * 1024 * 1024
    assert host["NetworkMode"] == "default"


def test_flags_after_the_image_belong_to_the_command() -> None:
    config, host = body("run", "busybox", "ls", "--rm", "-e", "X")
    assert config["Cmd"] == ["ls", "--rm", "-e", "X"]
    assert host["AutoRemove"] is False
    assert config["Env"] == []


def test_no_command_leaves_cmd_to_the_image() -> None:
    config, _ = body("run", "busybox")
    assert "Cmd" not in config


def test_detach_attaches_nothing() -> None:
    config, _ = body("run", "-d", "busybox")
    assert config["AttachStdout"] is False and config["AttachStderr"] is False


def test_create_is_detached_and_has_no_rm() -> None:
    config, host = body("create", "busybox", "true")
    assert config["AttachStdout"] is False
    assert host["AutoRemove"] is False


def test_interactive_tty_workdir_user_hostname_labels() -> None:
    config, _ = body("run", "-it", "-w", "/srv", "-u", "1000:100", "-h", "box", "-l", "a=1", "-l", "flag",
                     "busybox")
    assert config["Tty"] is True and config["OpenStdin"] is True and config["AttachStdin"] is True
    assert (config["WorkingDir"], config["User"], config["Hostname"]) == ("/srv", "1000:100", "box")
    assert config["Labels"] == {"a": "1", "flag": ""}


def test_entrypoint_and_empty_entrypoint() -> None:
    assert body("run", "--entrypoint", "/bin/true", "busybox")[0]["Entrypoint"] == ["/bin/true"]
    assert body("run", "--entrypoint", "", "busybox")[0]["Entrypoint"] == []


def test_resource_and_security_flags() -> None:
    _, host = body("run", "--cpus", "1.5", "--pids-limit", "50", "--read-only", "--cap-add", "NET_ADMIN",
                   "--cap-drop", "ALL", "--network", "host", "busybox")
    assert host["NanoCpus"] == 1_500_000_000
    assert host["PidsLimit"] == 50
    assert host["ReadonlyRootfs"] is True
    assert host["CapAdd"] == ["NET_ADMIN"] and host["CapDrop"] == ["ALL"]
    assert host["NetworkMode"] == "host"


def test_unset_limits_are_not_sent() -> None:
    _, host = body("run", "busybox")
    assert "Memory" not in host and "NanoCpus" not in host and "PidsLimit" not in host
    assert host["CapAdd"] is None and host["CapDrop"] is None
    assert "Privileged" not in host and "Init" not in host and "Ulimits" not in host


@pytest.mark.parametrize(("text", "size"), [("1024", 1024), ("10b", 10), ("4k", 4096), ("64m", 64 << 20),
                                            ("1.5g", 3 << 29), ("2G", 2 << 30)])
def test_memory_sizes_are_binary_units(text: str, size: int) -> None:
    assert flags.ram_bytes(text) == size


def test_the_subcommand_is_known_after_parsing() -> None:
    # main() tells run/create from the rest by the parsed sub-command name.
    assert parse("ps", "-a").subcommand == "ps"
    assert parse("run", "busybox", "sh").subcommand == "run"
