"""Content digests ("sha256:<64 hex>"), the identity of every blob.

The algorithms are the two the OCI image spec registers: sha256, which everything
makes, and sha512, which a registry must take (the distribution conformance suite
pushes and pulls by sha512 digests). Anything else is refused early, and the hex
part is checked for its exact length, so blob paths (``blobs/<algorithm>/<hex>``)
stay unambiguous and safe to join.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from dockyard.errors import InvalidArgument

ALGORITHM = "sha256"
_HEX_RE = {"sha256": re.compile(r"[0-9a-f]{64}"), "sha512": re.compile(r"[0-9a-f]{128}")}


@dataclass(frozen=True)
class Digest:
    """A parsed, validated digest; ``str(d)`` is its canonical form."""

    algorithm: str
    hex: str

    @classmethod
    def parse(cls, value: str) -> Digest:
        """Parse ``sha256:<64 lowercase hex>`` or ``sha512:<128>``; anything else is InvalidArgument.

        Validation is strict because the hex part becomes a file name.
        """
        if not isinstance(value, str):
            raise InvalidArgument(f"digest {value!r}: not a string")
        algorithm, sep, hexpart = value.partition(":")
        if not sep:
            raise InvalidArgument(f'digest "{value}": missing algorithm')
        hex_re = _HEX_RE.get(algorithm)
        if hex_re is None:
            raise InvalidArgument(f'digest "{value}": unsupported algorithm "{algorithm}"')
        if not hex_re.fullmatch(hexpart):
            raise InvalidArgument(f'digest "{value}": invalid hex part')
        return cls(algorithm, hexpart)

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


def validate(value: str) -> str:
    """Return ``value`` unchanged if it is a valid digest, else raise InvalidArgument."""
    Digest.parse(value)
    return value


def is_valid(value: str) -> bool:
    """True if ``value`` is a well-formed digest (a predicate, not a failure signal)."""
    try:
        Digest.parse(value)
    except InvalidArgument:
        return False
    return True


def hex_of(value: str) -> str:
    """The validated hex part of a digest (what becomes the blob file name)."""
    return Digest.parse(value).hex


def algorithm_of(value: str) -> str:
    """The validated algorithm of a digest ("sha256", "sha512")."""
    return Digest.parse(value).algorithm


def sha256_digest(data: bytes) -> str:
    """Digest of an in-memory byte string."""
    return f"{ALGORITHM}:{hashlib.sha256(data).hexdigest()}"


class Digester:
    """Incremental hash (sha256 unless told) over a stream; counts bytes so callers can check sizes too."""

    def __init__(self, algorithm: str = ALGORITHM) -> None:
        if algorithm not in _HEX_RE:
            raise InvalidArgument(f'unsupported digest algorithm "{algorithm}"')
        self.algorithm = algorithm
        self._hash = hashlib.sha256() if algorithm == ALGORITHM else hashlib.new(algorithm)
        self.size = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self._hash.update(data)
        self.size += len(data)

    def digest(self) -> str:
        return f"{self.algorithm}:{self._hash.hexdigest()}"

    def copy(self) -> Digester:
        other = Digester(self.algorithm)
        other._hash = self._hash.copy()
        other.size = self.size
        return other
