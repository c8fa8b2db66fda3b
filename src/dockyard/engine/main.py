"""dockyardd: the engine daemon. Serves the Docker Engine API; starts dockyard-containerd if none runs."""

from __future__ import annotations

import argparse
import asyncio
import grp
import logging
import os
import socket
import ssl
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from dockyard import errors
from dockyard.daemon import PidFile, setup_logging, stop_event
from dockyard.engine import userns as userns_remap
from dockyard.engine.api import authz
from dockyard.engine.api.app import build_app
from dockyard.engine.daemon import Engine
from dockyard.engine.streams import parse_size
from dockyard.engine.supervisor import ContainerdSupervisor
from dockyard.fsmode import ROOT_DIR, private_dir
from dockyard.plugins import client, discovery

log = logging.getLogger("dockyard.engine")


def _bool_flag(value: str) -> bool:
    if value.lower() in ("1", "true", "yes"):
        return True
    if value.lower() in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value {value!r}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="dockyardd", description=__doc__)
    p.add_argument("-H", "--host", action="append", default=[], help="unix:///path to listen on (repeatable)")
    p.add_argument("--data-root", default="/var/lib/dockyard")
    p.add_argument("--exec-root", default="/run/dockyard")
    p.add_argument("--containerd", default="", help="address of a running dockyard-containerd (default: start one)")
    p.add_argument("-p", "--pidfile", default="")
    p.add_argument("--cgroup-parent", default="dockyard")
    p.add_argument("--userns-remap", default="",
                   help="user/group for user namespaces: default, USER[:GROUP] (/etc/subuid, /etc/subgid) or UID:GID")
    p.add_argument("--tls", nargs="?", const=True, default=None, type=_bool_flag,
                   help="serve tcp:// hosts over TLS (implied by --tlsverify); --tls=false serves them without "
                        "TLS, which is refused unless asked for so")
    p.add_argument("--tlsverify", action="store_true", help="TLS and require client certificates signed by the CA")
    p.add_argument("--tlscacert", default="", help="CA of trusted client certificates")
    p.add_argument("--tlscert", default="", help="server certificate")
    p.add_argument("--tlskey", default="", help="server key")
    p.add_argument("--group", default="dockyard", help="group owning the API socket (if it exists)")
    p.add_argument("-l", "--log-level", default="info")
    # the default bridge network ("none" disables it: containers then get only loopback)
    p.add_argument("-b", "--bridge-name", "--bridge", dest="bridge_name", default="dockyard0")
    p.add_argument("--bridge-subnet", "--bip", dest="bridge_subnet", default="",
                   help="subnet of the default bridge (default: a free 172.17-31.0.0/16)")
    # build contexts are streamed to disk within these limits
    p.add_argument("--build-context-limit", default="10g",
                   help="largest build context, expanded (bytes, or 512m, 10g; never more than the free disk)")
    p.add_argument("--build-context-max-files", type=int, default=200_000,
                   help="most entries in a build context (each costs the daemon ~800 bytes of memory while it builds)")
    # legacy plugins (sockets, then .spec/.json files) and authorization plugins
    p.add_argument("--plugin-dir", action="append", default=[],
                   help="directory of plugin sockets (repeatable; default /run/docker/plugins)")
    p.add_argument("--plugin-spec-dir", action="append", default=[],
                   help="directory of plugin .spec/.json files (repeatable; default /etc/docker/plugins, "
                        "/usr/lib/docker/plugins)")
    p.add_argument("--plugin-timeout", type=float, default=0.0,
                   help="seconds an unreachable plugin is retried and a call waits for its answer "
                        "(default: Docker's 30 s and 120 s)")
    p.add_argument("--insecure-registry", action="append", default=[], metavar="HOST",
                   help="registry (host[:port] or CIDR) spoken to in plain HTTP: pulls, pushes, the signature check")
    p.add_argument("--signature-policy", default="",
                   help="containers-policy.json(5) file every pull must satisfy")
    p.add_argument("--authorization-plugin", action="append", default=[],
                   help="authorization plugin asked about every API request (repeatable, asked in order)")
    p.add_argument("--experimental", action="store_true",
                   help="enable experimental features (build --squash); /info ExperimentalBuild, /version Experimental")
    return p.parse_args(argv)


def socket_alive(path: Path) -> bool:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        s.close()


