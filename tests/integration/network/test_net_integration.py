"""Networks and volumes on the real kernel, through the real docker CLI against a private dockyardd.

One daemon for the module with its own bridge name and a random /24 under
10.213.0.0/16; traffic stays on loopback and the bridges made here. The module
checks at the end that ``nft list ruleset`` is exactly what it was before.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import Daemon

pytestmark = pytest.mark.root
DOCKER = "/usr/local/bin/docker" if os.path.exists("/usr/local/bin/docker") else shutil.which("docker")
HTTPD = 'mkdir -p /www && echo "$TOKEN" >/www/index.html && exec httpd -f -p 80 -h /www'
FETCH = ('i=0; while [ $i -lt 40 ]; do out=$(printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 2 "$HOST" 80 2>/dev/null); '
         'case "$out" in *" 200 OK"*) printf "%s\\n" "$out" | tail -n 1; exit 0 ;; esac; i=$((i+1)); sleep 0.25; '
         'done; exit 1')


def _ruleset() -> str:
    """The ruleset without the tables of other dockyardd's (other test sessions may run at the same time)
    and without rule counters (traffic of anything else on the host moves those)."""
    out = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True, check=True).stdout
    out = re.sub(r"counter packets \d+ bytes \d+", "counter", out)
    tables, keep = out.split("\ntable "), []
    for i, t in enumerate(tables):
        if not (t if i else t.removeprefix("table ")).startswith("ip dockyard-"):
            keep.append(t)
    return "\ntable ".join(keep)


def _our_table_gone(d: Daemon) -> bool:
    import hashlib

    table = "dockyard-" + hashlib.sha256(str(d.data_root).encode()).hexdigest()[:8]
    return table not in subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout


def _free_subnet() -> str:
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
    for _ in range(50):
        third = random.randint(1, 254)
        if f"10.213.{third}." not in routes:
            return f"10.213.{third}.0/24"
    raise RuntimeError("no free 10.213.x.0/24")


@pytest.fixture(scope="module")
def net_daemon(busybox_tar: Path) -> Iterator[Daemon]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    before = _ruleset()
    d = Daemon(Path(tempfile.mkdtemp(prefix="dyn-", dir="/tmp")))
    bridge = "dyt" + uuid.uuid4().hex[:8]
    d.extra_args = ["--bridge-name", bridge, "--bridge-subnet", _free_subnet()]
    try:
        d.start()
        r = d.cli("import", "-c", 'CMD ["sh"]', str(busybox_tar), "busybox:latest")
        assert r.returncode == 0, r.stderr.decode()
        yield d
    finally:
        d.cleanup()
        links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
        assert bridge not in links
        assert _our_table_gone(d)
        assert _ruleset() == before, "nft ruleset changed by the network tests"


@pytest.fixture(scope="module")
def docker(net_daemon: Daemon, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., subprocess.CompletedProcess[str]]:
    assert DOCKER, "the docker CLI is part of this machine; install docker.io if it is missing"
    env = {**os.environ, "DOCKER_HOST": net_daemon.host, "DOCKER_CONFIG": str(tmp_path_factory.mktemp("dcfg"))}

    def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([DOCKER, *args], capture_output=True, text=True, env=env, timeout=timeout)
    return run


def _name(kind: str) -> str:
    return f"nt-{kind}-{uuid.uuid4().hex[:6]}"


def test_name_and_alias_resolve_on_a_user_network(docker) -> None:  # type: ignore[no-untyped-def]
    net, web = _name("net"), _name("web")
    assert docker("network", "create", net).returncode == 0
    try:
        r = docker("run", "-d", "--name", web, "--network", net, "--network-alias", "www", "-e", "TOKEN=by-name",
                   "busybox", "sh", "-c", HTTPD)
        assert r.returncode == 0, r.stderr
        for host in (web, "www"):
            r = docker("run", "--rm", "--network", net, "-e", f"HOST={host}", "busybox", "sh", "-c", FETCH)
            assert (r.returncode, r.stdout.strip()) == (0, "by-name"), r.stderr
        inspect = docker("network", "inspect", "-f", "{{range .Containers}}{{.Name}} {{end}}", net)
        assert web in inspect.stdout
    finally:
        docker("rm", "-f", web)
        assert docker("network", "rm", net).returncode == 0


def test_two_user_networks_cannot_reach_each_other(docker) -> None:  # type: ignore[no-untyped-def]
    a, b, web = _name("a"), _name("b"), _name("web")
    docker("network", "create", a)
    docker("network", "create", b)
    try:
        assert docker("run", "-d", "--name", web, "--network", a, "-e", "TOKEN=x", "busybox", "sh", "-c",
                      HTTPD).returncode == 0
        ip = docker("inspect", "-f", f"{{{{(index .NetworkSettings.Networks \"{a}\").IPAddress}}}}", web).stdout.strip()
        assert ip.startswith(("10.", "172.", "192.168."))
        same = docker("run", "--rm", "--network", a, "-e", f"HOST={ip}", "busybox", "sh", "-c", FETCH)
        assert same.returncode == 0, same.stderr
        other = docker("run", "--rm", "--network", b, "busybox", "sh", "-c",
                       f'printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 2 {ip} 80 || echo REFUSED')
        assert "200 OK" not in other.stdout and "REFUSED" in other.stdout
    finally:
        docker("rm", "-f", web)
        docker("network", "rm", a, b)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_published_port_answers_on_loopback_and_a_taken_port_fails(docker) -> None:  # type: ignore[no-untyped-def]
    web, other = _name("pub"), _name("pub2")
    port = _free_port()
    try:
        r = docker("run", "-d", "--name", web, "-p", f"127.0.0.1:{port}:80", "-e", "TOKEN=published", "busybox",
                   "sh", "-c", HTTPD)
        assert r.returncode == 0, r.stderr
        body = b""
        for _ in range(40):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                    body = b"".join(iter(lambda: s.recv(4096), b""))
                if b"200 OK" in body:
                    break
            except OSError:
                pass
            import time
            time.sleep(0.25)
        assert b"published" in body
        assert docker("port", web, "80/tcp").stdout.strip() == f"127.0.0.1:{port}"
        taken = docker("run", "-d", "--name", other, "-p", f"127.0.0.1:{port}:80", "busybox", "sleep", "30")
        assert taken.returncode != 0
        assert "port is already allocated" in taken.stderr
    finally:
        docker("rm", "-f", web, other)


def test_named_volume_survives_removal_and_restart(net_daemon: Daemon, docker) -> None:  # type: ignore[no-untyped-def]
    vol = _name("vol")
    assert docker("run", "--rm", "-v", f"{vol}:/data", "busybox", "sh", "-c", "echo kept >/data/f").returncode == 0
    net_daemon.stop()
    net_daemon.start()
    r = docker("run", "--rm", "-v", f"{vol}:/data", "busybox", "cat", "/data/f")
    assert r.stdout.strip() == "kept", r.stderr
    holder = _name("hold")
    docker("create", "--name", holder, "-v", f"{vol}:/data", "busybox", "true")
    busy = docker("volume", "rm", vol)
    assert busy.returncode != 0 and "in use" in busy.stderr
    docker("rm", holder)
    assert docker("volume", "rm", vol).returncode == 0


def _ports_of(bridge: str) -> list[str]:
    brif = Path(f"/sys/class/net/{bridge}/brif")
    return sorted(os.listdir(brif)) if brif.is_dir() else []


def _eventually(pred: Callable[[], bool], timeout: float = 10.0) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_default_bridge_endpoint_is_configured_and_leaves_nothing(net_daemon: Daemon, docker) -> None:  # type: ignore[no-untyped-def]
    bridge, subnet = net_daemon.extra_args[1], net_daemon.extra_args[3]
    prefix = subnet.rsplit(".", 1)[0] + "."
    gateway = prefix + "1"
    seen = []
    for _ in range(2):
        r = docker("run", "--rm", "busybox", "sh", "-c",
                   f"ip -4 -o addr show eth0; ip route; ip link show lo; ping -c 1 -W 2 {gateway} >/dev/null && echo PING")
        assert r.returncode == 0, r.stderr
        assert f"default via {gateway} dev eth0" in r.stdout and "PING" in r.stdout and "UP" in r.stdout
        addr = [w for w in r.stdout.split() if w.startswith(prefix) and "/" in w]
        assert addr, r.stdout
        seen.append(addr[0])
    assert seen[0] != seen[1], "an address just released is handed out again at once"
    # the kernel deletes the veths with their namespaces, in the background
    assert _eventually(lambda: _ports_of(bridge) == []), _ports_of(bridge)
    assert list((net_daemon.exec_root / "netns").glob("*")) == []


def test_connect_disconnect_and_shared_namespace(docker) -> None:  # type: ignore[no-untyped-def]
    net, a, b = _name("cn"), _name("a"), _name("b")
    assert docker("network", "create", net).returncode == 0
    try:
        assert docker("run", "-d", "--name", a, "busybox", "sleep", "60").returncode == 0
        assert docker("network", "connect", net, a).returncode == 0
        r = docker("exec", a, "ip", "-4", "-o", "addr")
        assert "eth0" in r.stdout and "eth1" in r.stdout, r.stdout
        assert docker("network", "disconnect", net, a).returncode == 0
        assert "eth1" not in docker("exec", a, "ip", "-o", "link").stdout
        # b lives in a's namespace: when a stops, a's links go at once (b must not keep a freed address)
        assert docker("run", "-d", "--name", b, "--network", f"container:{a}", "busybox", "sleep", "60").returncode == 0
        assert "eth0" in docker("exec", b, "ip", "-o", "link").stdout
        assert docker("stop", "-t", "0", a).returncode == 0
        assert "eth0" not in docker("exec", b, "ip", "-o", "link").stdout
    finally:
        docker("rm", "-f", b, a)
        docker("network", "rm", net)


def test_container_network_mode_is_checked_at_start_not_create(docker) -> None:  # type: ignore[no-untyped-def]
    """dockerd creates a container that joins another's network namespace before that one runs (Compose
    v2's `network_mode: service:x` does): the donor must run when it starts, or the start is a 409."""
    donor, joiner = _name("donor"), _name("joiner")
    try:
        assert docker("create", "--name", donor, "busybox", "sleep", "60").returncode == 0
        r = docker("create", "--name", joiner, "--network", f"container:{donor}", "busybox", "sleep", "60")
        assert r.returncode == 0, r.stderr
        r = docker("start", joiner)
        assert r.returncode != 0
        assert f"cannot join network namespace of a non running container: container {donor} is created" in r.stderr
        assert _inspect(docker, "{{.State.Status}} {{.State.ExitCode}}", joiner) == "created 128"
        assert docker("start", donor).returncode == 0
        r = docker("start", joiner)
        assert r.returncode == 0, r.stderr
        donor_ip = _inspect(docker, "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", donor)
        assert donor_ip and donor_ip in docker("exec", joiner, "ip", "-4", "-o", "addr").stdout
    finally:
        docker("rm", "-f", joiner, donor)


