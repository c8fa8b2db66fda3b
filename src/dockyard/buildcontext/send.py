"""What a client sends with ``POST /build`` besides the files: where the Dockerfile is in the
context tar, which files the daemon still has (``POST /build/context``), the secrets header."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from dockyard import errors
from dockyard.buildcontext.tar import ContextTar, plan_context


def dockerfile_in_context(root: Path, path: Path) -> tuple[str, bytes | None]:
    """The Dockerfile's name in the context tar (``path`` relative to ``root`` unless absolute),
    with its bytes when it lies outside the context: it then travels as an extra file under a
    random name, as the docker CLI's ``AddDockerfileToBuildContext`` sends it."""
    full = path if path.is_absolute() else root / path
    try:
        return full.resolve().relative_to(root.resolve()).as_posix(), None
    except ValueError:
        pass
    try:
        data = full.read_bytes()
    except OSError as err:
        raise errors.InvalidArgument(f"failed to read dockerfile: {err.strerror}: {full}") from None
    return random_dockerfile_name(), data


def random_dockerfile_name() -> str:
    return ".dockerfile." + os.urandom(6).hex()


def make_context(root: Path, dockerfile: Path = Path("Dockerfile"), inline: bytes | None = None
                 ) -> tuple[ContextTar, str]:
    """The context tar of ``root`` (``.dockerignore`` applied, the Dockerfile and ``.dockerignore``
    kept) and the Dockerfile's name in it; ``inline`` is a Dockerfile's text given as such."""
    extra: bytes | None = inline
    if inline is not None:
        name = random_dockerfile_name()
    else:
        name, extra = dockerfile_in_context(root, dockerfile)
    body = plan_context(root, name)  # streamed by the client: the files are never read in here
    if extra is not None:
        body.add_bytes(name, extra)
    return body, name


def only_what_the_daemon_lacks(c: Any, root: Path, plan: ContextTar, headers: dict[str, str]) -> ContextTar:
    """Ask the daemon (the client ``c``) which files of the context it still has from the last
    build of this directory (``POST /build/context``, Dockyard's own) and leave those out of the
    tar, its token added to ``headers``; a daemon without that endpoint (Docker's) gets the whole
    context."""
    import hashlib
    import socket

    key = hashlib.sha256(f"{socket.gethostname()}\0{root.resolve()}".encode()).hexdigest()[:32]
    manifest = plan.manifest()
    try:
        r = c.json("POST", "/build/context", {"key": key}, {"files": manifest})
    except errors.DockyardError:
        return plan
    headers["X-Dockyard-Build-Context"] = r["token"]
    need = set(r["need"])
    return plan.without({name for name, *_ in manifest if name not in need})


def secrets_header(specs: list[str]) -> str:
    """``--secret id=ID[,src=PATH|,env=VAR]`` (BuildKit's syntax) as the engine's secrets header:
    base64url(JSON {id: base64(bytes)})."""
    import base64

    out: dict[str, str] = {}
    for spec in specs:
        fields = dict(f.partition("=")[::2] for f in spec.split(",") if f)
        sid = fields.get("id", "")
        src = fields.get("src") or fields.get("source") or ""
        if not sid:
            raise errors.InvalidArgument(f"--secret {spec!r}: id= is required")
        if fields.get("env") or (not src and sid in os.environ):
            data = os.environ.get(fields.get("env") or sid, "").encode()
        else:
            try:
                data = Path(src or sid).read_bytes()
            except OSError as err:
                raise errors.InvalidArgument(f"--secret {spec!r}: {err.strerror}: {src or sid}") from None
        out[sid] = base64.b64encode(data).decode()
    return base64.urlsafe_b64encode(json.dumps(out).encode()).decode().rstrip("=")