def start_containerd(data_root: Path, exec_root: Path, address: Path, log_level: str) -> subprocess.Popen[bytes]:
    exe = Path(sys.executable).parent / "dockyard-containerd"
    cmd = [str(exe) if exe.exists() else "dockyard-containerd", "--root", str(data_root / "containerd"),
           "--state", str(exec_root / "containerd"), "--address", str(address), "--log-level", log_level]
    log.info("starting %s", " ".join(cmd))
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 20
    while not socket_alive(address):
        if proc.poll() is not None:
            raise errors.Unavailable(f"dockyard-containerd exited with {proc.returncode}; see "
                                     f"{exec_root / 'containerd' / 'containerd.log'}")
        if time.monotonic() > deadline:
            proc.terminate()
            raise errors.Unavailable("dockyard-containerd did not come up within 20s")
        time.sleep(0.02)
    return proc


def engine_id(data_root: Path) -> str:
    path = data_root / "engine-id"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        value = str(uuid.uuid4())
        path.write_text(value + "\n")
        return value


def tls_context(args: argparse.Namespace) -> Any:
    """Server TLS as dockerd's --tls/--tlsverify: with --tlsverify, a client certificate from the CA is required."""
    if not (args.tls or args.tlsverify):
        return None
    if not (args.tlscert and args.tlskey):
        raise errors.InvalidArgument("--tls/--tlsverify need --tlscert and --tlskey")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(args.tlscert, args.tlskey)
    if args.tlsverify:
        if not args.tlscacert:
            raise errors.InvalidArgument("--tlsverify needs --tlscacert")
        ctx.load_verify_locations(args.tlscacert)
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def check_hosts(args: argparse.Namespace) -> None:
    """Before anything starts: every -H is unix:// or tcp://, and a tcp:// one without TLS only when
    asked for with --tls=false (dockerd too refuses unauthenticated TCP since v27)."""
    for host in args.host:
        if not host.startswith(("unix://", "tcp://")):
            raise errors.InvalidArgument(f"unsupported host {host!r}: unix:// or tcp://")
        if host.startswith("tcp://") and not (args.tls or args.tlsverify) and args.tls is not False:
            raise errors.InvalidArgument(
                f"refusing to serve the API on {host} without TLS: anyone who can reach it is root on this host. "
                "Use --tlsverify with --tlscacert, --tlscert and --tlskey, or --tls=false to serve it "
                "unauthenticated anyway")


async def _serve_tcp(runner: Any, host: str, args: argparse.Namespace) -> None:
    u = urlsplit(host)
    ctx = tls_context(args)
    port = u.port or (2376 if ctx else 2375)
    if ctx is None:  # --tls=false (check_hosts)
        log.warning("API on %s without TLS (--tls=false): anyone who can reach it is root on this host", host)
    await web.TCPSite(runner, u.hostname or "127.0.0.1", port, ssl_context=ctx).start()
    log.info("API listening on tcp://%s:%d%s", u.hostname, port, " (mutual TLS)" if args.tlsverify else
             " (TLS)" if ctx else "")


async def serve(args: argparse.Namespace, containerd_address: str, supervisor: ContainerdSupervisor | None) -> None:
    watch = asyncio.create_task(supervisor.watch()) if supervisor else None
    try:
        await _serve(args, containerd_address)
    finally:
        if watch is not None:  # before containerd is stopped: its exit then is no crash
            watch.cancel()
            await asyncio.gather(watch, return_exceptions=True)


def _configure_plugins(eng: Any, args: argparse.Namespace) -> None:
    reg = eng.plugins
    reg.socket_dirs = [Path(d) for d in args.plugin_dir or discovery.SOCKET_DIRS]
    reg.spec_dirs = [Path(d) for d in args.plugin_spec_dir or discovery.SPEC_DIRS]
    reg.retry_window = args.plugin_timeout or client.RETRY_WINDOW
    reg.request_timeout = args.plugin_timeout or client.REQUEST_TIMEOUT
    eng.insecure_registries = list(args.insecure_registry)
    eng.experimental = bool(args.experimental)
    if args.signature_policy:
        # lazy: 26 ms of CPU on every dockyardd start (trust.policy and cryptography, measured); a policy is optional
        from dockyard.trust.policy import Policy

        eng.images.signature_policy = Policy.load(Path(args.signature_policy))