def _inspect(docker, fmt: str, *refs: str) -> str:  # type: ignore[no-untyped-def]
    r = docker("inspect", "-f", fmt, *refs)
    assert r.returncode == 0, r.stderr
    return str(r.stdout.strip())


def test_ipv6_network_gives_endpoints_addresses_that_answer(docker) -> None:  # type: ignore[no-untyped-def]
    """docker-py's ipv6 tests: an IPv6 pool (subnet, range, gateway) next to the IPv4 one, a static
    `--ip6` at run and at connect, the addresses on eth0 with a default route, in inspect both ways."""
    net, web, late = _name("v6"), _name("web"), _name("late")
    prefix = f"2001:db8:{random.randint(1, 0xfffe):x}:"
    r = docker("network", "create", "--ipv6", "--subnet", f"{prefix}:/64", "--ip-range", f"{prefix}:/96",
               "--gateway", f"{prefix}:ffff", net)
    assert r.returncode == 0, r.stderr
    try:
        ipam = _inspect(docker, "{{.EnableIPv6}} {{range .IPAM.Config}}{{.Subnet}}/{{.Gateway}}/{{.IPRange}} {{end}}", net)
        assert ipam.startswith("true ") and f"{prefix}:/64/{prefix}:ffff/{prefix}:/96" in ipam, ipam
        assert docker("run", "-d", "--name", web, "--network", net, "--ip6", f"{prefix}:f00d", "busybox",
                      "sleep", "60").returncode == 0
        fields = "{{range .NetworkSettings.Networks}}{{.GlobalIPv6Address}}/{{.GlobalIPv6PrefixLen}} " \
                 "{{.IPv6Gateway}} {{.IPAMConfig.IPv6Address}}{{end}}"
        assert _inspect(docker, fields, web) == f"{prefix}:f00d/64 {prefix}:ffff {prefix}:f00d"
        probe = docker("run", "--rm", "--network", net, "busybox", "sh", "-c",
                       f"ip -6 route | grep -q 'default via {prefix}:ffff' && ping6 -c1 -W3 {prefix}:ffff "
                       f">/dev/null && ping6 -c1 -W3 {prefix}:f00d >/dev/null && ip -6 -o addr show eth0")
        assert probe.returncode == 0, probe.stdout + probe.stderr
        assert f"inet6 {prefix}:" in probe.stdout  # the dynamic one, from the range
        hosts = docker("exec", web, "cat", "/etc/hosts").stdout
        assert f"{prefix}:f00d\t" in hosts, hosts  # its own name on its IPv6 address too, as libnetwork
        aaaa = docker("run", "--rm", "--network", net, "busybox", "nslookup", "-type=AAAA", web)
        assert f"{prefix}:f00d" in aaaa.stdout, aaaa.stdout + aaaa.stderr  # the embedded DNS answers AAAA
        listed = _inspect(docker, "{{range .Containers}}{{.Name}}={{.IPv6Address}} {{end}}", net)
        assert f"{web}={prefix}:f00d/64" in listed
        assert docker("run", "-d", "--name", late, "busybox", "sleep", "60").returncode == 0
        r = docker("network", "connect", "--ip6", f"{prefix}:beef", net, late)
        assert r.returncode == 0, r.stderr
        assert _inspect(docker, f'{{{{(index .NetworkSettings.Networks "{net}").GlobalIPv6Address}}}}',
                        late) == f"{prefix}:beef"
        addrs = docker("exec", late, "ip", "-6", "-o", "addr")
        assert f"inet6 {prefix}:beef/64" in addrs.stdout, addrs.stdout + addrs.stderr
    finally:
        docker("rm", "-f", web, late)
        assert docker("network", "rm", net).returncode == 0


