"""Flag value types with the docker CLI's messages (``invalid argument "12qb" for "-m, --memory"
flag: invalid size: '12qb'``): argparse calls them, ``cli.main`` words the error."""

from __future__ import annotations

import argparse
import re


class FlagValueError(argparse.ArgumentTypeError):
    """Raised by a flag's type function: argparse names the flag, ``main`` writes docker's line."""

    def __init__(self, value: str, reason: str) -> None:
        super().__init__(f"{value}\0{reason}")


_RAM = re.compile(r"^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$")
_DECIMAL = re.compile(r"^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[bB]?$")
_BINARY = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def ram_bytes(value: str) -> int:
    """units.RAMInBytes: ``64m``, ``1.5g``, ``512KiB``, ``100`` (binary units)."""
    m = _RAM.match(value)
    if not m:
        raise FlagValueError(value, f"invalid size: '{value}'")
    return int(float(m.group(1)) * _BINARY[(m.group(2) or "").lower()])


def swap_bytes(value: str) -> int:
    """``--memory-swap``: a size, or -1 for unlimited."""
    return -1 if value == "-1" else ram_bytes(value)


def cpus(value: str) -> int:
    """``--cpus 1.5`` -> NanoCPUs."""
    try:
        n = float(value)
    except ValueError:
        raise FlagValueError(value, f"failed to parse {value} as a rational number") from None
    if n != n or n in (float("inf"), float("-inf")):
        raise FlagValueError(value, f"failed to parse {value} as a rational number")
    return int(round(n * 1e9))


def integer(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise FlagValueError(value, f'strconv.ParseInt: parsing "{value}": invalid syntax') from None


def uint16(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise FlagValueError(value, f'strconv.ParseUint: parsing "{value}": invalid syntax') from None
    if not 0 <= n <= 65535:
        raise FlagValueError(value, f'strconv.ParseUint: parsing "{value}": value out of range')
    return n


def duration_ns(value: str) -> int:
    """time.ParseDuration: ``1s``, ``500ms``, ``1m30s``."""
    parts = re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)", value)
    if value == "0":
        return 0
    if not parts or "".join(n + u for n, u in parts) != value:
        raise FlagValueError(value, f'time: invalid duration "{value}"')
    return int(sum(float(n) * _DURATION_UNITS[u] for n, u in parts) * 1e9)


def ulimit(value: str) -> dict[str, object]:
    """``nofile=1024[:2048]`` -> a HostConfig.Ulimits item."""
    name, eq, limits = value.partition("=")
    if not eq or not name:
        raise FlagValueError(value, f"invalid ulimit argument: {value}")
    soft, _, hard = limits.partition(":")
    try:
        s = int(soft)
        h = int(hard) if hard else s
    except ValueError as err:
        bad = soft if not soft.lstrip("-").isdigit() else hard
        raise FlagValueError(value, f'strconv.ParseInt: parsing "{bad}": invalid syntax') from err
    if s > h:
        raise FlagValueError(value, f"ulimit soft limit must be less than or equal to hard limit: {s} > {h}")
    return {"Name": name, "Soft": s, "Hard": h}


def device(value: str) -> dict[str, str]:
    """``/dev/sda[:/dev/xvda[:rwm]]`` -> a HostConfig.Devices item."""
    parts = value.split(":")
    perms = "rwm"
    if len(parts) == 3:
        src, dst, perms = parts
    elif len(parts) == 2:
        src, dst = parts
        if re.fullmatch(r"[rwm]{1,3}", dst):
            dst, perms = src, dst
    elif len(parts) == 1:
        src = dst = parts[0]
    else:
        raise FlagValueError(value, f"invalid device specification: {value}")
    if not re.fullmatch(r"[rwm]{1,3}", perms) or not dst.startswith("/"):
        raise FlagValueError(value, f"invalid device specification: {value}")
    return {"PathOnHost": src, "PathInContainer": dst, "CgroupPermissions": perms}


def restart_policy(value: str) -> dict[str, object]:
    """``no``, ``always``, ``unless-stopped``, ``on-failure[:N]``."""
    name, colon, count = value.partition(":")
    if name not in ("no", "always", "unless-stopped", "on-failure"):
        raise FlagValueError(value, f"invalid restart policy '{name}'")
    if colon and name != "on-failure":
        raise FlagValueError(value, f"maximum retry count cannot be used with restart policy '{name}'")
    try:
        retries = int(count) if count else 0
    except ValueError:
        raise FlagValueError(value, "maximum retry count must be an integer") from None
    return {"Name": name, "MaximumRetryCount": retries}


def pull_policy(value: str) -> str:
    if value not in ("always", "missing", "never"):
        raise FlagValueError(value, f"invalid pull option: '{value}': must be one of \"always\", \"missing\" or "
                                    "\"never\"")
    return value


def key_values(path: str) -> list[str]:
    """``--env-file``/``--label-file``: ``KEY=VALUE`` lines; ``#`` comments and blank lines skipped;
    a bare ``KEY`` takes this environment's value (dropped when unset)."""
    import os

    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as err:
        raise FlagValueError(path, f"open {path}: {err.strerror.lower() if err.strerror else err}") from None
    out = []
    for line in lines:
        line = line.lstrip()
        if not line or line.startswith("#"):
            continue
        if "=" in line:
            out.append(line)
        elif line in os.environ:
            out.append(f"{line}={os.environ[line]}")
    return out
