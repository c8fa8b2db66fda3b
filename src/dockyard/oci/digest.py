"""Content digests ("sha256:<64 hex>"), the identity of every blob.

Only sha256 is accepted: it is the only algorithm the OCI image spec requires
and the one every registry and containerd use, so refusing others early keeps
blob paths (``blobs/sha256/<hex>``) unambiguous and safe to join.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from dockyard.errors import InvalidArgument

ALGORITHM = "sha256"
_HEX_RE = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Digest:
    """A parsed, validated digest; ``str(d)`` is its canonical form."""

    algorithm: str
    hex: str

    @classmethod
    def parse(cls, value: str) -> "Digest":
        """Parse ``sha256:<64 lowercase hex>``; anything else is InvalidArgument.

        Validation is strict because the hex part becomes a file name.
        """
        if not isinstance(value, str):
            raise InvalidArgument(f"digest {value!r}: not a string")
        algorithm, sep, hexpart = value.partition(":")
        if not sep:
            raise InvalidArgument(f'digest "{value}": missing algorithm')
        if algorithm != ALGORITHM:
            raise InvalidArgument(f'digest "{value}": unsupported algorithm "{algorithm}"')
        if not _HEX_RE.fullmatch(hexpart):
            raise InvalidArgument(f'digest "{value}": invalid hex part')
        return cls(algorithm, hexpart)

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


def validate(value: str) -> str:
    """Return ``value`` unchanged if it is a valid digest, else raise InvalidArgument."""
    Digest.parse(value)
    return value


def is_valid(value: str) -> bool:
    """True if ``value`` is a well-formed sha256 digest (a predicate, not a failure signal)."""
    try:
        Digest.parse(value)
    except InvalidArgument:
        return False
    return True


def hex_of(value: str) -> str:
    """The validated hex part of a digest (what becomes the blob file name)."""
    return Digest.parse(value).hex


def sha256_digest(data: bytes) -> str:
    """Digest of an in-memory byte string."""
    return f"{ALGORITHM}:{hashlib.sha256(data).hexdigest()}"


class Digester:
    """Incremental sha256 over a stream; counts bytes so callers can check sizes too."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.size = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self._hash.update(data)
        self.size += len(data)

    def digest(self) -> str:
        return f"{ALGORITHM}:{self._hash.hexdigest()}"

    def copy(self) -> "Digester":
        other = Digester()
        other._hash = self._hash.copy()
        other.size = self.size
        return other
