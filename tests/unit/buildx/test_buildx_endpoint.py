"""Dockyard's docker-buildx chooses its daemon exactly as the docker CLI does (docker/cli's
resolveContextName and resolveDockerEndpoint): once linked into ~/.docker/cli-plugins it is what a
host's real `docker build` runs, so without -H, DOCKER_HOST or a context it must reach
/var/run/docker.sock, never Dockyard's socket; a context brings its own host and TLS files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dockyard.buildx import plugin
from dockyard.cli import context
from dockyard.cli.errors import CLIError


def client(*argv: str):  # type: ignore[no-untyped-def]
    flags, _ = plugin._global_flags([*argv, "buildx", "ls"])
    return plugin.client_of(flags)


def make_context(name: str, host: str, skip_verify: bool = False, tls_files: tuple[str, ...] = ()) -> Path:
    meta = Path(context.meta_dir(name))
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(json.dumps({"Name": name, "Metadata": {}, "Endpoints": {
        "docker": {"Host": host, "SkipTLSVerify": skip_verify}}}))
    tls = Path(context.tls_dir(name)) / "docker"
    for f in tls_files:
        tls.mkdir(parents=True, exist_ok=True)
        (tls / f"{f}.pem").write_text("pem")
    return tls


def test_nothing_set_is_dockers_socket_not_dockyards() -> None:
    os.environ["DOCKYARD_HOST"] = "unix:///tmp/dockyard-only.sock"  # Dockyard's variable, not the docker CLI's
    c = client()
    assert c.socket_path == "/var/run/docker.sock"
    assert not c.tls.enabled


def test_docker_host_wins_over_docker_context() -> None:
    make_context("remote", "tcp://10.1.2.3:2376", tls_files=("ca",))
    os.environ["DOCKER_CONTEXT"] = "remote"
    os.environ["DOCKER_HOST"] = "unix:///tmp/host.sock"
    assert client().socket_path == "/tmp/host.sock"


def test_docker_context_brings_its_host_and_tls_files() -> None:
    tls = make_context("remote", "tcp://10.1.2.3:2376", tls_files=("ca", "cert", "key"))
    os.environ["DOCKER_CONTEXT"] = "remote"
    c = client("--tlscacert", "/flags/ca.pem")  # a named context ignores the TLS flags
    assert c.tcp == ("10.1.2.3", 2376)
    assert c.tls.enabled and c.tls.verify
    assert (c.tls.cacert, c.tls.cert, c.tls.key) == (str(tls / "ca.pem"), str(tls / "cert.pem"), str(tls / "key.pem"))


def test_current_context_of_config_json() -> None:
    make_context("other", "unix:///tmp/other.sock")
    Path(os.environ["DOCKER_CONFIG"], "config.json").write_text(json.dumps({"currentContext": "other"}))
    c = client()
    assert c.socket_path == "/tmp/other.sock"
    assert not c.tls.enabled


def test_context_flag_wins_over_docker_host_and_conflicts_with_host_flag() -> None:
    make_context("other", "unix:///tmp/other.sock")
    os.environ["DOCKER_HOST"] = "unix:///tmp/host.sock"
    assert client("--context", "other").socket_path == "/tmp/other.sock"
    with pytest.raises(CLIError, match="cannot specify both --host and --context"):
        client("--context", "other", "-H", "unix:///tmp/x.sock")


def test_skip_tls_verify_without_files_is_tls_unverified_and_no_ca_is_the_systems() -> None:
    make_context("insecure", "tcp://10.1.2.3:2376", skip_verify=True)
    c = client("--context", "insecure")
    assert c.tls.enabled and not c.tls.verify
    make_context("certonly", "tcp://10.1.2.3:2376", tls_files=("cert", "key"))
    c = client("--context", "certonly")
    assert c.tls.enabled and c.tls.verify and c.tls.cacert == ""  # "": the system's roots (ssl's default)


def test_missing_context_is_an_error_not_a_fall_back() -> None:
    os.environ["DOCKER_CONTEXT"] = "nowhere"
    with pytest.raises(CLIError, match='unable to resolve docker endpoint: context "nowhere"'):
        client()


def test_hosts_completed_as_the_docker_cli_completes_them() -> None:
    os.environ["DOCKER_TLS_VERIFY"] = "1"
    assert client().tcp == ("localhost", 2376)  # TLS asked for and no host: the TLS default
    assert client("-H", "tcp://10.0.0.1").tcp == ("10.0.0.1", 2375)  # the CLI's port even with TLS
    assert client("-H", "10.0.0.1:4000").tcp == ("10.0.0.1", 4000)
    del os.environ["DOCKER_TLS_VERIFY"]
    assert client("-H", "unix://").socket_path == "/var/run/docker.sock"


def test_no_daemon_is_told_in_the_docker_clis_words(capsys: pytest.CaptureFixture[str]) -> None:
    assert plugin.main(["-H", "unix:///tmp/no-daemon-at-all.sock", "buildx", "du"]) == 1
    assert capsys.readouterr().err == ("ERROR: Cannot connect to the Docker daemon at unix:///tmp/no-daemon-at-all.sock. "
                                       "Is the docker daemon running?\n")