def test_ipv6_address_on_a_network_without_ipv6_is_refused(docker) -> None:  # type: ignore[no-untyped-def]
    net, c = _name("v4"), _name("c")
    assert docker("network", "create", net).returncode == 0
    try:
        r = docker("run", "--rm", "--name", c, "--network", net, "--ip6", "2001:db8::5", "busybox", "true")
        assert r.returncode != 0 and "IPv6" in r.stderr, r.stderr
        r = docker("network", "create", "--subnet", "2001:db8:77::/64", _name("nov6"))
        assert r.returncode != 0 and "EnableIPv6" in r.stderr, r.stderr
    finally:
        docker("rm", "-f", c)
        assert docker("network", "rm", net).returncode == 0


def test_auxiliary_addresses_are_shown_and_never_allocated(docker) -> None:  # type: ignore[no-untyped-def]
    net, c = _name("aux"), _name("c")
    base = _free_subnet().rsplit(".", 1)[0]  # a /29 in a free /24: .1 gateway, hosts .2 to .6
    r = docker("network", "create", "--subnet", f"{base}.0/29", "--aux-address", f"a={base}.2",
               "--aux-address", f"b={base}.3", net)
    assert r.returncode == 0, r.stderr
    try:
        assert _inspect(docker, "{{range .IPAM.Config}}{{json .AuxiliaryAddresses}}{{end}}", net) == \
            f'{{"a":"{base}.2","b":"{base}.3"}}'
        assert docker("run", "-d", "--name", c, "--network", net, "busybox", "sleep", "60").returncode == 0
        assert _inspect(docker, "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", c) == f"{base}.4"
        r = docker("run", "--rm", "--network", net, "--ip", f"{base}.3", "busybox", "true")
        assert r.returncode != 0 and "in use" in r.stderr, r.stderr
    finally:
        docker("rm", "-f", c)
        assert docker("network", "rm", net).returncode == 0


