"""engine/validate.py, engine/api/filters.py and the door's helpers in engine/api/decode.py, without a daemon."""

from __future__ import annotations

import io
import tarfile
from typing import Any

import pytest

from dockyard import errors
from dockyard.engine import validate
from dockyard.engine.api import decode, filters, render
from dockyard.engine.container import Container


@pytest.mark.parametrize("raw,expected", [
    ('{"name":{"a":true,"b":false}}', {"name": ["a", "b"]}),
    ('{"name":["a","a","b"]}', {"name": ["a", "b"]}),
    ('{"label":null}', {"label": []}),
    ("", {}),
])
def test_filters_both_wire_forms(raw: str, expected: dict[str, list[str]]) -> None:
    assert filters.parse(raw, filters.CONTAINERS) == expected


@pytest.mark.parametrize("raw,message", [
    ("[1,2]", "invalid filter"), ('{"name":"x"}', "invalid filter"), ('{"name":[1]}', "invalid filter"),
    ("{nope", "invalid filter"), ('{"bogus":["x"]}', "invalid filter 'bogus'"),
])
def test_filters_refused(raw: str, message: str) -> None:
    with pytest.raises(errors.InvalidArgument) as err:
        filters.parse(raw, filters.CONTAINERS)
    assert str(err.value) == message


def test_boolean_filter() -> None:
    assert filters.boolean({"dangling": ["true"]}, "dangling") is True
    assert filters.boolean({"dangling": ["0"]}, "dangling") is False
    assert filters.boolean({}, "dangling") is None
    with pytest.raises(errors.InvalidArgument, match=r"invalid filter 'dangling=\[true false\]'"):
        filters.boolean({"dangling": ["true", "false"]}, "dangling")


@pytest.mark.parametrize("raw,number", [("9", 9), ("SIGTERM", 15), ("term", 15), ("RTMIN+3", 37), ("SIGRTMAX", 64)])
def test_signals(raw: str, number: int) -> None:
    assert validate.signal_number(raw) == number


@pytest.mark.parametrize("raw,message", [("0", "invalid signal: 0"), ("32", "does not support signal 32"),
                                         ("99", "does not support signal 99"), ("BOGUS", "invalid signal: BOGUS")])
def test_bad_signals(raw: str, message: str) -> None:
    with pytest.raises(errors.InvalidArgument, match=message):
        validate.signal_number(raw)


def test_cpuset_lists() -> None:
    assert validate.parse_uint_list("0-2,4", 8192) == {0, 1, 2, 4}
    assert validate.format_uint_list(frozenset({0, 1, 2, 4, 6, 7})) == "0-2,4,6-7"
    for bad in ("abc", "2-1", "1,", "-1"):
        with pytest.raises(ValueError, match="invalid format"):
            validate.parse_uint_list(bad, 8192)
    with pytest.raises(ValueError, match="maximum is 8192"):
        validate.parse_uint_list("0-9223372036854775807", 8192)  # CVE-2018-20699: no huge allocation


@pytest.mark.parametrize("text,expected", [("linux", ("linux", validate._host_arch(), "")),
                                           ("amd64", ("linux", "amd64", "")),
                                           ("linux/arm64/v8", ("linux", "arm64", "v8")),
                                           ("windows/x86_64", ("windows", "amd64", ""))])
def test_platforms(text: str, expected: tuple[str, str, str]) -> None:
    assert validate.platform(text) == expected


@pytest.mark.parametrize("text", ["bogus", "linux/amd64/v8/x", "linux/*", "li nux/amd64", ""])
def test_bad_platforms(text: str) -> None:
    with pytest.raises(errors.InvalidArgument):
        validate.platform(text)


def test_create_normalises_and_warns() -> None:
    config: dict[str, Any] = {"Image": "busybox", "WorkingDir": "/a/../b//c/"}
    host: dict[str, Any] = {"MemorySwappiness": -1, "CpuPercent": 50}
    warnings = validate.container_create(config, host)
    assert config["WorkingDir"] == "/b/c"
    assert "MemorySwappiness" not in host
    assert warnings == ["linux does not support CPU percent. Percent discarded."]


def _tar(name: str = "f") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        tar.addfile(info, io.BytesIO(b""))
    return buf.getvalue()


def test_tar_header_check() -> None:
    assert decode._tar_header_ok(_tar()[:512])
    assert decode._tar_header_ok(bytes(512))  # an empty archive: only the end blocks
    assert not decode._tar_header_ok(b"x" * 512)
    assert not decode._tar_header_ok(_tar()[:100])
    corrupt = bytearray(_tar()[:512])
    corrupt[0] ^= 1
    assert not decode._tar_header_ok(bytes(corrupt))


def test_json_depth_and_constants() -> None:
    with pytest.raises(errors.InvalidArgument, match="exceeded max depth"):
        decode.loads("[" * 100_000 + "]" * 100_000)
    with pytest.raises(errors.InvalidArgument, match="invalid JSON"):
        decode.loads('{"a": NaN}')


class _BrokenNetworks:
    def ps_ports(self, c: dict[str, Any]) -> list[dict[str, Any]]:
        raise ValueError("invalid port '/tcp'")  # what a record stored before validation did to the list


class _Engine:
    networks = _BrokenNetworks()


def test_a_row_that_cannot_be_rendered_does_not_break_the_list() -> None:
    c = Container({"Id": "a" * 64, "Name": "/bad", "Created": "2024-01-01T00:00:00Z", "Path": "true", "Args": [],
                   "Image": "sha256:" + "1" * 64, "State": {"Status": "created"}, "Config": {"Image": "busybox"},
                   "HostConfig": {"PortBindings": {"/tcp": [{}]}}, "NetworkSettings": {}})
    row = render.to_summary(c, _Engine())
    assert row["Id"] == c.id and row["Names"] == ["/bad"] and row["Ports"] == [] and row["State"] == "created"
