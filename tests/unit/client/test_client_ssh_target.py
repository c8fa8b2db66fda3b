"""``ssh://`` host parsing and the ssh command line the client runs."""

from __future__ import annotations

import pytest

from dockyard import errors
from dockyard.client.http import Client
from dockyard.client.ssh import SSHTarget


def test_argv_with_user_port_and_extra_opts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKYARD_SSH_OPTS", "-i '/tmp/my key' -o StrictHostKeyChecking=no")
    assert SSHTarget("ssh://me@example.test:2222").argv() == [
        "ssh", "-o", "ConnectTimeout=30", "-T", "-l", "me", "-p", "2222", "-i", "/tmp/my key",
        "-o", "StrictHostKeyChecking=no", "--", "example.test", "dockyard", "system", "dial-stdio"]


def test_argv_plain_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKYARD_SSH_OPTS", raising=False)
    assert SSHTarget("ssh://box").argv()[-5:] == ["--", "box", "dockyard", "system", "dial-stdio"]
    assert "-l" not in SSHTarget("ssh://box").argv()


@pytest.mark.parametrize("url", ["ssh://", "ssh://h/path", "ssh://h?x=1", "ssh://u:pw@h", "ssh://h:99999"])
def test_bad_urls_refused(url: str) -> None:
    with pytest.raises(errors.InvalidArgument):
        SSHTarget(url)


def test_client_takes_ssh_hosts_from_docker_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKYARD_HOST", raising=False)
    monkeypatch.setenv("DOCKER_HOST", "ssh://root@127.0.0.1:22")
    c = Client()
    assert c.ssh is not None and c.ssh.port == 22 and c.ssh.user == "root"
