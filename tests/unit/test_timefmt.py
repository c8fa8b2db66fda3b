"""timefmt: Docker's RFC 3339 forms both ways, nanoseconds kept."""

from __future__ import annotations

import pytest

from dockyard.timefmt import parse_rfc3339, rfc3339, rfc3339_micro, rfc3339_nano

NS = 1704164645_123456789  # 2024-01-02T03:04:05.123456789Z


def test_formats() -> None:
    assert rfc3339_nano(NS) == "2024-01-02T03:04:05.123456789Z"
    assert rfc3339_nano(1704164645_000000007) == "2024-01-02T03:04:05.000000007Z"
    assert rfc3339_micro(1704164645.5) == "2024-01-02T03:04:05.500000Z"
    assert rfc3339(1704164645_123000000) == "2024-01-02T03:04:05.123Z"
    assert rfc3339(1704164645_250001000) == "2024-01-02T03:04:05.250001Z"


def test_parse_keeps_nanoseconds_and_zones() -> None:
    assert parse_rfc3339("2024-01-02T03:04:05.123456789Z") == pytest.approx(NS / 1e9, abs=1e-7)
    assert parse_rfc3339("2024-01-02T03:04:05.123456789Z") > parse_rfc3339("2024-01-02T03:04:05.123456Z")
    assert parse_rfc3339("2024-01-02T05:04:05.5+02:00") == 1704164645.5
    assert parse_rfc3339("0001-01-01T00:00:00Z") == -62135596800.0
    assert parse_rfc3339(rfc3339_nano(NS)) == pytest.approx(NS / 1e9, abs=1e-7)


@pytest.mark.parametrize("bad", ["", "x", "2024-01-02T03:04:05.Z", "yesterday"])
def test_parse_refuses_what_is_no_time(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_rfc3339(bad)
