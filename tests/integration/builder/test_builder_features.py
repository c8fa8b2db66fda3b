"""Builder follow-ups with `dockyard build`: CMD/ENTRYPOINT, WORKDIR, --chown names, cache vs GC,
RUN --mount (cache, bind, tmpfs, secret), --network, --cache-from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Daemon

pytestmark = pytest.mark.root


def write(ctx: Path, files: dict[str, str]) -> Path:
    for name, content in files.items():
        p = ctx / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(content)
    return ctx


def build(d: Daemon, ctx: Path, *args: str, ok: bool = True) -> str:
    r = d.cli("build", "--progress", "plain", *args, str(ctx), timeout=120)
    out = r.stdout.decode() + r.stderr.decode()
    assert (r.returncode == 0) == ok, out
    return out


def run_out(d: Daemon, image: str, *cmd: str) -> str:
    r = d.cli("run", "--rm", image, *cmd, timeout=60)
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout.decode()


def inspect(d: Daemon, image: str) -> dict:
    r = d.cli("image", "inspect", image)
    assert r.returncode == 0, r.stderr.decode()
    return json.loads(r.stdout)[0]


def test_cmd_entrypoint_workdir_and_chown_names(daemon: Daemon, tmp_path: Path) -> None:
    ctx = write(tmp_path, {
        "Dockerfile": "FROM busybox\nCMD [\"own\"]\nENTRYPOINT [\"echo\"]\nWORKDIR /srv/app\n"
                      "COPY --chown=nobody:nogroup f.txt ./\nCOPY --chown=daemon f.txt /g.txt\n",
        "f.txt": "x"})
    try:
        build(daemon, ctx, "-t", "bf-meta")
        img = inspect(daemon, "bf-meta")
        assert img["Config"]["Cmd"] == ["own"] and img["Config"]["Entrypoint"] == ["echo"]
        assert run_out(daemon, "bf-meta", "sh", "-c", "ignored") == "sh -c ignored\n"
        assert run_out(daemon, "bf-meta") == "own\n"
        r = daemon.cli("run", "--rm", "--entrypoint", "stat", "bf-meta", "-c", "%u:%g %F %n",
                       "/srv/app", "/srv/app/f.txt", "/g.txt")
        assert r.stdout.decode().splitlines() == ["0:0 directory /srv/app", "65534:65534 regular file /srv/app/f.txt",
                                                  "1:1 regular file /g.txt"], r.stderr
        # ENTRYPOINT after an inherited CMD (from the base image) resets it.
        child = write(tmp_path / "c", {"Dockerfile": "FROM bf-meta\nENTRYPOINT [\"cat\"]\n"})
        build(daemon, child, "-t", "bf-child")
        assert inspect(daemon, "bf-child")["Config"]["Cmd"] is None
        bad = write(tmp_path / "bad", {"Dockerfile": "FROM busybox\nCOPY --chown=nosuchuser f /f\n", "f": "x"})
        assert "nosuchuser" in build(daemon, bad, ok=False)
    finally:
        daemon.cli("rmi", "bf-meta", "bf-child")


def test_cache_survives_gc_missing_blob_is_a_miss_and_prune_releases(daemon: Daemon, tmp_path: Path) -> None:
    ctx = write(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nRUN echo one > /one\nCOPY f /f\n", "f": "data"})
    blobs = daemon.data_root / "containerd" / "content" / "blobs" / "sha256"
    existing = set(blobs.iterdir())
    build(daemon, ctx, "-t", "bf-gc")
    layer = inspect(daemon, "bf-gc")["RootFS"]["Layers"]
    assert len(layer) >= 3
    build(daemon, write(tmp_path / "other", {"Dockerfile": "FROM busybox\nRUN echo other\n"}), "-t", "bf-gc-other")
    assert daemon.cli("rmi", "bf-gc-other").returncode == 0  # rmi runs GC: the cache roots must keep the steps
    out = build(daemon, ctx, "-t", "bf-gc")
    assert out.count("Using cache") == 2, out
    assert run_out(daemon, "bf-gc", "cat", "/one", "/f") == "one\ndata"
    # The steps go with the image they built, as dockerd's classic cache (its intermediate images).
    assert daemon.cli("rmi", "bf-gc").returncode == 0
    out = build(daemon, ctx, "-t", "bf-gc")
    assert "Using cache" not in out, out
    # A cached step whose layer blob vanished is rebuilt, never a broken image.
    # (build layers are stored as plain tars: the new blobs that are tars are the two layers)
    new_layers = [p for p in set(blobs.iterdir()) - existing if p.read_bytes()[257:262] == b"ustar"]
    assert len(new_layers) == 2
    for p in new_layers:
        p.unlink()
    out = build(daemon, ctx, "-t", "bf-gc")
    assert "Using cache" not in out, out
    assert run_out(daemon, "bf-gc", "cat", "/one", "/f") == "one\ndata"
    daemon.cli("rmi", "bf-gc")
    # A failed build's steps stay until prune, which releases their roots: then nothing of them is left.
    failing = write(tmp_path / "failing", {"Dockerfile": "FROM busybox\nRUN echo one > /one\nRUN exit 3\n"})
    assert "returned a non-zero code: 3" in build(daemon, failing, ok=False)
    assert build(daemon, failing, ok=False).count("Using cache") == 1
    before = len(list(blobs.iterdir()))
    r = daemon.cli("builder", "prune", "-f")
    assert r.returncode == 0, r.stderr
    after = len(list(blobs.iterdir()))
    assert after < before
    assert "Using cache" not in build(daemon, failing, ok=False)
    daemon.cli("builder", "prune", "-f")

def test_run_mounts_network_and_cache_from(daemon: Daemon, tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("s3cret")
    df = ("FROM busybox AS files\nRUN mkdir /data && echo staged > /data/s.txt\n"
          "FROM busybox\n"
          "RUN --mount=type=cache,target=/cache,id=bf cat /cache/n 2>/dev/null; echo \"$RANDOM\" >> /cache/n; "
          "wc -l < /cache/n > /count\n"
          "RUN --mount=type=bind,source=ctx,target=/in cat /in/a.txt > /from-ctx\n"
          "RUN --mount=type=bind,from=files,source=/data,target=/st cat /st/s.txt > /from-stage\n"
          "RUN --mount=type=tmpfs,target=/scratch grep -q '/scratch tmpfs' /proc/mounts && touch /scratch/x "
          "&& echo tmpfs-ok > /tmpfs\n"
          "RUN --mount=type=secret,id=tok cat /run/secrets/tok > /seen && test ! -e /run/secrets/tok2\n"
          "RUN --network=none sh -c 'ls /sys/class/net | tr \"\\n\" \" \"' > /net\n")
    ctx = write(tmp_path / "ctx", {"Dockerfile": df, "ctx/a.txt": "A1"})
    try:
        build(daemon, ctx, "--secret", f"id=tok,src={secret}", "-t", "bf-mounts")
        out = run_out(daemon, "bf-mounts", "cat", "/count", "/from-ctx", "/from-stage", "/tmpfs", "/seen", "/net")
        assert out == "1\nA1staged\ntmpfs-ok\ns3cretlo "
        # Mount contents stay out of the layers (the secret above all).
        assert run_out(daemon, "bf-mounts", "sh", "-c", "cat /cache/n /scratch/x /run/secrets/tok 2>/dev/null; true") \
            == ""
        # The cache dir persists: with --no-cache the RUN sees the first build's line.
        build(daemon, ctx, "--secret", f"id=tok,src={secret}", "--no-cache", "-t", "bf-mounts")
        assert run_out(daemon, "bf-mounts", "cat", "/count") == "2\n"
        # A changed bound file changes the key of the RUN that binds it, and only that one.
        (ctx / "ctx" / "a.txt").write_text("A2")
        out = build(daemon, ctx, "--secret", f"id=tok,src={secret}", "-t", "bf-mounts")
        assert out.count("Using cache") == 2, out  # stage files' RUN, the cache RUN
        assert run_out(daemon, "bf-mounts", "cat", "/from-ctx") == "A2"
        missing = write(tmp_path / "m", {"Dockerfile": "FROM busybox\nRUN --mount=type=secret,id=x,required "
                                         "true\n"})
        assert "secret x not found" in build(daemon, missing, ok=False)

        # --cache-from: a fresh cache (pruned) reuses the layers of a local image with that history.
        src = write(tmp_path / "cf", {"Dockerfile": "FROM busybox\nRUN echo slow > /s\nCOPY f /f\nCMD [\"x\"]\n",
                                      "f": "F"})
        build(daemon, src, "-t", "bf-src")
        src_id = inspect(daemon, "bf-src")["Id"]
        assert daemon.cli("builder", "prune", "-f").returncode == 0
        out = build(daemon, src, "--cache-from", "bf-src", "-t", "bf-cf")
        assert out.count("Using cache") == 3 and "Running in" not in out, out  # RUN, COPY and CMD
        cf = inspect(daemon, "bf-cf")
        assert cf["RootFS"]["Layers"] == inspect(daemon, "bf-src")["RootFS"]["Layers"]
        assert cf["Id"] != "" and src_id
        assert run_out(daemon, "bf-cf", "cat", "/s", "/f") == "slow\nF"
    finally:
        daemon.cli("rmi", "bf-mounts", "bf-src", "bf-cf")


def test_a_copy_of_unchanged_files_reuses_its_stored_layer_on_a_new_parent(daemon: Daemon, tmp_path: Path) -> None:
    """Build layers are plain tars whose digest is their diff_id: when an earlier step changes,
    a later COPY of the same files reuses the stored blob (no new layer), and the RUN after it
    still sees the files, applied onto the new parent."""
    import hashlib
    import os

    big = os.urandom(300_000)
    ctx = write(tmp_path, {"Dockerfile": "FROM busybox\nCOPY a /a\nCOPY big.bin /big.bin\n"
                                         "RUN cat /a > /seen && md5sum /big.bin > /big.md5\n"})
    (ctx / "a").write_text("first\n")
    (ctx / "big.bin").write_bytes(big)
    try:
        build(daemon, ctx, "-t", "bf-reuse")
        first = inspect(daemon, "bf-reuse")["RootFS"]["Layers"]
        (ctx / "a").write_text("second, longer\n")
        out = build(daemon, ctx, "-t", "bf-reuse")
        assert "Using cache" not in out  # every step after the changed COPY ran again
        second = inspect(daemon, "bf-reuse")["RootFS"]["Layers"]
        assert second[-3] != first[-3]  # COPY a: new content
        assert second[-2] == first[-2]  # COPY big.bin: the same layer, reused
        md5 = hashlib.md5(big).hexdigest()
        assert run_out(daemon, "bf-reuse", "cat", "/seen", "/big.md5") == f"second, longer\n{md5}  /big.bin\n"
        # --no-cache makes the same COPY layers again (same bytes, same digests), and they work
        build(daemon, ctx, "--no-cache", "-t", "bf-reuse")
        third = inspect(daemon, "bf-reuse")["RootFS"]["Layers"]
        assert third[-3:-1] == second[-3:-1]
        assert run_out(daemon, "bf-reuse", "md5sum", "/big.bin") == f"{md5}  /big.bin\n"
    finally:
        daemon.cli("rmi", "bf-reuse")


def test_a_rebuild_sends_only_changed_files_and_never_misses_a_change(daemon: Daemon, tmp_path: Path) -> None:
    """``dockyard build`` leaves out the files the daemon kept from the last build of the
    directory; a file rewritten with the same size and its old mtime put back is still seen as
    changed (its ctime moved), and the docker-style whole-tar protocol keeps working."""
    import os
    import socket

    from dockyard.buildcontext.tar import plan_context
    from dockyard.client.http import Client

    ctx = write(tmp_path, {"Dockerfile": "FROM busybox\nCOPY . /ctx/\n", "same.txt": "AAAA\n", "keep.txt": "kept\n"})
    (ctx / "big.bin").write_bytes(os.urandom(200_000))
    try:
        build(daemon, ctx, "-t", "bf-ctx")
        st = os.stat(ctx / "same.txt")
        (ctx / "same.txt").write_text("BBBB\n")  # same size
        os.utime(ctx / "same.txt", ns=(st.st_atime_ns, st.st_mtime_ns))  # and the old mtime
        # what the daemon asks for now: only the rewritten file
        c = Client(daemon.host)
        key = __import__("hashlib").sha256(f"{socket.gethostname()}\0{ctx.resolve()}".encode()).hexdigest()[:32]
        need = c.json("POST", "/build/context", {"key": key}, {"files": plan_context(ctx).manifest()})["need"]
        assert need == ["same.txt"]
        build(daemon, ctx, "-t", "bf-ctx")
        assert run_out(daemon, "bf-ctx", "cat", "/ctx/same.txt", "/ctx/keep.txt") == "BBBB\nkept\n"
        assert run_out(daemon, "bf-ctx", "md5sum", "/ctx/big.bin").split()[0] == \
            __import__("hashlib").md5((ctx / "big.bin").read_bytes()).hexdigest()
        # a big file (known to the COPY by where its bytes came in, not by a hash) rewritten the
        # same way: the new bytes are in the image
        st = os.stat(ctx / "big.bin")
        (ctx / "big.bin").write_bytes(os.urandom(200_000))
        os.utime(ctx / "big.bin", ns=(st.st_atime_ns, st.st_mtime_ns))
        build(daemon, ctx, "-t", "bf-ctx")
        assert run_out(daemon, "bf-ctx", "md5sum", "/ctx/big.bin").split()[0] == \
            __import__("hashlib").md5((ctx / "big.bin").read_bytes()).hexdigest()
        # a file removed from the context is gone from the next image
        (ctx / "keep.txt").unlink()
        build(daemon, ctx, "-t", "bf-ctx")
        assert run_out(daemon, "bf-ctx", "ls", "/ctx") == "Dockerfile\nbig.bin\nsame.txt\n"
    finally:
        daemon.cli("rmi", "bf-ctx")


def test_build_context_endpoint_refuses_bad_input(daemon: Daemon) -> None:
    from dockyard import errors
    from dockyard.client.http import Client

    c = Client(daemon.host)
    with pytest.raises(errors.InvalidArgument, match="key"):
        c.json("POST", "/build/context", {}, {"files": []})
    with pytest.raises(errors.InvalidArgument, match="files"):
        c.json("POST", "/build/context", {"key": "k"}, {"nope": 1})
    with pytest.raises(errors.InvalidArgument):
        c.json("POST", "/build/context", {"key": "k"}, {"files": [[1, 2]]})
