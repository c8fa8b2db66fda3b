"""``.dockerignore``: Go ``filepath.Match`` patterns plus ``**``, with ``!`` exceptions.

The client applies it before the context is sent (as the docker CLI does), so ignored files
never cross the socket. The last matching pattern wins; a pattern that matches a directory
excludes what is under it unless a later ``!`` pattern brings a path back.
"""

from __future__ import annotations

import io
import os
import posixpath
import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Pattern:
    text: str
    exclusion: bool
    regex: re.Pattern[str]


def _to_regex(pattern: str) -> re.Pattern[str]:
    out = ["^"]
    i = 0
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "*":
            if i + 1 < n and pattern[i + 1] == "*":
                i += 1
                if i + 1 < n and pattern[i + 1] == "/":
                    i += 1
                    out.append("(?:.*/)?")
                else:
                    out.append(".*")
            else:
                out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            j = pattern.find("]", i + 2)
            if j < 0:
                raise ValueError(f"syntax error in pattern {pattern!r}")
            body = pattern[i + 1:j]
            if body.startswith(("^", "!")):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = j
        elif ch == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(ch))
        i += 1
    out.append("$")
    return re.compile("".join(out), re.DOTALL)


def parse_patterns(text: str) -> list[Pattern]:
    pats: list[Pattern] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exclusion = line.startswith("!")
        if exclusion:
            line = line[1:].strip()
        line = posixpath.normpath(line.replace("\\", "/") if os.sep == "\\" else line)
        line = line.lstrip("/") or "."
        if line == ".":
            # "." or "/" matches everything; as an exclusion, keep everything
            pats.append(Pattern(line, exclusion, re.compile(r"^.*$", re.DOTALL)))
            continue
        pats.append(Pattern(line, exclusion, _to_regex(line)))
    return pats


class Matcher:
    def __init__(self, patterns: list[Pattern]) -> None:
        self.patterns = patterns
        self.has_exclusions = any(p.exclusion for p in patterns)

    @classmethod
    def from_text(cls, text: str) -> Matcher:
        return cls(parse_patterns(text))

    def excluded(self, rel: str) -> bool:
        """Whether the context-relative path ``rel`` (``a/b``) is ignored."""
        rel = rel.strip("/")
        parts = rel.split("/")
        parents = ["/".join(parts[:k]) for k in range(1, len(parts))]
        matched = False
        for p in self.patterns:
            if p.exclusion != matched:
                continue  # only a pattern that can change the answer needs checking
            hit = bool(p.regex.match(rel)) or any(p.regex.match(d) for d in parents)
            if hit:
                matched = not p.exclusion
        return matched


def walk_context(root: Path, matcher: Matcher, always: tuple[str, ...] = ()) -> Iterator[str]:
    """Context-relative paths to send, in sorted order; ``always`` (the Dockerfile) is kept."""
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        rel_dir = "" if rel_dir == "." else rel_dir
        dirnames.sort()
        keep_dirs = []
        for d in dirnames:
            rel = f"{rel_dir}/{d}" if rel_dir else d
            if matcher.excluded(rel) and not matcher.has_exclusions:
                continue  # nothing below can come back
            keep_dirs.append(d)
            if not matcher.excluded(rel):
                yield rel
        dirnames[:] = keep_dirs
        for f in sorted(filenames):
            rel = f"{rel_dir}/{f}" if rel_dir else f
            if rel in always or not matcher.excluded(rel):
                yield rel


def context_tar(root: Path, dockerfile: str = "Dockerfile", out: io.BufferedIOBase | None = None) -> bytes:
    """The build context as an uncompressed tar, ``.dockerignore`` applied."""
    ignore = root / ".dockerignore"
    matcher = Matcher.from_text(ignore.read_text() if ignore.is_file() else "")
    buf = out if out is not None else io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for rel in walk_context(root, matcher, always=(dockerfile, ".dockerignore")):
            path = root / rel
            info = tf.gettarinfo(str(path), arcname=rel)
            info.uname = info.gname = ""
            info.mtime = int(info.mtime)  # a float mtime costs a pax header per member
            if info.isreg():
                with open(path, "rb") as f:
                    tf.addfile(info, f)
            else:
                tf.addfile(info)
    return buf.getvalue() if isinstance(buf, io.BytesIO) else b""
