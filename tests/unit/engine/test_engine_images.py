"""``docker import --change`` instructions, image names and timestamps (engine/images.py)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from dockyard import errors
from dockyard.engine.images import DANGLING_PREFIX, Image, parse_changes, rfc3339

CONFIG_DIGEST = "sha256:" + "c" * 64
MANIFEST_DIGEST = "sha256:" + "d" * 64


def image(*names: str) -> Image:
    return Image(id=CONFIG_DIGEST, names=names, manifest_digest=MANIFEST_DIGEST,
                 manifest={"layers": [{"size": 10}, {"size": 32}]}, config={}, created=0)


def test_cmd_exec_form() -> None:
    assert parse_changes(['CMD ["echo", "hi there"]']) == {"Cmd": ["echo", "hi there"]}


def test_cmd_shell_form_runs_through_sh() -> None:
    assert parse_changes(["CMD echo hi && exit 3"]) == {"Cmd": ["/bin/sh", "-c", "echo hi && exit 3"]}


def test_entrypoint_both_forms() -> None:
    assert parse_changes(['ENTRYPOINT ["/init"]']) == {"Entrypoint": ["/init"]}
    assert parse_changes(["ENTRYPOINT /init -v"]) == {"Entrypoint": ["/bin/sh", "-c", "/init -v"]}


def test_instruction_words_are_case_insensitive() -> None:
    assert parse_changes(['cmd ["sh"]']) == {"Cmd": ["sh"]}


def test_exec_form_with_broken_json_is_invalid() -> None:
    with pytest.raises(errors.InvalidArgument, match="invalid JSON"):
        parse_changes(['CMD ["sh"'])


def test_env_key_value_form_with_quotes() -> None:
    assert parse_changes(['ENV A=1 B="two words" C='])["Env"] == ["A=1", "B=two words", "C="]


def test_env_legacy_form_takes_the_rest_of_the_line() -> None:
    assert parse_changes(["ENV GREETING hello world"]) == {"Env": ["GREETING=hello world"]}


def test_env_accumulates_over_changes() -> None:
    assert parse_changes(["ENV A=1", "ENV B 2"])["Env"] == ["A=1", "B=2"]


def test_expose_defaults_to_tcp() -> None:
    assert parse_changes(["EXPOSE 80 53/udp 443/tcp"]) == {
        "ExposedPorts": {"80/tcp": {}, "53/udp": {}, "443/tcp": {}}}


def test_label() -> None:
    assert parse_changes(['LABEL a=1 "b"=x c="y z"'])["Labels"]["a"] == "1"
    assert parse_changes(['LABEL maintainer="Ann Example" version=2'])["Labels"] == {
        "maintainer": "Ann Example", "version": "2"}


def test_workdir_user_stopsignal_volume() -> None:
    assert parse_changes(["WORKDIR /srv/app", "USER 1000:100", "STOPSIGNAL SIGINT", "VOLUME /data /cache"]) == {
        "WorkingDir": "/srv/app", "User": "1000:100", "StopSignal": "SIGINT",
        "Volumes": {"/data": {}, "/cache": {}}}
    assert parse_changes(['VOLUME ["/v"]']) == {"Volumes": {"/v": {}}}


def test_no_changes_is_an_empty_config() -> None:
    assert parse_changes([]) == {}


@pytest.mark.parametrize("change", ["RUN echo hi", "FROM busybox", "COPY a b", "NOPE x"])
def test_instructions_import_does_not_accept_are_invalid(change: str) -> None:
    with pytest.raises(errors.InvalidArgument, match="is not a valid change command"):
        parse_changes([change])


def test_repo_tags_are_familiar_and_skip_dangling_and_digest_names() -> None:
    img = image("docker.io/library/busybox:latest", "localhost:5000/x/y:1",
                f"docker.io/library/busybox@{MANIFEST_DIGEST}", DANGLING_PREFIX + CONFIG_DIGEST)
    assert img.repo_tags() == ["busybox:latest", "localhost:5000/x/y:1"]


def test_a_dangling_image_has_no_repo_tags() -> None:
    assert image(DANGLING_PREFIX + CONFIG_DIGEST).repo_tags() == []


def test_size_is_the_sum_of_layer_sizes() -> None:
    assert image().size == 42


RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")


def test_rfc3339_shape_and_value() -> None:
    ns = 1_700_000_000_123_456_000
    s = rfc3339(ns)
    assert RFC3339.match(s), s
    assert s.startswith("2023-11-14T22:13:20.123456")
    parsed = datetime.fromisoformat(s.replace("Z", "+00:00"))
    assert abs(parsed.timestamp() - ns / 1e9) < 1e-5


def test_rfc3339_epoch_and_now_are_utc() -> None:
    assert RFC3339.match(rfc3339(0))
    assert rfc3339(0).startswith("1970-01-01T00:00:00")
    now = datetime.fromisoformat(rfc3339().replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - now).total_seconds()) < 5
