"""Pull and push against Debian's docker-registry on 127.0.0.1, through a dockyard-containerd of our own."""

from __future__ import annotations

import io
import os
import random
import tarfile
import threading
import time
from pathlib import Path

import pytest

from dockyard import errors
from dockyard.api import pb
from dockyard.oci import image as oci

pytestmark = pytest.mark.root
CRASH_ROUNDS = int(os.environ.get("DOCKYARD_CRASH_ROUNDS", "3"))


def layer_tar(seed: int, size: int = 4096) -> bytes:
    rnd = random.Random(seed)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        data = rnd.randbytes(size)
        ti = tarfile.TarInfo(f"file-{seed}")
        ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


async def make_image(c, name: str, seeds: list[int], arch: str = "amd64", size: int = 4096) -> pb.Descriptor:  # type: ignore[no-untyped-def]
    layers, diff_ids = [], []
    for s in seeds:
        resp = await c.import_layer([layer_tar(s, size)])
        layers.append(oci.Descriptor(resp.layer.media_type, resp.layer.digest, resp.layer.size))
        diff_ids.append(resp.diff_id)
    cfg = oci.make_config(diff_ids, architecture=arch, config={"Cmd": ["sh"]})
    await c.write_blob(cfg)
    man = oci.make_manifest(oci.descriptor_for(oci.MEDIA_TYPE_OCI_CONFIG, cfg), layers)
    md = oci.descriptor_for(oci.MEDIA_TYPE_OCI_MANIFEST, man)
    await c.write_blob(man, expected=md.digest)
    target = pb.Descriptor(media_type=md.media_type, digest=md.digest, size=md.size)
    await c.images.Put(pb.Image(name=name, target=target))
    return target


async def drain(stream) -> list[pb.Progress]:  # type: ignore[no-untyped-def]
    return [m async for m in stream]


def creds(user: str = "", password: str = "") -> pb.RegistryOptions:
    return pb.RegistryOptions(auth=pb.RegistryAuth(username=user, password=password))


def test_images_anonymous_push_pull_roundtrip(containerd, registry) -> None:  # type: ignore[no-untyped-def]
    name = f"{registry.host}/anon/img:1"

    async def go(c):  # type: ignore[no-untyped-def]
        target = await make_image(c, name, [1, 2, 3])
        pushed = await drain(c.push(name))
        assert pushed[-1].status == "Done" and pushed[-1].detail == target.digest
        assert sum(m.status == "Pushed" for m in pushed) == 3
        again = await drain(c.push(name))  # everything is there now: HEAD says so
        assert sum(m.status == "Layer already exists" for m in again) == 3
        # Cross-repository mount: the same layers into a sibling repository are not uploaded again.
        await c.images.Put(pb.Image(name=f"{registry.host}/anon/other:1", target=target))
        mounted = await drain(c.push(f"{registry.host}/anon/other:1"))
        assert sum(m.status == "Mounted from" for m in mounted) == 3, [m.status for m in mounted]
        for n in (name, f"{registry.host}/anon/other:1"):
            await c.images.Delete(pb.DeleteImageRequest(name=n))
        gc = await c.gc()
        assert len(gc.blobs) == 5  # 3 layers, config, manifest
        pulled = await drain(c.pull(name))
        assert pulled[-1].status == "Done" and pulled[-1].target.digest == target.digest
        assert sum(m.status == "Pull complete" for m in pulled) == 3
        img = await c.images.Get(pb.GetImageRequest(name=name))
        assert img.target.digest == target.digest
        assert not (await c.fsck()).problems
        with pytest.raises(errors.NotFound, match="MANIFEST_UNKNOWN"):
            await drain(c.pull(f"{registry.host}/anon/img:nope"))

    containerd.run(go)


