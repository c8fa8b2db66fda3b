"""The loaded project, remembered between commands: a command whose compose files, env files,
options, environment and loader code are what they were last time uses that ``Project`` without
importing YAML, the schema or the loader (~60 ms of every command's start).

While ``loader.load`` runs, every file it reads or looks for goes through ``read_text``,
``is_file`` and ``exists`` here, which note what was seen (a file's bytes, or whether a path
was there). An entry is used only when each of those observations is made again with the same
answer, so an edited, added or removed file (an override, a ``.env``) is a miss. The key holds
a digest of the whole environment, never the environment itself: the entry keeps only the
variables that came from env files. Entries live under ``$XDG_CACHE_HOME/dockyard/compose-projects``
(or ``~/.cache``), readable by their owner only; a read-only or missing home means no cache.
"""

from __future__ import annotations

import marshal
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path
    from typing import Any

    from dockyard.compose.project import Project

FORMAT = "1"
KEEP = 256  # entries kept; beyond that the oldest half goes
# the modules whose code decides what a load produces: an edit to any of them is a miss
CODE = ("loader.py", "normalize.py", "shapes.py", "merge.py", "interpolate.py", "envfile.py", "yamlload.py",
        "schema.py", "project.py", "projcache.py", "compose-spec.json")
_HERE = os.path.dirname(os.path.abspath(__file__))

_seen: list[tuple[str, str, Any]] | None = None  # (kind, path, answer) while a load is recorded


def _note(kind: str, path: str, answer: Any) -> None:
    if _seen is not None:
        _seen.append((kind, path, answer))


def read_text(path: Path | str) -> str:
    """``Path.read_text`` (UTF-8), noted."""
    name = str(path)
    try:
        with open(name, "rb") as f:
            data = f.read()
    except OSError:
        _note("r", name, None)
        raise
    _note("r", name, data)
    return data.decode()


def is_file(path: Path | str) -> bool:
    found = os.path.isfile(path)
    _note("f", str(path), found)
    return found


def exists(path: Path | str) -> bool:
    found = os.path.exists(path)
    _note("e", str(path), found)
    return found


def _again(kind: str, path: str) -> Any:
    if kind == "f":
        return os.path.isfile(path)
    if kind == "e":
        return os.path.exists(path)
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def sha256_hex(data: bytes) -> str:
    try:
        import _sha256  # type: ignore[import-not-found]  # the builtin module: hashlib loads OpenSSL (~10 ms)
    except ImportError:
        import hashlib

        return hashlib.sha256(data).hexdigest()
    return str(_sha256.sha256(data).hexdigest())


def _digest(text: str) -> str:
    return sha256_hex(text.encode())


def _code() -> list[tuple[str, int, int]]:
    out = []
    for name in CODE:
        try:
            st = os.stat(os.path.join(_HERE, name))
        except OSError:
            st = None
        out.append((name, st.st_mtime_ns if st else 0, st.st_size if st else 0))
    return out


def _dir() -> str | None:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "dockyard", "compose-projects") if os.path.isabs(base) else None


def key(options: Any, environ: Mapping[str, str]) -> str:
    """The entry's name: the options, the working directory, the loader's code and the
    environment but ``_`` (the shell's last command: ``python`` and ``dockyard`` give two keys)."""
    env = sorted((k, v) for k, v in environ.items() if k != "_")
    material = repr((FORMAT, sys.version, _code(), os.getcwd(), options, _digest(repr(env))))
    return _digest(material)


def load(cache_key: str, environ: Mapping[str, str]) -> Project | None:
    """The remembered project for ``cache_key``, if every file it was made from is as it was."""
    d = _dir()
    if d is None:
        return None
    try:
        with open(os.path.join(d, cache_key), "rb") as f:
            stored_key, seen, env_files, fields = marshal.loads(f.read())
    except (OSError, ValueError, EOFError, TypeError):
        return None
    if stored_key != cache_key or any(_again(kind, path) != answer for kind, path, answer in seen):
        return None
    from dockyard.compose.project import Project

    project = Project.from_fields(fields)
    project.environment = {**env_files, **environ}
    return project


def recorded(cache_key: str, environ: Mapping[str, str], make: Callable[[], Project]) -> Project:
    """``make()`` with its file reads noted, the result remembered under ``cache_key``."""
    global _seen
    _seen = []
    try:
        project = make()
        seen = _seen
    finally:
        _seen = None
    if any(path == "-" for _, path, _ in seen) or any(f == "-" for f in project.config_files):
        return project  # stdin is not a file that can be looked at again
    _store(cache_key, seen, project, environ)
    return project


def _store(cache_key: str, seen: list[tuple[str, str, Any]], project: Project, environ: Mapping[str, str]) -> None:
    d = _dir()
    if d is None:
        return
    env_files = {k: v for k, v in project.environment.items() if k not in environ}
    fields = tuple(None if f == "environment" else v for f, v in zip(_field_names(), project.fields(), strict=True))
    try:
        data = marshal.dumps((cache_key, seen, env_files, fields))
    except ValueError:
        return  # something in the model marshal cannot hold: not remembered
    try:
        os.makedirs(d, mode=0o700, exist_ok=True)
        tmp = os.path.join(d, f".{cache_key}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, os.path.join(d, cache_key))
        _prune(d)
    except OSError:
        return  # a read-only or full home: load every time


def _field_names() -> tuple[str, ...]:
    from dockyard.compose.project import FIELDS

    return FIELDS


def _prune(d: str) -> None:
    names = [n for n in os.listdir(d) if not n.startswith(".")]
    if len(names) <= KEEP:
        return
    by_age = sorted(names, key=lambda n: os.stat(os.path.join(d, n)).st_mtime_ns)
    for n in by_age[:len(by_age) // 2]:
        try:
            os.unlink(os.path.join(d, n))
        except OSError:
            continue  # removed by another command at the same time
