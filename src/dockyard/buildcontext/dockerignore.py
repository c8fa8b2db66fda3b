"""``.dockerignore``: Go ``filepath.Match`` patterns plus ``**``, with ``!`` exceptions.

The client applies it before the context is sent (as the docker CLI does), so ignored files
never cross the socket; the daemon's builder reads it again to drop an ignored Dockerfile and
``.dockerignore`` from what COPY sees. The last matching pattern wins; a pattern that matches a
directory excludes what is under it unless a later ``!`` pattern brings a path back.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterator
from pathlib import Path


class Pattern:
    """One line of ``.dockerignore`` (a plain class: ``dataclasses`` costs the CLI ~9 ms to import)."""

    __slots__ = ("text", "exclusion", "regex")

    def __init__(self, text: str, exclusion: bool, regex: re.Pattern[str]) -> None:
        self.text = text
        self.exclusion = exclusion
        self.regex = regex

    def __repr__(self) -> str:
        return f"Pattern({self.text!r}, {self.exclusion!r})"


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
    """Context-relative paths to send, in sorted order; ``always`` (the Dockerfile, ``.dockerignore``)
    is kept, also inside an excluded directory, whose own entry is then left out (as the docker
    CLI's ``!Dockerfile`` exception does)."""
    keep_under = {a.rsplit("/", k)[0] for a in always for k in range(1, a.count("/") + 1)}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        rel_dir = "" if rel_dir == "." else rel_dir
        dirnames.sort()
        keep_dirs = []
        for d in dirnames:
            rel = f"{rel_dir}/{d}" if rel_dir else d
            if matcher.excluded(rel) and not matcher.has_exclusions and rel not in keep_under:
                continue  # nothing below can come back
            keep_dirs.append(d)
            if not matcher.excluded(rel):
                yield rel
        dirnames[:] = keep_dirs
        for f in sorted(filenames):
            rel = f"{rel_dir}/{f}" if rel_dir else f
            if rel in always or not matcher.excluded(rel):
                yield rel