def test_images_basic_auth(containerd, auth_registry) -> None:  # type: ignore[no-untyped-def]
    name = f"{auth_registry.host}/private/img:1"

    async def go(c):  # type: ignore[no-untyped-def]
        await make_image(c, name, [7])
        with pytest.raises(errors.PermissionDenied, match="UNAUTHORIZED"):
            await drain(c.push(name))
        with pytest.raises(errors.PermissionDenied, match="UNAUTHORIZED"):
            await drain(c.push(name, options=creds("dy", "wrong")))
        with pytest.raises(errors.PermissionDenied):
            await c.login(auth_registry.host, creds("dy", "wrong"))
        assert (await c.login(auth_registry.host, creds("dy", "s3cret"))).status == "Login Succeeded"
        assert (await drain(c.push(name, options=creds("dy", "s3cret"))))[-1].status == "Done"
        await c.images.Delete(pb.DeleteImageRequest(name=name))
        await c.gc()
        with pytest.raises(errors.PermissionDenied, match="UNAUTHORIZED"):
            await drain(c.pull(name))
        assert (await drain(c.pull(name, options=creds("dy", "s3cret"))))[-1].status == "Done"

    containerd.run(go)


def test_images_multi_platform_index(containerd, registry) -> None:  # type: ignore[no-untyped-def]
    repo = f"{registry.host}/multi/img"

    async def go(c):  # type: ignore[no-untyped-def]
        amd = await make_image(c, f"{repo}:amd64", [11], "amd64")
        arm = await make_image(c, f"{repo}:arm64", [12], "arm64")
        for tag in ("amd64", "arm64"):
            await drain(c.push(f"{repo}:{tag}"))
        index = oci.make_index([
            oci.Descriptor(amd.media_type, amd.digest, amd.size, platform={"os": "linux", "architecture": "amd64"}),
            oci.Descriptor(arm.media_type, arm.digest, arm.size, platform={"os": "linux", "architecture": "arm64"})])
        idesc = oci.descriptor_for(oci.MEDIA_TYPE_OCI_INDEX, index)
        await c.write_blob(index, expected=idesc.digest)
        await c.images.Put(pb.Image(name=f"{repo}:multi", target=pb.Descriptor(
            media_type=idesc.media_type, digest=idesc.digest, size=idesc.size)))
        done = (await drain(c.push(f"{repo}:multi")))[-1]
        assert done.detail == idesc.digest
        for tag in ("amd64", "arm64", "multi"):
            await c.images.Delete(pb.DeleteImageRequest(name=f"{repo}:{tag}"))
        await c.gc()
        # containerd semantics: the record keeps the index; only the chosen platform's blobs come.
        got = (await drain(c.pull(f"{repo}:multi", platform="linux/arm64", unpack=False)))[-1]
        assert got.target.digest == idesc.digest
        rec = await c.images.Get(pb.GetImageRequest(name=f"{repo}:multi"))
        assert rec.target.digest == idesc.digest
        assert await c.read_blob(arm.digest)
        with pytest.raises(errors.NotFound):
            await c.read_blob(amd.digest)
        await c.images.Unpack(pb.UnpackRequest(name=f"{repo}:multi"))  # the host's platform is not here: arm64's
        got = (await drain(c.pull(f"{repo}:multi", platform="linux/amd64", unpack=False)))[-1]
        assert got.target.digest == idesc.digest
        assert await c.read_blob(amd.digest)
        with pytest.raises(errors.NotFound, match="s390x"):
            await drain(c.pull(f"{repo}:multi", platform="linux/s390x"))

    containerd.run(go)


