"""The docker CLI's global flags reach Dockyard's docker-buildx before the plugin's name
(`docker -H X build` runs `docker-buildx -H X buildx build`): they choose the daemon, as the CLI's own do."""

from __future__ import annotations

import pytest

from dockyard.buildx import plugin


def test_host_flag_before_the_plugin_name_is_the_daemon(monkeypatch: pytest.MonkeyPatch) -> None:
    flags, rest = plugin._global_flags(["-H", "unix:///tmp/x.sock", "--debug", "buildx", "build", "-q", "."])
    assert rest == ["buildx", "build", "-q", "."]
    assert plugin.client_of(flags).socket_path == "/tmp/x.sock"


def test_host_with_equals_and_tls_files_from_one_directory() -> None:
    flags, rest = plugin._global_flags(["--host=tcp://127.0.0.1:2376", "--tlsverify", "--tlscacert", "/c/ca.pem",
                                        "--tlscert=/c/cert.pem", "--tlskey", "/c/key.pem", "buildx", "ls"])
    assert rest == ["buildx", "ls"]
    c = plugin.client_of(flags)
    assert c.tcp == ("127.0.0.1", 2376)
    assert c.tls.enabled and c.tls.verify
    assert (c.tls.cacert, c.tls.cert, c.tls.key) == ("/c/ca.pem", "/c/cert.pem", "/c/key.pem")


def test_tls_files_of_any_name_are_taken_and_a_missing_value_is_refused() -> None:
    flags, _ = plugin._global_flags(["-H", "tcp://127.0.0.1:2376", "--tlscacert", "/a/myca.crt", "buildx", "ls"])
    assert plugin.client_of(flags).tls.cacert == "/a/myca.crt"
    with pytest.raises(ValueError, match="needs an argument: -H"):
        plugin._global_flags(["-H"])


def test_two_hosts_are_refused_as_the_cli_refuses_them() -> None:
    from dockyard.cli.errors import CLIError

    flags, _ = plugin._global_flags(["-H", "unix:///tmp/a.sock", "-H", "unix:///tmp/b.sock", "buildx", "ls"])
    with pytest.raises(CLIError, match="only one -H"):
        plugin.client_of(flags)


def test_main_no_longer_takes_a_global_flag_for_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert plugin.main(["-H", "unix:///tmp/none.sock", "buildx", "version"]) == 0
    assert "github.com/docker/buildx" in capsys.readouterr().out
