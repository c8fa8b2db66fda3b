"""Run the registry in this process: build it from a Config, serve until SIGTERM/SIGINT.

A read-write server holds an exclusive flock on ``<root>/write.lock`` for its
whole life: a second writer on the same root, or a ``gc`` while pushes may
arrive, is refused instead of corrupting state.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import signal
import ssl
from pathlib import Path
from urllib.parse import urlparse

from aiohttp import web

from dockyard.errors import FailedPrecondition
from dockyard.registry.app import Registry
from dockyard.registry.auth import Authorizer, Htpasswd, Rule, load_secret
from dockyard.registry.config import Config, parse_duration
from dockyard.registry.proxy import Upstream


def write_lock(root: Path) -> int:
    """Take ``write.lock`` (exclusive, non-blocking); the fd is the lock."""
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / "write.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise FailedPrecondition(f"{root}: a read-write registry (or gc) is using this root") from None
    return fd


def build(cfg: Config) -> Registry:
    root = Path(cfg.root)
    root.mkdir(parents=True, exist_ok=True)
    htpasswd = Htpasswd(Path(cfg.htpasswd)) if cfg.htpasswd else None
    mode = "token" if cfg.token_realm else "basic" if htpasswd else "none"
    realm = cfg.token_realm or ""
    if realm in ("builtin", "auto"):
        host, port = cfg.host_port()
        realm = f"{cfg.scheme}://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}/token"
    rules = [Rule(str(r.get("account", "")), str(r.get("name", "*")), frozenset(r.get("actions", [])))
             for r in cfg.acl]
    authz = Authorizer(mode=mode, htpasswd=htpasswd, realm=realm, service=cfg.token_service,
                       secret=load_secret(root / "token.key") if mode == "token" else b"",
                       anonymous_pull=cfg.anonymous_pull, rules=rules)
    proxy = None
    if cfg.proxy_remote:
        proxy = Upstream(cfg.proxy_remote, cfg.proxy_username, cfg.proxy_password)
    token_path = urlparse(realm).path or "/token" if realm else "/token"
    return Registry(root, authz, read_only=cfg.read_only, proxy=proxy, token_path=token_path,
                    upload_ttl=parse_duration(cfg.upload_ttl, "--upload-ttl"), sparse_manifests=cfg.sparse_manifests)


async def serve(cfg: Config, ready: asyncio.Event | None = None) -> None:
    lock = None if cfg.read_only else write_lock(Path(cfg.root))
    reg = build(cfg)
    # 1 MiB read buffer: a 256 KiB socket read no longer pauses/resumes the transport each time
    runner = web.AppRunner(reg.app(), access_log=None, read_bufsize=1 << 20)
    await runner.setup()
    ctx = None
    if cfg.tls_cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cfg.tls_cert, cfg.tls_key)
    host, port = cfg.host_port()
    site = web.TCPSite(runner, host, port, ssl_context=ctx, backlog=512)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        reg.close()
        if lock is not None:
            os.close(lock)
