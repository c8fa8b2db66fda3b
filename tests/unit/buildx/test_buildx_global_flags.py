"""The docker CLI's global flags reach Dockyard's docker-buildx before the plugin's name
(`docker -H X build` runs `docker-buildx -H X buildx build`): they choose the daemon."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from dockyard.buildx import plugin


@pytest.fixture(autouse=True)
def clean_env() -> Iterator[None]:
    """The flags set this process's environment: each test starts without them and leaves none behind."""
    names = ("DOCKYARD_HOST", "DOCKER_HOST", "DOCKER_TLS", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_CONFIG",
             "DOCKER_CONTEXT")
    saved = {n: os.environ.pop(n) for n in names if n in os.environ}
    try:
        yield
    finally:
        for n in names:
            os.environ.pop(n, None)
        os.environ.update(saved)


def test_host_flag_before_the_plugin_name_is_the_daemon(monkeypatch: pytest.MonkeyPatch) -> None:
    rest = plugin._global_flags(["-H", "unix:///tmp/x.sock", "--debug", "buildx", "build", "-q", "."])
    assert rest == ["buildx", "build", "-q", "."]
    assert os.environ["DOCKYARD_HOST"] == "unix:///tmp/x.sock"


def test_host_with_equals_and_tls_files_from_one_directory() -> None:
    rest = plugin._global_flags(["--host=tcp://127.0.0.1:2376", "--tlsverify", "--tlscacert", "/c/ca.pem",
                                 "--tlscert=/c/cert.pem", "--tlskey", "/c/key.pem", "buildx", "ls"])
    assert rest == ["buildx", "ls"]
    assert os.environ["DOCKYARD_HOST"] == "tcp://127.0.0.1:2376"
    assert os.environ["DOCKER_TLS_VERIFY"] == "1" and os.environ["DOCKER_CERT_PATH"] == "/c"


def test_unusual_tls_file_names_and_a_missing_value_are_refused() -> None:
    with pytest.raises(ValueError, match="one directory"):
        plugin._global_flags(["--tlscacert", "/a/myca.crt", "buildx", "ls"])
    with pytest.raises(ValueError, match="needs an argument: -H"):
        plugin._global_flags(["-H"])


def test_main_no_longer_takes_a_global_flag_for_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert plugin.main(["-H", "unix:///tmp/none.sock", "buildx", "version"]) == 0
    assert "github.com/docker/buildx" in capsys.readouterr().out