def test_endpoint_link_alias_resolves_for_the_linking_container_only(docker) -> None:  # type: ignore[no-untyped-def]
    """`--link up:bar` on a user network: EndpointSettings.Links, and `bar` a name only that container's DNS
    queries resolve (the target may start after it)."""
    net, linker, up = _name("net"), _name("linker"), _name("up")
    assert docker("network", "create", net).returncode == 0
    try:
        r = docker("run", "-d", "--name", linker, "--network", net, "--link", f"{up}:bar", "busybox", "sleep", "60")
        assert r.returncode == 0, r.stderr
        assert _inspect(docker, "{{range .NetworkSettings.Networks}}{{json .Links}}{{end}}", linker) == \
            f'["{up}:bar"]'
        assert docker("run", "-d", "--name", up, "--network", net, "busybox", "sleep", "60").returncode == 0
        up_ip = _inspect(docker, "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", up)
        found = docker("exec", linker, "nslookup", "bar")
        assert found.returncode == 0 and up_ip in found.stdout, found.stdout + found.stderr
        other = docker("run", "--rm", "--network", net, "busybox", "nslookup", "bar")
        assert up_ip not in other.stdout
    finally:
        docker("rm", "-f", linker, up)
        assert docker("network", "rm", net).returncode == 0


def test_domainname_is_set_and_the_full_name_resolves(docker) -> None:  # type: ignore[no-untyped-def]
    """`--domainname`: the UTS namespace's domain name, and /etc/hosts "IP host.domain host" (libnetwork's
    entry), so the container's own full name resolves."""
    r = docker("run", "--rm", "--hostname", "web", "--domainname", "example.test", "busybox", "sh", "-c",
               "cat /proc/sys/kernel/domainname; hostname; tail -n 1 /etc/hosts; "
               "ping -c1 -W2 web.example.test >/dev/null && ping -c1 -W2 web >/dev/null && echo resolved")
    assert r.returncode == 0, r.stderr
    domain, host, entry, resolved = r.stdout.strip().splitlines()
    assert (domain, host, resolved) == ("example.test", "web", "resolved")
    assert entry.split()[1:] == ["web.example.test", "web"]


def test_a_containers_hostname_is_one_of_its_dns_names(docker) -> None:  # type: ignore[no-untyped-def]
    """moby's DNSNames: name, aliases, short ID and the hostname; the embedded DNS answers each."""
    net, c = _name("net"), _name("c")
    assert docker("network", "create", net).returncode == 0
    try:
        assert docker("run", "-d", "--name", c, "--network", net, "--hostname", "webhost", "busybox",
                      "sleep", "60").returncode == 0
        names = _inspect(docker, "{{range .NetworkSettings.Networks}}{{json .DNSNames}}{{end}}", c)
        assert '"webhost"' in names and f'"{c}"' in names, names
        ip = _inspect(docker, "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", c)
        own = docker("exec", c, "nslookup", "webhost")
        other = docker("run", "--rm", "--network", net, "busybox", "nslookup", "webhost")
        assert ip in own.stdout and ip in other.stdout, own.stdout + other.stdout
    finally:
        docker("rm", "-f", c)
        assert docker("network", "rm", net).returncode == 0
