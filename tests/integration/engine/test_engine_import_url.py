"""``POST /images/create?fromSrc=<url>``: a URL that cannot be one is a 400 and a source that does not
answer a 503, never a 500 (Schemathesis found `fromSrc=http://` answered 500)."""

from __future__ import annotations

import socket

import pytest

from dockyard.client import errors as client_errors
from dockyard.client.http import Client
from tests.conftest import Daemon


def _closed_loopback_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return int(port)


@pytest.mark.parametrize("source,error", [("http://", client_errors.DaemonInvalidArgument),
                                          ("ftp://127.0.0.1/x.tar", client_errors.DaemonInvalidArgument),
                                          ("http://127.0.0.1/a\x01b", client_errors.DaemonInvalidArgument),
                                          ("CLOSED", client_errors.DaemonUnavailable)])
def test_import_from_a_url_that_cannot_serve_is_not_a_500(daemon: Daemon, source: str, error: type) -> None:
    if source == "CLOSED":
        source = f"http://127.0.0.1:{_closed_loopback_port()}/img.tar"
    with pytest.raises(error):
        Client(daemon.host).request("POST", "/images/create", params={"fromSrc": source, "repo": "imp-url"})