async def _restore_plugins(eng: Any) -> None:
    """Enabled managed plugins run again (a plugin that fails is logged and left disabled)."""
    try:
        await eng.managed_plugins.restore()
    except errors.DockyardError as err:
        log.error("managed plugins: %s", err)


async def _serve(args: argparse.Namespace, containerd_address: str) -> None:
    eng = Engine(Path(args.data_root), Path(args.exec_root), containerd_address, args.cgroup_parent)
    eng.userns_remap = userns_remap.parse(args.userns_remap)
    if eng.userns_remap:
        eng.volumes.driver.owner = (eng.userns_remap.uid, eng.userns_remap.gid)
    eng.engine_id = engine_id(Path(args.data_root))
    eng.build_context_limit = parse_size(args.build_context_limit)
    eng.build_context_max_files = args.build_context_max_files
    _configure_plugins(eng, args)
    eng.networks.configure(args.bridge_name, args.bridge_subnet)  # bridges and rules back before readopt
    await eng.networks.start()
    await eng.readopt()
    await _restore_plugins(eng)
    # IPAM plugins that asked for it (RequiresRequestReplay) hear their pools again, managed ones running by now
    await asyncio.to_thread(eng.networks.remote.replay, eng.networks.networks, eng.networks.endpoints)
    # handler_cancellation: a client that hangs up (Ctrl-C on `docker wait`) must not leave its
    # handler waiting forever; state-changing engine calls shield themselves from it.
    app = build_app(eng)
    authz.install(app, eng.plugins, args.authorization_plugin)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, handler_cancellation=True,
                           shutdown_timeout=2.0)
    await runner.setup()
    hosts = args.host or [f"unix://{Path(args.exec_root) / 'dockyard.sock'}"]
    paths = []
    for host in hosts:
        if host.startswith("tcp://"):
            await _serve_tcp(runner, host, args)
            continue
        if not host.startswith("unix://"):
            raise errors.InvalidArgument(f"unsupported host {host!r}: unix:// or tcp://")
        path = Path(host.removeprefix("unix://"))
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            if socket_alive(path):
                raise errors.AlreadyExists(f"{path}: another daemon is listening there")
            path.unlink()
        await web.UnixSite(runner, str(path)).start()
        try:
            os.chown(path, 0, grp.getgrnam(args.group).gr_gid)
        except KeyError:
            pass
        os.chmod(path, 0o660)
        paths.append(path)
        log.info("API listening on %s", path)
    await stop_event().wait()
    log.info("shutting down (containers keep running: live-restore)")
    await runner.cleanup()
    await eng.close()
    for path in paths:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def make_roots(data_root: Path, exec_root: Path, group: str) -> None:
    """The roots 0710 as dockerd makes them (also on an existing root): no other host user may
    traverse to a container's config, logs or rootfs. The exec root holds the default API
    socket, so the socket's group may traverse it."""
    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        gid = 0
    private_dir(data_root, ROOT_DIR)
    private_dir(exec_root, ROOT_DIR, gid=gid)
    for sub in (data_root / "containers", exec_root / "containers"):
        private_dir(sub)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data_root, exec_root = Path(args.data_root), Path(args.exec_root)
    make_roots(data_root, exec_root, args.group)
    setup_logging(exec_root / "dockyardd.log", args.log_level)
    supervisor: ContainerdSupervisor | None = None
    try:
        check_hosts(args)
        with PidFile(Path(args.pidfile) if args.pidfile else exec_root / "dockyardd.pid", "dockyardd"):
            address = Path(args.containerd) if args.containerd else exec_root / "containerd.sock"
            if args.containerd:  # someone else's to run and supervise
                if not socket_alive(address):
                    raise errors.Unavailable(f"dockyard-containerd at {address} is not reachable")
            else:
                supervisor = ContainerdSupervisor(
                    lambda: start_containerd(data_root, exec_root, address, args.log_level),
                    exec_root / "containerd" / "dockyard-containerd.pid", lambda: socket_alive(address))
                supervisor.start_or_adopt()
            asyncio.run(serve(args, str(address), supervisor))
    except errors.DockyardError as err:
        log.error("%s", err)
        return 1
    finally:
        if supervisor is not None:
            supervisor.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
