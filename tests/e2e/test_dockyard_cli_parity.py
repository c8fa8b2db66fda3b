"""``dockyard`` against the docker CLI (/usr/bin/docker, 20.10) on one daemon: the same bytes for the
read commands (a golden test, times made equal by asking again), and what daily use needs: a missing
image pulled by run, ps ports, stats streaming, terminals under a pty."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import random
import re
import select
import shutil
import signal
import struct
import subprocess
import tempfile
import termios
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import BIN, Daemon, started_daemon

pytestmark = pytest.mark.root

DOCKER = "/usr/bin/docker"  # docker.io 20.10: the client the output must match
DOCKYARD = str(BIN / "dockyard")
REGISTRY_BIN = "/usr/bin/docker-registry"


@pytest.fixture(scope="module")
def d(busybox_tar: Path) -> Iterator[Daemon]:
    with started_daemon(busybox_tar, "dyp", "10.216") as daemon:
        yield daemon


def cli(binary: str, d: Daemon, *args: str, env: dict[str, str] | None = None,
        timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([binary, "-H", d.host, *args], capture_output=True, timeout=timeout,
                          env={**os.environ, "DOCKER_CONFIG": "/nonexistent-config", **(env or {})})


def ok(r: subprocess.CompletedProcess[bytes]) -> str:
    assert r.returncode == 0, r.stderr.decode() + r.stdout.decode()
    return r.stdout.decode()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def state(d: Daemon) -> dict[str, str]:
    """Containers (running with ports, exited with output), volumes, a network."""
    p1, p2 = random.randint(20000, 25000), random.randint(25001, 30000)
    # One label: docker prints a map in Go's random order.
    ok(cli(DOCKYARD, d, "run", "-d", "--name", "gweb", "-l", "a=1", "-p", f"{p1}:80",
           "-p", f"{p2}-{p2 + 2}:{p2}-{p2 + 2}/udp", "-p", f"127.0.0.1:{p1 + 1}:7000", "busybox", "sleep", "600"))
    ok(cli(DOCKYARD, d, "run", "--name", "gexit", "busybox", "sh", "-c", "echo out; echo err >&2; exit 0"))
    for v in ("gvol1", "gvol10", "gvol2"):
        ok(cli(DOCKYARD, d, "volume", "create", v))
    ok(cli(DOCKYARD, d, "network", "create", "gnet"))
    return {"p1": str(p1), "p2": str(p2)}


def same(d: Daemon, *args: str, tries: int = 3) -> None:
    """Both CLIs give the same stdout, stderr and exit code (``docker`` read as ``dockyard``);
    asked again when a humanized time moved between the two runs."""
    for _ in range(tries):
        want = cli(DOCKER, d, *args)
        got = cli(DOCKYARD, d, *args)
        norm = [(r.stdout.decode().replace("docker", "dockyard"), r.stderr.decode().replace("docker", "dockyard"),
                 r.returncode) for r in (want, got)]
        if norm[0] == norm[1]:
            return
        time.sleep(0.3)
    # Under load a run of each CLI takes over a second, so "5 seconds ago" may never be the same
    # twice in a row: then the same text with the seconds (and the padding they move) left out.
    assert [_unclocked(n) for n in norm[1]] == [_unclocked(n) for n in norm[0]], \
        f"dockyard {' '.join(args)} differs from docker"


def _unclocked(value: str | int) -> str | int:
    if isinstance(value, int):
        return value
    return re.sub(r" {2,}", "  ", re.sub(r"\b\d+ seconds\b", "N seconds", value))


READS = [
    ("ps",), ("ps", "-a"), ("ps", "-a", "--no-trunc"), ("ps", "-a", "-s"), ("ps", "-q"),
    ("ps", "-a", "--format", "table {{.Names}}\t{{.Ports}}\t{{.Labels}}\t{{.Status}}"),
    ("ps", "-a", "--filter", "status=exited", "--format", "{{.ID}} {{.Command}} {{.State}}"),
    ("images",), ("images", "--digests"), ("images", "-q"), ("images", "--format", "{{.Repository}}:{{.Tag}} {{.Size}}"),
    ("network", "ls"), ("network", "ls", "--no-trunc"), ("network", "ls", "-q"),
    ("volume", "ls"), ("volume", "ls", "-q"),
    ("history", "busybox"), ("history", "--no-trunc", "busybox"), ("history", "-q", "busybox"),
    ("inspect", "--format", "{{.State.Status}} {{json .Config.Cmd}} {{.Config.Labels}} {{.Name}}", "gweb"),
    ("inspect", "-f", "{{range $k, $v := .NetworkSettings.Ports}}{{$k}}={{(index $v 0).HostPort}} {{end}}", "gweb"),
    ("inspect", "-f", "{{if .State.Running}}up{{else}}down {{.State.ExitCode}}{{end}}", "gexit", "gweb"),
    ("inspect", "--format", "{{.Id}}", "busybox"),
    ("version", "--format", "{{.Server.Version}} {{.Server.APIVersion}} {{.Server.Os}}/{{.Server.Arch}}"),
    ("info", "--format", "{{.NCPU}} {{.Driver}} {{.Containers}}"),
    ("network", "inspect", "-f", "{{.Name}} {{.Driver}} {{.Scope}}", "gnet"),
    ("volume", "inspect", "-f", "{{.Name}} {{.Driver}}", "gvol1"),
    ("logs", "gexit"), ("logs", "--tail", "1", "gexit"), ("top", "gweb"),
    ("stats", "--no-stream", "--format", "table {{.Name}}\t{{.PIDs}}", "gweb"),
    ("system", "df"), ("system", "df", "-v"), ("history", "--human=false", "busybox"),
    ("ps", "-a", "--size", "--format", "{{.Names}} {{.Size}}"),
]
FAILURES = [
    ("inspect", "nosuch"), ("rm", "nosuch"), ("rmi", "nosuch"), ("network", "rm", "nosuch"),
    ("volume", "inspect", "nosuch"), ("logs", "nosuch"), ("inspect", "--format", "{{.Foo}}", "gweb"),
    ("ps", "--format", "{{.Foo}}"), ("images", "--format", "{{foo}}"), ("version", "--format", "{{.Foo}}"),
    ("run", "-m", "12qb", "busybox"), ("run", "--cpus", "abc", "busybox"), ("run", "--x", "busybox"),
    ("ps", "extra"), ("rm",), ("network", "ls", "--x"), ("history", "--human=maybe", "busybox"),
    ("builder", "prune", "--x"),
]


@pytest.mark.parametrize("args", READS, ids=lambda a: " ".join(a))
def test_read_commands_give_dockers_bytes(d: Daemon, state: dict[str, str], args: tuple[str, ...]) -> None:
    same(d, *args)


@pytest.mark.parametrize("args", FAILURES, ids=lambda a: " ".join(a))
def test_failing_input_gives_dockers_message_and_exit_code(d: Daemon, state: dict[str, str],
                                                           args: tuple[str, ...]) -> None:
    same(d, *args)


def test_port_and_events_as_docker_prints_them(d: Daemon, state: dict[str, str]) -> None:
    # docker 20.10 lists `port` in Go's map order: the same lines, sorted.
    assert sorted(ok(cli(DOCKYARD, d, "port", "gweb")).splitlines()) == \
        sorted(ok(cli(DOCKER, d, "port", "gweb")).splitlines())
    since, until = str(int(time.time()) - 3600), str(int(time.time()))
    same(d, "events", "--since", since, "--until", until)
    same(d, "events", "--since", since, "--until", until, "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}")


def test_ps_ports_as_docker_20_10_shows_them(d: Daemon, state: dict[str, str]) -> None:
    p1, p2 = int(state["p1"]), int(state["p2"])
    ports = ok(cli(DOCKYARD, d, "ps", "--filter", "name=gweb", "--format", "{{.Ports}}")).strip()
    # -p without a host address publishes on 0.0.0.0 and [::] (dockerd's default), 20.10 writes :::P
    assert ports == (f"0.0.0.0:{p2}-{p2 + 2}->{p2}-{p2 + 2}/udp, :::{p2}-{p2 + 2}->{p2}-{p2 + 2}/udp, "
                     f"0.0.0.0:{p1}->80/tcp, :::{p1}->80/tcp, 127.0.0.1:{p1 + 1}->7000/tcp")
    assert ports == ok(cli(DOCKER, d, "ps", "--filter", "name=gweb", "--format", "{{.Ports}}")).strip()
    header = ok(cli(DOCKYARD, d, "ps", "-s")).splitlines()[0]
    assert header.split()[-1] == "SIZE" and "PORTS" in header


# -- a missing image is pulled ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def registry() -> Iterator[str]:
    if not os.path.exists(REGISTRY_BIN):
        pytest.fail("docker-registry is not installed: apt-get install -y docker-registry")
    base = Path(tempfile.mkdtemp(prefix="dy-creg-"))
    host = f"127.0.0.1:{free_port()}"
    (base / "config.yml").write_text(f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: "
                                     f"{base / 'data'}\nhttp:\n  addr: {host}\n")
    proc = subprocess.Popen([REGISTRY_BIN, "serve", str(base / "config.yml")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"http://{host}/v2/", timeout=1)
                break
            except (OSError, urllib.error.URLError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("docker-registry did not start") from None
                time.sleep(0.05)
        yield host
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(base, ignore_errors=True)


def test_run_pulls_a_missing_image_as_docker_does(d: Daemon, registry: str) -> None:
    ref = f"{registry}/cli/bb:1"
    ok(cli(DOCKYARD, d, "tag", "busybox", ref))
    ok(cli(DOCKYARD, d, "push", ref))
    ok(cli(DOCKYARD, d, "rmi", ref))
    never = cli(DOCKYARD, d, "run", "--rm", "--pull", "never", ref, "true")
    assert never.returncode == 125 and b"No such image" in never.stderr
    r = cli(DOCKYARD, d, "run", "--rm", ref, "echo", "pulled")
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == b"pulled\n"
    err = r.stderr.decode().splitlines()
    assert err[0] == f"Unable to find image '{ref}' locally"
    assert any(line.startswith("Status: Downloaded newer image for") for line in err)
    assert ok(cli(DOCKYARD, d, "images", "-q", ref)).strip()
    ok(cli(DOCKYARD, d, "rmi", ref))
    cid = ok(cli(DOCKYARD, d, "create", ref)).strip()  # create pulls too
    ok(cli(DOCKYARD, d, "rm", cid))
    r = cli(DOCKYARD, d, "create", "--pull", "always", ref)  # pulls although present
    assert r.returncode == 0 and b"Pulling from" in r.stderr or b"Image is up to date" in r.stderr, r.stderr
    ok(cli(DOCKYARD, d, "rm", r.stdout.decode().strip()))
    ok(cli(DOCKYARD, d, "rmi", ref))


# -- stats ------------------------------------------------------------------------------------------


def test_stats_streams_until_stopped_and_no_stream_prints_once(d: Daemon, state: dict[str, str]) -> None:
    proc = subprocess.Popen([DOCKYARD, "-H", d.host, "stats", "gweb"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        time.sleep(2.5)
        assert proc.poll() is None, "stats ended by itself"
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    frames = out.decode().split("\x1b[2J\x1b[H")
    assert len([f for f in frames if f.startswith("CONTAINER ID")]) >= 2, out.decode()
    lines = frames[-1].splitlines()
    assert lines[0].index("NAME") == lines[1].index("gweb")  # header and row aligned
    once = ok(cli(DOCKYARD, d, "stats", "--no-stream", "gweb"))
    assert once.count("CONTAINER ID") == 1 and "\x1b[2J" not in once


# -- terminals --------------------------------------------------------------------------------------


def under_pty(argv: list[str], rows: int = 37, cols: int = 111, send: list[tuple[float, bytes]] | None = None,
              timeout: float = 60) -> tuple[bytes, int]:
    """Run argv on a new pty of rows x cols (TIOCSWINSZ); everything it wrote, its exit code."""
    pid, fd = pty.fork()
    if pid == 0:
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        os.execvp(argv[0], argv)
    out = b""
    start = time.monotonic()
    pending = list(send or [])
    status: int | None = None
    try:
        while time.monotonic() - start < timeout:
            if pending and time.monotonic() - start >= pending[0][0]:
                os.write(fd, pending.pop(0)[1])
            r, _, _ = select.select([fd], [], [], 0.1)
            if r:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    break
                if not data:
                    break
                out += data
            if status is None:
                done, st = os.waitpid(pid, os.WNOHANG)
                status = st if done else None
            if status is not None and not r:
                return out, os.waitstatus_to_exitcode(status)
        else:
            os.kill(pid, signal.SIGKILL)
    finally:
        os.close(fd)
    if status is None:
        _, status = os.waitpid(pid, 0)
    return out, os.waitstatus_to_exitcode(status)


def test_run_it_has_the_callers_size_and_no_doubled_carriage_returns(d: Daemon) -> None:
    out, code = under_pty([DOCKYARD, "-H", d.host, "run", "-it", "--rm", "busybox", "stty", "size"])
    assert code == 0 and out == b"37 111\r\n"
    out, code = under_pty([DOCKYARD, "-H", d.host, "run", "-it", "--rm", "busybox", "sh", "-c", "echo a; echo b"])
    assert code == 0 and out == b"a\r\nb\r\n"


def test_exec_it_has_the_callers_size(d: Daemon, state: dict[str, str]) -> None:
    out, code = under_pty([DOCKYARD, "-H", d.host, "exec", "-it", "gweb", "stty", "size"], rows=51, cols=73)
    assert code == 0 and out == b"51 73\r\n"


def test_the_terminal_is_restored_after_run_it(d: Daemon) -> None:
    script = f"{DOCKYARD} -H {d.host} run -it --rm busybox true; stty -a"
    out, code = under_pty(["sh", "-c", script])
    assert code == 0
    settings = out.decode().split()
    assert "icanon" in settings and "echo" in settings and "opost" in settings, out


def test_detach_keys_leave_the_container_running(d: Daemon) -> None:
    out, code = under_pty([DOCKYARD, "-H", d.host, "run", "-it", "--name", "gdetach", "--detach-keys", "ctrl-x,x",
                           "busybox", "sh"], send=[(1.5, b"\x18x")], timeout=30)
    try:
        assert code == 0, out
        assert ok(cli(DOCKYARD, d, "inspect", "-f", "{{.State.Running}}", "gdetach")).strip() == "true"
    finally:
        cli(DOCKYARD, d, "rm", "-f", "gdetach")


def test_contexts_are_shared_with_the_docker_cli(d: Daemon, tmp_path: Path) -> None:
    env = {"DOCKER_CONFIG": str(tmp_path), "DOCKER_HOST": ""}
    run = [DOCKYARD, "context", "create", "dy", "--docker", f"host={d.host}"]
    assert subprocess.run(run, env={**os.environ, **env}, capture_output=True).returncode == 0
    for binary in (DOCKYARD, DOCKER):
        r = subprocess.run([binary, "--context", "dy", "version", "--format", "{{.Server.APIVersion}}"],
                           env={**os.environ, **env}, capture_output=True, timeout=30)
        assert r.returncode == 0, r.stderr
    r = subprocess.run([DOCKYARD, "ps"], env={**os.environ, **env, "DOCKER_CONTEXT": "missing"},
                       capture_output=True, timeout=30)
    assert r.returncode == 1 and b'context "missing" does not exist' in r.stderr
    json.loads(subprocess.run([DOCKER, "context", "inspect", "dy"], env={**os.environ, **env},
                              capture_output=True, check=True).stdout)


# -- sizes, build cache, progress, stats following containers ---------------------------------------


def test_ps_size_is_the_writable_layer_and_the_image(d: Daemon) -> None:
    ok(cli(DOCKYARD, d, "run", "--name", "gsize", "busybox", "dd", "if=/dev/zero", "of=/big", "bs=1k", "count=300"))
    try:
        rows = json.loads(ok(cli(DOCKYARD, d, "ps", "-a", "-s", "--format", "{{json .}}", "--filter", "name=gsize"))
                          .replace("}\n{", "},{").join("[]"))
        rw, _, virtual = rows[0]["Size"].partition(" (virtual ")
        assert rw.endswith("kB") and float(rw[:-2]) >= 307 and virtual.endswith("MB)"), rows  # 319kB (virtual 1.48MB)
        api = json.loads(ok(cli(DOCKYARD, d, "system", "df", "--format", "{{json .}}")).splitlines()[1])
        assert api["Type"] == "Containers" and api["Size"] != "0B", api
    finally:
        cli(DOCKYARD, d, "rm", "-f", "gsize")


def test_system_df_shows_the_build_cache_that_builder_prune_reclaims(d: Daemon, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN dd if=/dev/zero of=/f bs=1k count=200\n")
    ok(cli(DOCKYARD, d, "build", "-q", "--no-cache", "-t", "gcache", str(tmp_path)))
    try:
        rows = {r.split()[0]: r for r in ok(cli(DOCKYARD, d, "system", "df", "--format", "{{.Type}}\t{{.Size}}"))
                .splitlines()}
        size = rows["Build"].split("\t")[1]
        assert size != "0B", rows
        verbose = ok(cli(DOCKYARD, d, "system", "df", "-v"))
        assert f"Build cache usage: {size}" in verbose
        pruned = ok(cli(DOCKYARD, d, "builder", "prune", "-f")).splitlines()
        assert pruned[0] == "Deleted build cache objects:" and pruned[-1] == f"Total reclaimed space: {size}", pruned
        rows = ok(cli(DOCKYARD, d, "system", "df", "--format", "{{.Type}} {{.TotalCount}} {{.Size}}")).splitlines()
        assert rows[-1] == "Build Cache 0 0B"
    finally:
        cli(DOCKYARD, d, "rmi", "gcache")


def test_pull_redraws_per_layer_bars_on_a_tty_and_prints_plain_lines_otherwise(d: Daemon, registry: str,
                                                                              tmp_path: Path) -> None:
    ref = f"{registry}/cli/progress:1"
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN dd if=/dev/urandom of=/r bs=1M count=16\n")
    ok(cli(DOCKYARD, d, "build", "-q", "-t", ref, str(tmp_path)))
    ok(cli(DOCKYARD, d, "push", ref))
    for binary in (DOCKYARD, DOCKER):
        ok(cli(DOCKYARD, d, "rmi", ref))
        ok(cli(DOCKYARD, d, "builder", "prune", "-af"))  # the layer's blob goes: the pull downloads it
        out, code = under_pty([binary, "-H", d.host, "pull", ref], cols=140)
        text = out.decode()
        assert code == 0, text
        bars = [line for line in text.split("\x1b[2K\r")[1:] if "MB/16.78MB" in line]  # redrawn in place
        assert bars and all(": Downloading [" in b or ": Extracting [" in b for b in bars), (binary, text)
        assert ": Pull complete" in text and text.endswith(f"{ref}\r\n"), (binary, text)
    ok(cli(DOCKYARD, d, "rmi", ref))
    ok(cli(DOCKYARD, d, "builder", "prune", "-af"))
    plain = ok(cli(DOCKYARD, d, "pull", ref))
    assert "\x1b[" not in plain and "Downloading" not in plain and ": Pull complete" in plain
    assert plain.splitlines()[-1] == ref
    assert ok(cli(DOCKYARD, d, "pull", "-q", ref)) == ref + "\n"
    ok(cli(DOCKYARD, d, "rmi", ref))


def _last_frame(out: bytes) -> list[str]:
    return out.decode().split("\x1b[2J\x1b[H")[-1].splitlines()


def test_stats_without_names_follows_started_containers_and_shows_stopped_ones_as_dashes(d: Daemon) -> None:
    ok(cli(DOCKYARD, d, "create", "--name", "gstopped", "busybox", "true"))
    follow = subprocess.Popen([DOCKYARD, "-H", d.host, "stats"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    every = subprocess.Popen([DOCKYARD, "-H", d.host, "stats", "-a"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        time.sleep(1)
        ok(cli(DOCKYARD, d, "run", "-d", "--name", "glate", "busybox", "sleep", "60"))
        time.sleep(2.5)
    finally:
        for proc in (follow, every):
            proc.send_signal(signal.SIGINT)
        outs = [proc.communicate(timeout=10)[0] for proc in (follow, every)]
        cli(DOCKYARD, d, "rm", "-f", "glate", "gstopped")
    rows = {line.split()[1]: line.split() for line in _last_frame(outs[0])[1:]}
    assert "glate" in rows and rows["glate"][2].endswith("%"), _last_frame(outs[0])
    assert "gstopped" not in rows
    rows = {line.split()[1]: line.split() for line in _last_frame(outs[1])[1:]}
    assert rows["gstopped"][2:] == ["--", "--", "/", "--", "--", "--", "--", "--"], _last_frame(outs[1])
    assert "glate" in rows