def test_images_chunked_push(tmp_path: Path, registry) -> None:  # type: ignore[no-untyped-def]
    """Blobs over the chunk size go up in PATCH chunks; the registry reassembles the same digest."""
    import asyncio

    import aiohttp

    from dockyard.containerd.content.local import LocalContentStore
    from dockyard.containerd.content.store import write_blob
    from dockyard.containerd.remotes.auth import Authorizer
    from dockyard.containerd.remotes.hosts import endpoints
    from dockyard.containerd.remotes.progress import Throttle
    from dockyard.containerd.remotes.push import push_blob
    from dockyard.containerd.remotes.registry import Repository, timeout
    from dockyard.oci.reference import parse
    from dockyard.types import Descriptor

    store = LocalContentStore(tmp_path / "content")
    data = random.Random(5).randbytes(300_000)
    desc = Descriptor("application/octet-stream", oci.descriptor_for("x", data).digest, len(data))
    write_blob(store, data, desc.digest)
    events = []

    async def go() -> None:
        async with aiohttp.ClientSession(timeout=timeout()) as session:
            ref = parse(f"{registry.host}/chunked/blob:1")
            repo = Repository(session, endpoints(ref.domain)[-1], ref, Authorizer(), push=True)
            how = await push_blob(store, repo, desc, events.append, Throttle(0), chunk_size=64 * 1024)
            assert how == "pushed"
            assert await repo.blob_exists(desc.digest)

    asyncio.run(go())
    pushes = [e for e in events if e.status == "Pushing"]
    assert len(pushes) == 5  # 300 kB in 64 kB chunks


def test_images_kill9_during_pull(containerd, registry) -> None:  # type: ignore[no-untyped-def]
    """kill -9 of dockyard-containerd at random moments of a pull: after restart fsck is clean and the pull ends."""
    name = f"{registry.host}/crash/img:1"

    async def setup(c):  # type: ignore[no-untyped-def]
        target = await make_image(c, name, [21, 22, 23, 24], size=6 << 20)
        await drain(c.push(name))
        await c.images.Delete(pb.DeleteImageRequest(name=name))
        await c.gc()
        return target

    target = containerd.run(setup)
    rnd = random.Random(int(os.environ.get("DOCKYARD_CRASH_SEED", "1")))

    async def pull(c):  # type: ignore[no-untyped-def]
        return await drain(c.pull(name))

    async def forget(c):  # type: ignore[no-untyped-def]
        await c.images.Delete(pb.DeleteImageRequest(name=name))
        await c.gc()

    for _ in range(CRASH_ROUNDS):
        ended: list[bool] = []
        t = threading.Thread(target=lambda out=ended: out.append(_swallow(lambda: containerd.run(pull))))
        t.start()
        time.sleep(rnd.uniform(0.05, 0.6))
        containerd.kill9()
        t.join(30)
        containerd.start()
        problems = containerd.run(lambda c: c.fsck())
        assert not problems.problems, problems
        containerd.run(lambda c: c.gc())  # GC between rounds must not break the resumption either
        if ended == [True]:
            containerd.run(forget)  # the pull won the race: the next round must have one to cut
    done = containerd.run(pull)
    assert done[-1].target.digest == target.digest
    assert not containerd.run(lambda c: c.fsck()).problems
    snaps = [p for p in (containerd.root / "snapshots" / "overlayfs" / "snapshots").iterdir()]
    assert len(snaps) == 4


def _swallow(fn) -> bool:  # type: ignore[no-untyped-def]
    """Whether ``fn`` ended before the kill."""
    try:
        fn()
        return True
    except errors.DockyardError:
        return False  # the pull dies with its daemon; that is the point


def test_images_prune_frees_everything(containerd, registry) -> None:  # type: ignore[no-untyped-def]
    name = f"{registry.host}/prune/img:1"

    async def go(c):  # type: ignore[no-untyped-def]
        await make_image(c, name, [31, 32])
        await drain(c.push(name))
        await c.images.Delete(pb.DeleteImageRequest(name=name))
        await c.gc()
        await drain(c.pull(name))
        await c.images.Delete(pb.DeleteImageRequest(name=name))
        await c.gc()

    containerd.run(go)
    content = containerd.root / "content"
    assert not list((content / "blobs" / "sha256").iterdir())
    assert not list((content / "ingest").iterdir()) if (content / "ingest").exists() else True
    assert not list((containerd.root / "snapshots" / "overlayfs" / "snapshots").iterdir())
