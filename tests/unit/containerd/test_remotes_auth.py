"""Registry auth and hosts: challenge parsing, the Bearer token flow, error names, plain-http rules."""

from __future__ import annotations

import asyncio
import base64

import aiohttp
import pytest
from aiohttp import web

from dockyard import errors
from dockyard.containerd.remotes.auth import Authorizer, Credentials, parse_challenges
from dockyard.containerd.remotes.hosts import endpoints
from dockyard.containerd.remotes.registry import Repository, timeout
from dockyard.oci.reference import parse


def test_parse_bearer_and_basic_challenges() -> None:
    chs = parse_challenges('Bearer realm="https://auth.example/token",service="registry.example",'
                           'scope="repository:a/b:pull,push", Basic realm="x"')
    assert chs[0].scheme == "bearer"
    assert chs[0].params == {"realm": "https://auth.example/token", "service": "registry.example",
                             "scope": "repository:a/b:pull,push"}
    assert chs[1].scheme == "basic" and chs[1].params["realm"] == "x"


def test_endpoints_of_docker_hub_and_loopback() -> None:
    """(Which hosts are plain HTTP: tests/unit/test_registryhost.py.)"""
    assert endpoints("docker.io")[-1].base == "https://registry-1.docker.io"
    assert endpoints("127.0.0.1:5000")[0].base == "http://127.0.0.1:5000"


def _app(tokens: list[str]) -> web.Application:
    async def token(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != "Basic " + base64.b64encode(b"u:p").decode():
            return web.json_response({}, status=401)
        tokens.append(request.query.getone("scope"))
        return web.json_response({"token": "T0K"})

    async def manifest(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != "Bearer T0K":
            realm = f"http://{request.host}/token"
            return web.json_response(
                {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}, status=401,
                headers={"WWW-Authenticate": f'Bearer realm="{realm}",service="test",scope="repository:a/b:pull"'})
        if request.match_info["ref"] == "limited":
            return web.json_response({"errors": [{"code": "TOOMANYREQUESTS", "message": "slow down"}]}, status=429)
        if request.match_info["ref"] == "old":
            return web.Response(body=b'{"schemaVersion": 1}',
                                content_type="application/vnd.docker.distribution.manifest.v1+prettyjws")
        return web.json_response({"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]},
                                 status=404)

    app = web.Application()
    app.router.add_get("/token", token)
    app.router.add_get("/v2/a/b/manifests/{ref}", manifest)
    return app


def test_bearer_flow_and_error_names() -> None:
    tokens: list[str] = []

    async def go() -> None:
        runner = web.AppRunner(_app(tokens))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            async with aiohttp.ClientSession(timeout=timeout()) as s:
                ref = parse(f"127.0.0.1:{port}/a/b:x")
                anon = Repository(s, endpoints(ref.domain)[0], ref, Authorizer())
                with pytest.raises(errors.PermissionDenied, match="UNAUTHORIZED"):
                    await anon.get_manifest("x")
                repo = Repository(s, endpoints(ref.domain)[0], ref, Authorizer(Credentials("u", "p")))
                with pytest.raises(errors.NotFound, match="MANIFEST_UNKNOWN"):
                    await repo.get_manifest("x")
                with pytest.raises(errors.Unavailable, match="TOOMANYREQUESTS"):
                    await repo.get_manifest("limited")
                with pytest.raises(errors.InvalidArgument, match="schema 1"):
                    await repo.get_manifest("old")
        finally:
            await runner.cleanup()

    asyncio.run(go())
    assert tokens == ["repository:a/b:pull"]  # one token fetched, then reused
