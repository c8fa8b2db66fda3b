"""The daemon ``docker-buildx`` talks to, chosen exactly as the docker CLI chooses it (docker/cli's
``resolveContextName``, ``resolveDefaultDockerEndpoint``, ``resolveDockerEndpoint``): the plugin is
also what a host's real ``docker build`` runs once it is linked, so it must never pick Dockyard's
own socket (nor read ``DOCKYARD_HOST``) where the docker CLI would pick ``/var/run/docker.sock``.

The context's name: ``--context``; the default one when ``-H`` or ``DOCKER_HOST`` is set; else
``DOCKER_CONTEXT``; else config.json's ``currentContext``; else the default one. The default context's
host is ``-H`` / ``DOCKER_HOST`` / ``unix:///var/run/docker.sock`` (``tcp://localhost:2376`` when TLS
is asked for), with the TLS of the flags and ``DOCKER_TLS*`` / ``DOCKER_CERT_PATH``. A named context's
host and TLS are its own, from the docker CLI's context store (``cli/context.py``), flags ignored."""

from __future__ import annotations

import os
from typing import Any

from dockyard.cli.errors import CLIError
from dockyard.client.http import Client, TLSConfig

DEFAULT = "default"
DEFAULT_HOST = "unix:///var/run/docker.sock"
DEFAULT_TLS_HOST = "tcp://localhost:2376"


def context_name(flags: dict[str, Any]) -> str:
    from dockyard.cli.config import load_config

    if flags.get("context"):
        return str(flags["context"])
    if flags.get("host") or os.environ.get("DOCKER_HOST"):
        return DEFAULT
    if os.environ.get("DOCKER_CONTEXT"):
        return os.environ["DOCKER_CONTEXT"]
    return str(load_config(flags.get("config")).get("currentContext") or DEFAULT)


def parse_host(value: str, default_to_tls: bool) -> str:
    """docker/cli's ``opts.ParseHost``: a blank host is the default one; ``h:p`` and ``tcp://h`` are
    completed with tcp and port 2375 (with TLS too, as the CLI does)."""
    value = value.strip()
    if not value:
        return DEFAULT_TLS_HOST if default_to_tls else DEFAULT_HOST
    proto, sep, rest = value.partition("://")
    if not sep:
        proto, rest = "tcp", value
    if proto == "unix":
        return f"unix://{rest or '/var/run/docker.sock'}"
    if proto == "ssh":
        return value
    if proto != "tcp":
        raise CLIError(f"invalid bind address format: {value}")
    if not rest:
        return "tcp://localhost:2375"
    host, colon, port = rest.rpartition(":") if not rest.endswith("]") else (rest, "", "")
    if not colon:
        host, port = rest, ""
    return f"tcp://{host or 'localhost'}:{port or '2375'}"


def _default_endpoint(flags: dict[str, Any]) -> Client:
    hosts = flags.get("host") or []
    if len(hosts) > 1:
        raise CLIError("specify only one -H")
    tls = TLSConfig(flags.get("tlsverify", False), flags.get("tlscacert", ""), flags.get("tlscert", ""),
                    flags.get("tlskey", ""), flags.get("tls", False))
    host = parse_host(hosts[0] if hosts else os.environ.get("DOCKER_HOST", ""), tls.enabled)
    return Client(host, tls)


def _context_endpoint(name: str, flags: dict[str, Any]) -> Client:
    """A stored context: its docker endpoint's host; TLS when it has TLS files or ``SkipTLSVerify``
    (docker/cli's ``Endpoint.tlsConfig``: the context's CA, else the system's; its cert and key)."""
    from dockyard.cli import context

    override = flags.get("config")
    try:
        docker = (context.load(name, override).get("Endpoints") or {}).get("docker") or {}
    except CLIError as err:
        raise CLIError(f"unable to resolve docker endpoint: {err}") from None
    host = docker.get("Host") or ""
    skip = bool(docker.get("SkipTLSVerify"))
    tls_path = os.path.join(context.tls_dir(name, override), "docker")
    files = {f: os.path.join(tls_path, f"{f}.pem") for f in ("ca", "cert", "key")}
    present = {f: p for f, p in files.items() if os.path.isfile(p)}
    tls = TLSConfig()
    tls.enabled = bool(present) or skip
    tls.verify = tls.enabled and not skip
    tls.cacert, tls.cert, tls.key = present.get("ca", ""), present.get("cert", ""), present.get("key", "")
    return Client(parse_host(host, False), tls)


def client_of(flags: dict[str, Any]) -> Client:
    """The daemon of the docker CLI's global flags, environment and context store."""
    if flags.get("context") and flags.get("host"):
        raise CLIError("conflicting options: cannot specify both --host and --context")
    name = context_name(flags)
    if name == DEFAULT:
        return _default_endpoint(flags)
    return _context_endpoint(name, flags)
