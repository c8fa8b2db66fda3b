"""decode.check: bodies typed as dockerd's Go structs decode them (wrong type = 400, null = zero value)."""

from __future__ import annotations

import pytest

from dockyard import errors
from dockyard.engine.api import decode


def test_wrong_scalar_type_is_invalid_argument_with_gos_message() -> None:
    with pytest.raises(errors.InvalidArgument, match=r"cannot unmarshal array into Go struct field "
                                                     r"ContainerConfigWrapper\.Image of type string"):
        decode.check(decode.CONTAINER_CREATE, {"Image": [None, None]}, "ContainerConfigWrapper")


@pytest.mark.parametrize("body", [
    {"HostConfig": {"Memory": "1g"}},
    {"HostConfig": {"Memory": 1.5}},
    {"HostConfig": {"Memory": True}},
    {"HostConfig": {"Memory": 2**64}},
    {"HostConfig": {"Binds": "/a:/b"}},
    {"HostConfig": {"PortBindings": {"80/tcp": [{"HostPort": {}}]}}},
    {"HostConfig": {"Mounts": [{"TmpfsOptions": {"Options": [[True]]}}]}},
    {"Labels": ["a=b"]},
    {"Env": [["A=1"]]},
    {"NetworkingConfig": {"EndpointsConfig": {"n": {"Aliases": "x"}}}},
])
def test_nested_mismatches_are_refused(body: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(errors.InvalidArgument, match="cannot unmarshal"):
        decode.check(decode.CONTAINER_CREATE, body, "ContainerConfigWrapper")


def test_nulls_are_zero_values_and_unknown_fields_pass() -> None:
    out = decode.check(decode.CONTAINER_CREATE,
                       {"Image": "busybox", "Cmd": None, "Env": ["A=1", None], "Labels": {"a": None},
                        "HostConfig": {"Ulimits": [None], "Memory": 1024.0}, "Unknown": [1]},
                       "ContainerConfigWrapper")
    assert out == {"Image": "busybox", "Env": ["A=1", ""], "Labels": {"a": ""},
                   "HostConfig": {"Ulimits": [{}], "Memory": 1024}, "Unknown": [1]}


def test_numbers_pass_as_strings_where_clients_send_them() -> None:
    out = decode.check(decode.CONTAINER_CREATE, {"HostConfig": {"GroupAdd": ["1000", 1001]}}, "C")
    assert out == {"HostConfig": {"GroupAdd": ["1000", "1001"]}}


def test_strslice_takes_a_string_as_go_does() -> None:
    out = decode.check(decode.CONTAINER_CREATE, {"Cmd": "echo hi", "Entrypoint": ["sh", "-c"]}, "C")
    assert out == {"Cmd": ["echo hi"], "Entrypoint": ["sh", "-c"]}


def test_a_body_that_is_not_an_object() -> None:
    with pytest.raises(errors.InvalidArgument, match="into Go value of type AuthConfig"):
        decode.check(decode.AUTH_CONFIG, ["x"], "AuthConfig")
