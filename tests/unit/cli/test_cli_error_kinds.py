"""The CLI decides by an error's kind (the status the daemon answered, the exit code it recorded),
never by the words of its message (issue 20): run's 126/127, cp's "No such container:path", the
image pull of run/create on a 404."""

from __future__ import annotations

import io
from typing import Any

import pytest

from dockyard.cli import containers, cp
from dockyard.cli.errors import StatusError
from dockyard.client import http
from dockyard.client.errors import DaemonNotFound


class _Body:
    def __init__(self, data: bytes = b"") -> None:
        self.data = data

    def read(self) -> bytes:
        return self.data


class FakeClient:
    """Answers by path: a dict of JSON, or a DaemonNotFound for what does not exist."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.asked: list[tuple[str, str]] = []

    def request(self, method: str, path: str, *args: Any, **kw: Any) -> _Body:
        self.asked.append((method, path))
        answer = self.answers.get(f"{method} {path}")
        if isinstance(answer, Exception):
            raise answer
        return _Body(b"{}")

    def json(self, method: str, path: str, *args: Any, **kw: Any) -> Any:
        self.request(method, path)
        return self.answers[f"{method} {path}"]


@pytest.mark.parametrize("recorded, code", [(127, 127), (126, 126), (128, 125), (0, 125)])
def test_run_exit_code_is_the_recorded_one_not_the_message(recorded: int, code: int) -> None:
    c = FakeClient({"GET /containers/abc/json": {"State": {"ExitCode": recorded}}})
    assert containers.start_failure_code(c, "abc", _Body(), removed=False) == code  # type: ignore[arg-type]
    wait = _Body(b'{"StatusCode": %d}' % recorded)  # --rm: the container is gone, its wait says it
    assert containers.start_failure_code(FakeClient({}), "abc", wait, removed=True) == code  # type: ignore[arg-type]


def test_run_exit_code_when_the_container_is_gone_is_125() -> None:
    c = FakeClient({"GET /containers/abc/json": DaemonNotFound("No such container: abc")})
    assert containers.start_failure_code(c, "abc", _Body(), removed=False) == 125  # type: ignore[arg-type]


def test_a_404_at_create_is_the_images_only_when_the_image_is_missing() -> None:
    c = FakeClient({"GET /images/busybox/json": {}})
    assert http.exists(c, "/images/busybox/json")
    c = FakeClient({"GET /images/nosuch/json": DaemonNotFound("No such image: nosuch:latest")})
    assert not http.exists(c, "/images/nosuch/json")


@pytest.mark.parametrize("container_exists", [True, False])
def test_cp_names_the_path_only_when_the_container_exists(container_exists: bool) -> None:
    # the messages are swapped on purpose: only the kinds and the second lookup decide
    put = DaemonNotFound("No such container: c1" if container_exists else "Could not find the file /x in container")
    answers: dict[str, Any] = {"PUT /containers/c1/archive": put}
    if not container_exists:
        answers["GET /containers/c1/json"] = DaemonNotFound("No such container: c1")
    c = FakeClient(answers)
    params = {"path": "/x", "noOverwriteDirNonDir": "true", "copyUIDGID": "false"}
    if container_exists:
        with pytest.raises(StatusError, match=r"No such container:path: c1:/x"):
            cp._put(c, "c1", params, io.BytesIO(b""))  # type: ignore[arg-type]
    else:
        with pytest.raises(DaemonNotFound) as info:
            cp._put(c, "c1", params, io.BytesIO(b""))  # type: ignore[arg-type]
        assert info.value is put  # the daemon's own answer, as it said it
