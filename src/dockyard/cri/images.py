"""The CRI's images: the engine's image view of containerd (``engine/images.py``) in ``k8s.io``.

Pulls go through containerd's Transfer.Pull with per-registry mirrors (``host=endpoint``,
as containerd's hosts.toml names them: ``registry.k8s.io=http://127.0.0.1:5000``); an image
is named by its full reference, its ID is its config digest, as in containerd's CRI.

Images of the engine (``dockyard pull``/``build``, containerd namespace ``moby``) are
found by name too: a name the CRI does not have but the engine has is adopted — its record
(the same target: the content store is shared by all namespaces) is put into ``k8s.io`` and
unpacked there. ``moby`` is only read; ``ListImages`` shows an engine image once adopted.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from dockyard import errors
from dockyard.api import pb
from dockyard.containerd.client import ContainerdClient
from dockyard.cri.api import api_pb2 as cri
from dockyard.engine.images import DANGLING_PREFIX, Image, ImageService
from dockyard.oci import reference

if TYPE_CHECKING:
    from dockyard.trust.policy import Policy


def auth_options(auth: cri.AuthConfig | None, mirrors: list[str], insecure: list[str]) -> pb.RegistryOptions:
    user, password = (auth.username, auth.password) if auth is not None else ("", "")
    if auth is not None and auth.auth and not user:
        user, _, password = base64.b64decode(auth.auth).decode(errors="replace").partition(":")
    return pb.RegistryOptions(
        auth=pb.RegistryAuth(username=user, password=password,
                             identity_token=auth.identity_token if auth is not None else "",
                             registry_token=auth.registry_token if auth is not None else ""),
        insecure=insecure, mirrors=mirrors)


class CriImages:
    signature_policy: Policy | None = None  # --signature-policy: every pull, the sandbox image's too

    def __init__(self, cd: ContainerdClient, mirrors: dict[str, list[str]], insecure: list[str],
                 snapshot_root: str, engine: ContainerdClient | None = None) -> None:
        self.cd = cd
        self.engine = engine  # the engine's namespace, read only
        self.service = ImageService(cd)
        self.mirrors = [f"{host}={url}" for host, urls in mirrors.items() for url in urls]
        self.insecure = insecure
        self.snapshot_root = snapshot_root

    async def get(self, ref: str) -> Image:
        img = await self.find(ref)
        if img is None:
            raise errors.NotFound(f"image {ref!r} not found")
        return img

    async def find(self, ref: str, adopt: bool = True) -> Image | None:
        """By name, ID, or ``repo@digest`` of an image pulled by tag (its repo digest, as containerd's CRI);
        else (``adopt``) the engine's image of that name, adopted."""
        img = await self._find_here(ref)
        if img is None and adopt:
            img = await self.adopt(ref)
        return img

    async def adopt(self, ref: str) -> Image | None:
        if self.engine is None:
            return None
        try:
            name = str(reference.parse(ref))
            rec = await self.engine.images.Get(pb.GetImageRequest(name=name))
        except (errors.NotFound, errors.InvalidArgument):
            return None
        await self.cd.images.Put(pb.Image(name=rec.name, target=rec.target, labels=dict(rec.labels)))
        await self.cd.images.Unpack(pb.UnpackRequest(name=rec.name))
        return await self.service.get(name)

    async def _find_here(self, ref: str) -> Image | None:
        try:
            return await self.service.get(ref)
        except (errors.NotFound, errors.InvalidArgument):
            pass
        try:
            r = reference.parse(ref)
        except errors.InvalidArgument:
            return None
        if not r.digest:
            return None
        for img in await self.service.list():
            if img.repo_digest == r.digest and any(reference.parse(n).name == r.name for n in img.names
                                                   if not n.startswith(DANGLING_PREFIX)):
                return img
        return None

    async def ensure(self, ref: str) -> Image:
        """The image, pulled first if it is not here (the sandbox image)."""
        img = await self.find(ref)
        if img is None:
            await self.pull(ref, None)
            img = await self.get(ref)
        return img

    async def pull(self, ref: str, auth: cri.AuthConfig | None) -> str:
        """Pull; returns the image's ID (what PullImageResponse.image_ref carries)."""
        r = reference.parse(ref)
        name = str(r)
        options = auth_options(auth, self.mirrors, self.insecure)
        signed = await self._judge_pull(r, options)
        target = None
        async for msg in self.cd.pull(name, "", options):
            if msg.status == "Done":
                target = msg.target
        if target is None:
            raise errors.Internal(f"pull of {name} ended without an image")
        if signed and target.digest != signed:  # the tag moved between the policy's check and the pull
            await self.cd.images.Delete(pb.DeleteImageRequest(name=name))
            raise errors.PermissionDenied(f"image {name}: pulled {target.digest}, the signature policy checked {signed}")
        self.service._blobs.pop(target.digest, None)
        return (await self.get(name)).id

    async def _judge_pull(self, r: reference.Reference, options: pb.RegistryOptions) -> str:
        """The signature policy on pulling ``r`` before anything is fetched, the manifest and signatures
        read with the pull's credentials from the registry's first mirror, if it has one: the manifest
        digest it verified ("" when the policy asks for no signatures)."""
        if self.signature_policy is None:
            return ""
        # lazy: 54 ms of CPU on every dockyard-cri start (trust.api's import, measured); a policy is optional
        from dockyard.trust.api import check_pull

        creds = {"username": options.auth.username, "password": options.auth.password,
                 "registrytoken": options.auth.registry_token, "identitytoken": options.auth.identity_token}
        endpoint = next((m.split("=", 1)[1] for m in self.mirrors if m.split("=", 1)[0] == r.domain), "")
        return await asyncio.to_thread(check_pull, self.signature_policy, r.domain, r.path, r.tag, r.digest, creds,
                                       endpoint, self.insecure)

    async def list(self) -> list[Image]:
        return await self.service.list()

    async def remove(self, ref: str) -> None:
        """Every name of the image goes; an image that is not here is no error (the CRI's rule)."""
        img = await self.find(ref, adopt=False)
        if img is None:
            return
        for name in img.names:
            try:
                await self.cd.images.Delete(pb.DeleteImageRequest(name=name))
            except errors.NotFound:
                pass
        await self.cd.gc()

    def fs_info(self) -> cri.FilesystemUsage:
        """The filesystem the snapshots are on (the snapshot directory may not be made yet: a fresh
        containerd makes it with its first snapshot, so the nearest directory that exists is asked)."""
        where = Path(self.snapshot_root)
        while not where.exists() and where != where.parent:
            where = where.parent
        st = os.statvfs(where)
        return cri.FilesystemUsage(
            timestamp=time.time_ns(), fs_id=cri.FilesystemIdentifier(mountpoint=self.snapshot_root),
            used_bytes=cri.UInt64Value(value=(st.f_blocks - st.f_bfree) * st.f_frsize),
            inodes_used=cri.UInt64Value(value=st.f_files - st.f_ffree))


def image_pb(img: Image) -> cri.Image:
    names = [n for n in img.names if not n.startswith(DANGLING_PREFIX)]
    tags = [n for n in names if reference.parse(n).tag]
    repos = sorted({reference.parse(n).name for n in names})
    digest = img.repo_digest
    out = cri.Image(id=img.id, repo_tags=tags, repo_digests=[f"{r}@{digest}" for r in repos], size=img.size,
                    spec=cri.ImageSpec(image=img.id))
    user = str((img.config.get("config") or {}).get("User") or "")
    name = user.partition(":")[0]
    if name.isdigit():
        out.uid.value = int(name)
    elif name:
        out.username = name
    return out
