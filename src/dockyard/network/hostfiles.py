"""The per-container /etc/hosts, /etc/resolv.conf and /etc/hostname (pure rendering, unit-tested).

They live in the container's directory and are bind-mounted in; rewriting a
file in place (not replacing it) keeps the bind mount pointing at it.
"""

from __future__ import annotations

from pathlib import Path

EMBEDDED_DNS = "127.0.0.11"


def hosts(hostname: str, addresses: list[str], extra: list[tuple[str, str]], aliases: list[str] = ()) -> str:  # type: ignore[assignment]
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback", "fe00::0\tip6-localnet",
             "ff00::0\tip6-mcastprefix", "ff02::1\tip6-allnodes", "ff02::2\tip6-allrouters"]
    lines += [f"{ip}\t{name}" for name, ip in extra]
    names = " ".join(dict.fromkeys([hostname, *aliases]))
    lines += [f"{ip}\t{names}" for ip in addresses]
    return "\n".join(lines) + "\n"


def host_resolvers(text: str) -> tuple[list[str], list[str], list[str]]:
    """(nameservers, search, options) of a resolv.conf; loopback servers are unreachable from a container."""
    servers, search, options = [], [], []
    for line in text.splitlines():
        parts = line.split()
        if not parts or parts[0].startswith(("#", ";")):
            continue
        if parts[0] == "nameserver" and len(parts) > 1 and not parts[1].startswith("127.") and parts[1] != "::1":
            servers.append(parts[1])
        elif parts[0] in ("search", "domain"):
            search = parts[1:]
        elif parts[0] == "options":
            options += parts[1:]
    return servers, search, options


def resolv_conf(host_text: str, dns: list[str], search: list[str], options: list[str], embedded: bool) -> str:
    servers, host_search, host_options = host_resolvers(host_text)
    if embedded:
        servers = [EMBEDDED_DNS]
        options = [*options, "ndots:0"] if not options else options
    elif dns:
        servers = dns
    search = search or host_search
    options = options or host_options
    out = [f"nameserver {s}" for s in servers]
    if search:
        out.append("search " + " ".join(search))
    if options:
        out.append("options " + " ".join(options))
    return "\n".join(out) + "\n"


def write_in_place(path: Path, text: str) -> None:
    with open(path, "a+") as f:
        f.seek(0)
        f.truncate()
        f.write(text)
