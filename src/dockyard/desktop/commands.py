"""What the dashboard does by running the dockyard CLI against its daemon: a build from a directory
(the CLI reads the context, applies .dockerignore and sends only what the daemon lacks) and compose
projects (up, down, logs through ``dockyard compose``). The command's output is relayed as it comes:
NDJSON ``{"line"}`` then ``{"exit": code}`` for an action, SSE ``log`` events for logs.

Arguments are passed as a list (no shell); the paths and names the browser sends are checked first,
so none can pass for an option."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

from dockyard import errors
from dockyard.desktop.api import PROJECT_LABEL, engine
from dockyard.desktop.streams import relay

FILES_LABEL = "com.docker.compose.project.config_files"
WORKDIR_LABEL = "com.docker.compose.project.working_dir"
PROJECT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")  # compose's rule for project names
REFERENCE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._/:@-]*$")


def _cli(request: web.Request, *args: str) -> list[str]:
    return [sys.executable, "-m", "dockyard.cli.main", "-H", engine(request).host, *args]


async def _spawn(argv: list[str]) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"}
    return await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)


async def run_streamed(request: web.Request, argv: list[str]) -> web.StreamResponse:
    """Run ``argv``; each output line as ``{"line"}``, then ``{"exit"}``. The command is not
    stopped when the browser leaves (a half-done ``up`` helps nobody)."""
    proc = await _spawn(argv)
    assert proc.stdout is not None
    resp = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
    await resp.prepare(request)
    gone = False
    async for raw in proc.stdout:
        if not gone:
            try:
                await resp.write(json.dumps({"line": raw.decode(errors="replace").rstrip("\n")}).encode() + b"\n")
            except ConnectionError:
                gone = True
    code = await proc.wait()
    if not gone:
        await resp.write(json.dumps({"exit": code}).encode() + b"\n")
        await resp.write_eof()
    return resp


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as err:
        raise errors.InvalidArgument("the body must be a JSON object") from err
    if not isinstance(body, dict):
        raise errors.InvalidArgument("the body must be a JSON object")
    return body


def _absolute(value: Any, what: str, want_dir: bool) -> str:
    path = str(value or "").strip()
    if not path.startswith("/") or "\0" in path:
        raise errors.InvalidArgument(f"{what} must be an absolute path on the dashboard's machine")
    if not (Path(path).is_dir() if want_dir else Path(path).is_file()):
        raise errors.InvalidArgument(f"{what} {path}: no such {'directory' if want_dir else 'file'}")
    return path


async def build(request: web.Request) -> web.StreamResponse:
    """POST {"path": "/dir", "tag": "name[:tag]", "dockerfile": "relative or absolute (optional)"}."""
    body = await _body(request)
    path = _absolute(body.get("path"), "the build directory", want_dir=True)
    args = ["build"]
    tag = str(body.get("tag") or "").strip()
    if tag:
        if not REFERENCE.match(tag):
            raise errors.InvalidArgument(f"invalid tag {tag!r}")
        args += ["-t", tag]
    dockerfile = str(body.get("dockerfile") or "").strip()
    if dockerfile:
        args += ["-f", dockerfile if dockerfile.startswith("/") else os.path.join(path, dockerfile)]
    return await run_streamed(request, _cli(request, *args, path))


async def _projects(request: web.Request) -> dict[str, dict[str, Any]]:
    """Compose projects as their containers' labels describe them."""
    found: dict[str, dict[str, Any]] = {}
    listed = await engine(request).call("GET", "/containers/json", {"all": "1", "filters": json.dumps(
        {"label": [PROJECT_LABEL]})})
    for c in listed:
        labels = c.get("Labels") or {}
        p = found.setdefault(labels[PROJECT_LABEL], {"name": labels[PROJECT_LABEL], "files": [], "workdir": "",
                                                     "containers": 0, "running": 0, "services": []})
        p["files"] = [f for f in (labels.get(FILES_LABEL) or "").split(",") if f] or p["files"]
        p["workdir"] = labels.get(WORKDIR_LABEL) or p["workdir"]
        p["containers"] += 1
        p["running"] += c.get("State") == "running"
        service = labels.get("com.docker.compose.service", "")
        if service and service not in p["services"]:
            p["services"].append(service)
    return found


async def projects(request: web.Request) -> web.Response:
    found = await _projects(request)
    return web.json_response({"projects": [found[name] for name in sorted(found)]})


def _project_name(value: Any) -> str:
    name = str(value or "").strip()
    if not PROJECT_NAME.match(name):
        raise errors.InvalidArgument(f"invalid project name {name!r}: lowercase letters, digits, - and _")
    return name


async def _project_args(request: web.Request, name: str, file: Any) -> list[str]:
    """``-f FILE... -p NAME``: the file given, or the files the project's containers were made from."""
    if file:
        return ["compose", "--ansi", "never", "-f", _absolute(file, "the compose file", want_dir=False), "-p", name]
    known = (await _projects(request)).get(name)
    if known is None or not known["files"]:
        raise errors.NotFound(f"no compose project {name!r} (give its compose file)")
    args = ["compose", "--ansi", "never"]
    for f in known["files"]:
        args += ["-f", f]
    if known["workdir"]:
        args += ["--project-directory", known["workdir"]]
    return [*args, "-p", name]


async def compose_up(request: web.Request) -> web.StreamResponse:
    """POST {"file": "/path/compose.yaml", "project": "name"}: a new project; or {"project"} alone
    to bring up again a known one from its files."""
    body = await _body(request)
    file = body.get("file")
    name = body.get("project") or (re.sub(r"[^a-z0-9_-]", "", Path(str(file)).parent.name.lower()) if file else "")
    args = await _project_args(request, _project_name(name), file)
    return await run_streamed(request, _cli(request, *args, "up", "-d"))


async def compose_down(request: web.Request) -> web.StreamResponse:
    name = _project_name(request.match_info["project"])
    args = await _project_args(request, name, None)
    return await run_streamed(request, _cli(request, *args, "down"))


async def _log_lines(request: web.Request, argv: list[str]) -> Any:
    proc = await _spawn(argv)
    assert proc.stdout is not None
    try:
        async for raw in proc.stdout:
            yield {"text": raw.decode(errors="replace")}
        if await proc.wait():
            raise errors.Unavailable(f"compose logs ended with status {proc.returncode}")
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def compose_logs(request: web.Request) -> web.StreamResponse:
    """SSE: ``compose logs -f`` of a project (every service, prefixed by its container), while the page listens."""
    name = _project_name(request.match_info["project"])
    args = await _project_args(request, name, None)
    return await relay(request, _log_lines(request, _cli(request, *args, "logs", "-f", "--no-color",
                                                         "--tail", "200")), "log")


def register(app: web.Application) -> None:
    app.router.add_post("/api/build", build)
    app.router.add_get("/api/compose", projects)
    app.router.add_post("/api/compose/up", compose_up)
    app.router.add_post("/api/compose/{project}/down", compose_down)
    app.router.add_get("/api/compose/{project}/logs", compose_logs)
