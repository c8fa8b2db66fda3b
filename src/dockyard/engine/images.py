"""Docker's images on top of containerd's: names, IDs, import, and the config users see.

An image is a containerd image record named by its full reference
(``docker.io/library/busybox:latest``) whose target is a manifest; its ID is the
digest of its config, as in Docker. Manifests and configs are immutable, so they
are cached by digest.
"""

from __future__ import annotations

import asyncio
import json
import platform
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dockyard import errors
from dockyard.api import pb
from dockyard.builder.shell_lex import ShellLex, env_map
from dockyard.containerd.client import ContainerdClient
from dockyard.engine.archive import MANAGED_FILES
from dockyard.oci import image as oci_image
from dockyard.oci import reference
from dockyard.timefmt import rfc3339
from dockyard.types import Descriptor

if TYPE_CHECKING:
    import builtins  # ImageService.list shadows the builtin in the class body

    from dockyard.trust.policy import Policy

DANGLING_PREFIX = "moby-dangling@"
# The image a commit was made from (Docker's local "Parent"), on each of the image's records, as moby's
# containerd image store keeps it.
PARENT_LABEL = "org.mobyproject.image.parent"


@dataclass(frozen=True)
class Image:
    """An image as the engine sees it: its names, manifest, config and top snapshot."""

    id: str  # config digest
    names: tuple[str, ...]  # full references (docker.io/library/busybox:latest)
    manifest_digest: str  # the platform manifest
    manifest: dict[str, Any]
    config: dict[str, Any]
    created: int  # record creation, unix nanoseconds
    target_digest: str = ""  # what the records name: an index for a multi-platform pull (RepoDigests)
    parent: str = ""  # the image ID it was committed from, "" for a pulled, imported or loaded one

    @property
    def repo_digest(self) -> str:
        return self.target_digest or self.manifest_digest

    @property
    def chain_id(self) -> str:
        return oci_image.chain_id(self.config.get("rootfs", {}).get("diff_ids", []))

    @property
    def size(self) -> int:
        return sum(int(layer.get("size", 0)) for layer in self.manifest.get("layers", []))

    def repo_tags(self) -> list[str]:
        out = []
        for n in self.names:
            if n.startswith(DANGLING_PREFIX):
                continue
            ref = reference.parse(n)
            if ref.tag:
                out.append(ref.familiar())
        return out


def arch() -> str:
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


def _apply_env(env: list[str], rest: str) -> list[str]:
    """One ``ENV`` change on ``env`` as the builder applies it: values expanded against the variables
    so far (``PATH=/usr/bin:$PATH``), a key already set replaced in place."""
    if "=" in rest.split(" ", 1)[0]:
        pairs = re.findall(r'(\S+?)=("[^"]*"|\S*)', rest)
    else:
        k, _, v = rest.partition(" ")
        pairs = [(k, v.strip())]
    out, lex = list(env), ShellLex()
    for key, raw in pairs:
        value = lex.process_word(raw, env_map(out))
        keys = [e.partition("=")[0] for e in out]
        if key in keys:
            out[keys.index(key)] = f"{key}={value}"
        else:
            out.append(f"{key}={value}")
    return out


def parse_changes(changes: list[str], env: list[str] | None = None) -> dict[str, Any]:
    """The Dockerfile instructions ``docker import --change``/``commit --change`` accept, applied to a
    config whose environment is ``env`` (an ``ENV`` change yields the whole resulting ``Env``)."""
    config: dict[str, Any] = {}
    for change in changes:
        word, _, rest = change.strip().partition(" ")
        word, rest = word.upper(), rest.strip()

        def exec_form(word: str = word, rest: str = rest) -> list[str]:
            if rest.startswith("["):
                try:
                    value = json.loads(rest)
                except ValueError as err:
                    raise errors.InvalidArgument(f"{word}: invalid JSON {rest!r}") from err
                return [str(v) for v in value]
            return ["/bin/sh", "-c", rest]

        if word == "CMD":
            config["Cmd"] = exec_form()
        elif word == "ENTRYPOINT":
            config["Entrypoint"] = exec_form()
        elif word == "ENV":
            config["Env"] = _apply_env(config.get("Env", env or []), rest)
        elif word == "WORKDIR":
            config["WorkingDir"] = rest
        elif word == "USER":
            config["User"] = rest
        elif word == "EXPOSE":
            for port in rest.split():
                config.setdefault("ExposedPorts", {})[port if "/" in port else f"{port}/tcp"] = {}
        elif word == "LABEL":
            for k, v in re.findall(r'(\S+?)=("[^"]*"|\S*)', rest):
                config.setdefault("Labels", {})[k] = v.strip('"')
        elif word == "VOLUME":
            vols = json.loads(rest) if rest.startswith("[") else rest.split()
            for v in vols:
                config.setdefault("Volumes", {})[v] = {}
        elif word == "STOPSIGNAL":
            config["StopSignal"] = rest
        else:
            raise errors.InvalidArgument(f"{word} is not a valid change command")
    return config


# -- registries, archives, commit, prune ----------------------------------------


def registry_options(auth: dict[str, Any] | None, insecure: list[str] | None = None) -> pb.RegistryOptions:
    """What containerd needs to reach a registry for one call (credentials are never stored)."""
    a = auth or {}
    return pb.RegistryOptions(
        auth=pb.RegistryAuth(username=a.get("username", ""), password=a.get("password", ""),
                             identity_token=a.get("identitytoken", ""), registry_token=a.get("registrytoken", "")),
        insecure=list(insecure or []))


def progress_json(msg: pb.Progress) -> dict[str, Any]:
    """A containerd Progress event as one line of Docker's JSON progress stream."""
    out: dict[str, Any] = {"status": msg.status}
    if msg.id:
        out["id"] = msg.id
    if msg.status in ("Downloading", "Extracting", "Pushing") and msg.total:
        out["progressDetail"] = {"current": msg.current, "total": msg.total}
    elif msg.id:
        out["progressDetail"] = {}
    if msg.status == "Mounted from":
        out["status"] = f"Mounted from {reference.parse(msg.detail).familiar_name()}" if msg.detail else msg.status
    return out


def history_of(img: Image) -> list[dict[str, Any]]:
    """``docker history``: the config's history, newest first; layer entries carry their layer's size."""
    layers = list(img.manifest.get("layers") or [])
    rows = []
    for h in img.config.get("history") or [{"created": img.config.get("created", ""), "created_by": ""}]:
        empty = bool(h.get("empty_layer"))
        size = 0 if empty or not layers else int(layers.pop(0).get("size", 0))
        rows.append({"Created": h.get("created", ""), "CreatedBy": h.get("created_by", ""), "Size": size,
                     "Comment": h.get("comment", ""), "Tags": None, "Id": "<missing>"})
    rows.reverse()
    if rows:
        rows[0]["Id"] = img.id
        rows[0]["Tags"] = img.repo_tags() or None
    return rows


def _names_id_text(ref: str) -> bool:
    """Whether ``ref`` reads as an image ID (full, ``sha256:``-prefixed or a prefix of 4 or more)."""
    hexpart = ref.removeprefix("sha256:")
    return bool(re.fullmatch(r"[0-9a-f]{1,64}", hexpart)) and (ref.startswith("sha256:") or len(hexpart) >= 4)


def _names_id(ref: str, img: Image) -> bool:
    """Whether ``ref`` found ``img`` by its ID (full, ``sha256:``-prefixed or an unambiguous prefix) rather
    than by one of its names, with ``get``'s precedence: an ID prefix wins."""
    return _names_id_text(ref) and img.id.removeprefix("sha256:").startswith(ref.removeprefix("sha256:"))


class RegistryImages:
    """Pull, push, tag, save, load, commit and prune, mixed into ImageService."""

    cd: ContainerdClient
    # Awaited before every GC: the builder stores its cache roots behind its builds, and a
    # collection must not run between a step's blobs and the root that keeps them.
    settle_hooks: list[Callable[[], Awaitable[None]]]
    # Awaited with the IDs of images that are gone, before the GC: the builder drops the cache entries that
    # built only them, as dockerd's classic cache (its intermediate images) goes with the images.
    deleted_hooks: list[Callable[[list[str]], Awaitable[None]]]
    signature_policy: Policy | None = None  # dockyardd --signature-policy

    async def settle(self) -> None:
        for hook in self.settle_hooks:
            await hook()

    async def pull(self, ref: str, platform: str, auth: dict[str, Any] | None,
                   insecure: list[str] | None = None) -> AsyncIterator[dict[str, Any]]:
        r = reference.parse(ref)
        signed = await self._judge_pull(r, auth, insecure)
        yield {"status": f"Pulling from {r.familiar_name()}", "id": r.tag or r.digest}
        target = None
        async for msg in _denied_until_resolved(r, self.cd.pull(str(r), platform, registry_options(auth, insecure),
                                                                dangling_prefix=DANGLING_PREFIX)):
            if msg.status == "Resolved":
                continue
            if msg.status == "Done":
                target = msg.target
                continue
            if msg.status in ("Verifying Checksum", "Retrying"):
                continue
            yield progress_json(msg)
        assert target is not None
        if signed and target.digest != signed:  # the tag moved between the policy's check and the pull
            await self.cd.images.Delete(pb.DeleteImageRequest(name=str(r)))
            raise errors.PermissionDenied(f"image {r}: pulled {target.digest}, the signature policy checked {signed}")
        yield {"status": f"Digest: {target.digest}"}
        yield {"status": f"Status: Downloaded newer image for {r.familiar()}"}
        self._blobs.pop(target.digest, None)  # type: ignore[attr-defined]

    async def _judge_pull(self, r: reference.Reference, auth: dict[str, Any] | None,
                          insecure: list[str] | None = None) -> str:
        """The daemon's signature policy on pulling ``r``, its signatures read with the pull's credentials
        ``auth`` (plain HTTP from a registry on the ``insecure`` list): the manifest digest it verified."""
        if self.signature_policy is None:
            return ""
        # lazy: 28 ms of CPU on every dockyardd start (trust.api and cryptography, measured); a policy is optional
        from dockyard.trust.api import check_pull

        return await asyncio.to_thread(check_pull, self.signature_policy, r.domain, r.path, r.tag, r.digest, auth, "",
                                       insecure or [])

    async def push(self, ref: str, auth: dict[str, Any] | None,
                   insecure: list[str] | None = None) -> AsyncIterator[dict[str, Any]]:
        r = reference.parse(ref)
        names = [str(r)]
        if not r.tag and not r.digest:
            names = [str(r)]
        try:
            await self.cd.images.Get(pb.GetImageRequest(name=str(r)))
        except errors.NotFound:
            raise errors.NotFound(f"An image does not exist locally with the tag: {r.familiar_name()}") from None
        yield {"status": f"The push refers to repository [{r.name}]"}
        async for msg in self.cd.push(names[0], str(r), registry_options(auth, insecure)):
            if msg.status == "Done":
                yield {"status": f"{r.tag}: digest: {msg.detail} size: {msg.total}"}
                yield {"progressDetail": {}, "aux": {"Tag": r.tag, "Digest": msg.detail, "Size": msg.total}}
                continue
            yield progress_json(msg)

    async def distribution(self, ref: str, auth: dict[str, Any] | None,
                           insecure: list[str] | None = None) -> dict[str, Any]:
        """``GET /distribution/{name}/json``: the registry's descriptor of ``ref`` and the platforms it has
        (an index's entries, or a manifest's config), fields as moby's (empty ones left out)."""
        r = reference.parse(ref)
        resp = await self.cd.resolve(str(r), registry_options(auth, insecure))
        if resp.config:
            cfg = json.loads(resp.config)
            platforms = [{k: v for k, v in (("architecture", cfg.get("architecture", "")), ("os", cfg.get("os", "")),
                                            ("os.version", cfg.get("os.version", "")),
                                            ("variant", cfg.get("variant", ""))) if v}]
        else:
            platforms = [dict(m.get("platform") or {}) for m in json.loads(resp.document).get("manifests") or []]
        desc = {"mediaType": resp.target.media_type, "digest": resp.target.digest, "size": resp.target.size}
        return {"Descriptor": desc, "Platforms": platforms}

    async def search(self, term: str, limit: int, auth: dict[str, Any] | None,
                     insecure: list[str] | None = None) -> list[dict[str, Any]]:
        """``docker search``: ``host[:port]/term`` asks that registry, anything else Docker Hub."""
        registry, _, rest = term.partition("/")
        if rest and ("." in registry or ":" in registry or registry == "localhost"):
            domain, query = registry, rest
        else:
            domain, query = reference.DEFAULT_DOMAIN, term
        resp = await self.cd.search(domain, query, limit, registry_options(auth, insecure))
        return [r for r in json.loads(resp.results) if isinstance(r, dict)]

    async def tag(self, source: str, repo: str, tag: str) -> None:
        img = await self.get(source)  # type: ignore[attr-defined]
        target_ref = reference.parse(f"{repo}:{tag}" if tag else repo)
        if target_ref.digest:
            raise errors.InvalidArgument("refusing to create a tag with a digest reference")
        rec = await self.cd.images.Get(pb.GetImageRequest(name=img.names[0])) if img.names else None
        target = rec.target if rec is not None else pb.Descriptor(
            media_type=img.manifest.get("mediaType", oci_image.MEDIA_TYPE_OCI_MANIFEST), digest=img.manifest_digest)
        labels = {PARENT_LABEL: img.parent} if img.parent else {}
        await self._put_name(str(target_ref), target, labels)
        for n in img.names:  # a dangling record is no longer needed once the image has a name
            if n.startswith(DANGLING_PREFIX):
                await self.cd.images.Delete(pb.DeleteImageRequest(name=n))

    async def save(self, refs: list[str]) -> AsyncIterator[bytes]:
        """``docker save``: a name saves that tag (a repository without tag: its ``latest``); an image ID
        saves the image without any tag (manifest.json ``RepoTags`` empty), as dockerd. An ID is exported
        under the image's dangling record, made for the export when the image has none."""
        names: list[str] = []
        made: list[str] = []
        try:
            for ref in refs:
                tags = await self.repository_tags(ref)
                if tags:  # a repository without a tag: every tag of it, as dockerd's exportRepository
                    names += tags
                    continue
                img = await self.get(ref)  # type: ignore[attr-defined]
                if _names_id(ref, img) or "@" in ref:  # by ID or digest: exported without a tag
                    names.append(await self._dangling_record(img, made))
                    continue
                try:
                    wanted = str(reference.parse(ref))
                    names += [wanted] if wanted in img.names else list(img.names)
                except errors.InvalidArgument:
                    names += list(img.names)
            async for chunk in self.cd.export(list(dict.fromkeys(names))):
                yield chunk
        finally:
            for name in made:
                await self.cd.images.Delete(pb.DeleteImageRequest(name=name))

    async def repository_tags(self, ref: str) -> list[str]:
        """The tagged names of the repository ``ref`` names when it is a name without tag or digest."""
        if "@" in ref or ":" in ref.rpartition("/")[2] or _names_id_text(ref):
            return []
        try:
            repo = reference.parse(ref).name
        except errors.InvalidArgument:
            return []
        return sorted(n for img in await self.list() for n in img.names  # type: ignore[attr-defined]
                      if not n.startswith(DANGLING_PREFIX) and reference.parse(n).name == repo)

    async def _put_name(self, name: str, target: pb.Descriptor, labels: dict[str, str] | None = None) -> None:
        """Point ``name`` at ``target``. The image the name held before, if it was that image's last name,
        stays as a dangling image (Docker's ``<none>:<none>``) instead of vanishing."""
        if not name.startswith(DANGLING_PREFIX):
            try:
                old = await self.cd.images.Get(pb.GetImageRequest(name=name))
            except errors.NotFound:
                old = None
            if old is not None and old.target.digest != target.digest:
                await self._keep_dangling(old)
        await self.cd.images.Put(pb.Image(name=name, target=target, labels=labels or {}))

    async def _keep_dangling(self, old: pb.Image) -> None:
        records = (await self.cd.images.List(pb.ListImagesRequest())).images
        if any(r.name != old.name and r.target.digest == old.target.digest for r in records):
            return
        loaded = await self._load([old])  # type: ignore[attr-defined]
        if loaded:
            await self.cd.images.Put(pb.Image(name=DANGLING_PREFIX + loaded[0].id, target=old.target,
                                              labels=dict(old.labels)))

    async def _dangling_record(self, img: Image, made: list[str]) -> str:
        name = DANGLING_PREFIX + img.id
        if name not in img.names:
            rec = await self.cd.images.Get(pb.GetImageRequest(name=img.names[0]))
            await self.cd.images.Put(pb.Image(name=name, target=rec.target))
            made.append(name)
        return name

    async def load(self, chunks: AsyncIterator[bytes], insecure: list[str] | None = None) -> list[str]:
        before = await self._records() if self.signature_policy is not None else {}
        resp = await self.cd.import_archive(chunks, dangling_prefix=DANGLING_PREFIX)
        if self.signature_policy is not None:
            await self._judge_load(resp.images, before, insecure or [])
        out = []
        for im in resp.images:
            if im.name.startswith(DANGLING_PREFIX):
                out.append(f"Loaded image ID: {im.config_digest}")
            else:
                out.append(f"Loaded image: {reference.parse(im.name).familiar()}")
        self._blobs.clear()  # type: ignore[attr-defined]
        return out

    async def _records(self) -> dict[str, pb.Image]:
        return {r.name: r for r in (await self.cd.images.List(pb.ListImagesRequest())).images}

    async def _judge_load(self, images: Any, before: dict[str, pb.Image], insecure: list[str]) -> None:
        """The signature policy on what a load named (``trust.api.check_load``, signatures read in plain HTTP
        from the daemon's ``--insecure-registry`` hosts, as the pull's check); a refusal undoes the load:
        the names it made go, those it moved point back, its blobs are collected."""
        # lazy: 28 ms of CPU on every dockyardd start (trust.api and cryptography, measured); a policy is optional
        from dockyard.trust.api import check_load

        policy = self.signature_policy
        assert policy is not None
        try:
            for im in images:
                r = None if im.name.startswith(DANGLING_PREFIX) else reference.parse(im.name)
                await asyncio.to_thread(check_load, policy, r.domain if r else "", r.path if r else "",
                                        r.tag if r else "", im.target.digest, insecure)
        except errors.DockyardError:
            after = await self._records()
            for name, rec in after.items():
                if name in before and before[name].target.digest != rec.target.digest:
                    await self.cd.images.Put(before[name])
                elif name not in before and (name.startswith(DANGLING_PREFIX) or name in {i.name for i in images}):
                    await self.cd.images.Delete(pb.DeleteImageRequest(name=name))
            self._blobs.clear()  # type: ignore[attr-defined]
            await self.collect()
            raise

    async def commit(self, container_id: str, base: Image, container_config: dict[str, Any], repo: str, tag: str,
                     comment: str, author: str, changes: list[str]) -> str:
        """``docker commit``: the container's snapshot changes become a layer on top of its image
        (without the /etc files the engine mounts into every container, as `docker diff` shows them;
        a remapped container's layer in its own ids, as containerd writes it)."""
        layer = await self.cd.create_layer(container_id, exclude=MANAGED_FILES)
        now = rfc3339()
        config = json.loads(json.dumps(base.config))
        cfg = dict(config.get("config") or {})
        for key in ("Cmd", "Entrypoint", "Env", "WorkingDir", "User", "ExposedPorts", "Labels", "Volumes",
                    "StopSignal"):
            if container_config.get(key) not in (None, "", [], {}):
                cfg[key] = container_config[key]
        cfg.update(parse_changes(changes, cfg.get("Env") or []))
        config["config"] = cfg
        config["created"] = now
        if author:
            config["author"] = author
        # Docker keeps the commit message in the config's top-level "comment" (image inspect .Comment).
        if comment:
            config["comment"] = comment
        else:
            config.pop("comment", None)
        config.setdefault("rootfs", {"type": "layers", "diff_ids": []})["diff_ids"] = [
            *config["rootfs"].get("diff_ids", []), layer.diff_id]
        config["history"] = [*(config.get("history") or []),
                             {"created": now, "created_by": "", "comment": comment, **({"author": author} if author
                                                                                          else {})}]
        config_bytes = oci_image.canonical_json(config)
        await self.cd.write_blob(config_bytes)
        config_digest = oci_image.descriptor_for(oci_image.MEDIA_TYPE_OCI_CONFIG, config_bytes).digest
        config_type = base.manifest.get("config", {}).get("mediaType", oci_image.MEDIA_TYPE_OCI_CONFIG)
        layer_desc = Descriptor(layer.layer.media_type, layer.layer.digest, layer.layer.size)
        old_layers = [Descriptor.from_oci(x) for x in base.manifest.get("layers") or []]
        manifest = oci_image.make_manifest(Descriptor(config_type, config_digest, len(config_bytes)),
                                           [*old_layers, layer_desc])
        mdesc = oci_image.descriptor_for(oci_image.MEDIA_TYPE_OCI_MANIFEST, manifest)
        await self.cd.write_blob(manifest, expected=mdesc.digest)
        name = str(reference.parse(f"{repo}:{tag}" if tag else repo)) if repo else DANGLING_PREFIX + config_digest
        await self._put_name(name, pb.Descriptor(media_type=mdesc.media_type, digest=mdesc.digest, size=mdesc.size),
                             {PARENT_LABEL: base.id})
        await self.cd.images.Unpack(pb.UnpackRequest(name=name))
        return config_digest

    async def prune(self, all_images: bool, in_use: set[str],
                    match: Callable[[Image], bool] = lambda img: True) -> dict[str, Any]:
        """Remove dangling (or, with ``all_images``, unused) images that ``match`` (prune's label and
        ``until`` filters), then collect garbage."""
        deleted: list[dict[str, str]] = []
        for img in await self.list():  # type: ignore[attr-defined]
            if img.id in in_use or not match(img):
                continue
            dangling = all(n.startswith(DANGLING_PREFIX) for n in img.names)
            if not (dangling or all_images):
                continue
            for n in img.names:
                await self.cd.images.Delete(pb.DeleteImageRequest(name=n))
                if not n.startswith(DANGLING_PREFIX):
                    deleted.append({"Untagged": reference.parse(n).familiar()})
            deleted.append({"Deleted": img.id})
        await self._deleted([d["Deleted"] for d in deleted if "Deleted" in d])
        gc = await self.cd.gc()
        self._blobs.clear()  # type: ignore[attr-defined]
        return {"ImagesDeleted": deleted or None, "SpaceReclaimed": gc.reclaimed}

    async def _deleted(self, ids: list[str]) -> None:
        for hook in self.deleted_hooks if ids else []:
            await hook(ids)
        await self.settle()

    async def collect(self) -> int:
        await self.settle()
        gc = await self.cd.gc()
        return int(gc.reclaimed)


class ImageService(RegistryImages):
    def __init__(self, containerd: ContainerdClient) -> None:
        self.cd = containerd
        self._blobs: dict[str, dict[str, Any]] = {}
        self.settle_hooks = []
        self.deleted_hooks = []

    async def _json_blob(self, digest: str) -> dict[str, Any]:
        if digest not in self._blobs:
            self._blobs[digest] = json.loads(await self.cd.read_blob(digest))
        return self._blobs[digest]

    async def _load(self, records: list[pb.Image]) -> list[Image]:
        by_target: dict[str, list[pb.Image]] = {}
        for r in records:
            by_target.setdefault(r.target.digest, []).append(r)
        # An image is its config (its ID): records whose targets differ but name one config (a local
        # image with plain layers and the gzip manifest its push made, pulled back under another
        # name) are one image with all their names, as in Docker; its manifest is the oldest record's.
        by_config: dict[str, list[tuple[str, list[pb.Image], str, dict[str, Any], dict[str, Any]]]] = {}
        for digest, recs in by_target.items():
            try:
                mdigest, manifest = await self._platform_manifest(digest)
                config = await self._json_blob(manifest["config"]["digest"])
            except errors.NotFound:
                continue  # a record whose blobs are gone: fsck's business, not a listing's
            by_config.setdefault(manifest["config"]["digest"], []).append((digest, recs, mdigest, manifest, config))
        out = []
        for config_digest, group in by_config.items():
            group.sort(key=lambda g: min(r.created_at for r in g[1]))
            digest, _, mdigest, manifest, config = group[0]
            recs = [r for g in group for r in g[1]]
            parent = next((r.labels[PARENT_LABEL] for r in recs if r.labels.get(PARENT_LABEL)), "")
            out.append(Image(config_digest, tuple(sorted(r.name for r in recs)), mdigest, manifest,
                             config, min(r.created_at for r in recs), digest, parent))
        return out

    async def _platform_manifest(self, digest: str) -> tuple[str, dict[str, Any]]:
        """The manifest a record's target stands for: itself, or an index's entry for this host.

        A multi-platform pull keeps the index as the target; the manifest is
        chosen here, at use: the host's platform if it was pulled, else the
        first platform whose manifest is in the store (``pull --platform``).
        """
        doc = await self._json_blob(digest)
        if "manifests" not in doc:
            return digest, doc
        entries = [m for m in doc.get("manifests") or [] if isinstance(m, dict) and m.get("digest")]
        host = [m for m in entries if (m.get("platform") or {}).get("architecture") == arch()
                and (m.get("platform") or {}).get("os", "linux") == "linux"]
        for m in [*host, *entries]:
            try:
                return m["digest"], await self._json_blob(m["digest"])
            except errors.NotFound:
                continue
        raise errors.NotFound(f"image {digest}: no manifest of the index is here")

    async def list(self) -> list[Image]:
        resp = await self.cd.images.List(pb.ListImagesRequest())
        images = await self._load(list(resp.images))
        return sorted(images, key=lambda i: i.created, reverse=True)

    async def get(self, ref: str, all_names: bool = True) -> Image:
        """Find an image by reference, full ID or unambiguous ID prefix, as Docker does.

        ``all_names=False``: a reference yields the image under that one name, without listing
        every image to collect its other names (what ``create`` needs: the ID and the config)."""
        hexpart = ref.removeprefix("sha256:")
        if re.fullmatch(r"[0-9a-f]{1,64}", hexpart) and (ref.startswith("sha256:") or len(hexpart) >= 4):
            matches = [i for i in await self.list() if i.id.removeprefix("sha256:").startswith(hexpart)]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise errors.InvalidArgument(f"multiple IDs found with provided prefix: {ref}")
        try:
            name = str(reference.parse(ref))
        except errors.InvalidArgument:
            raise errors.NotFound(f"No such image: {ref}") from None
        try:
            rec = await self.cd.images.Get(pb.GetImageRequest(name=name))
        except errors.NotFound:
            found = await self._by_repo_digest(reference.parse(ref))
            if found is None:
                raise errors.NotFound(f"No such image: {reference.parse(ref).familiar()}") from None
            return found
        (img,) = await self._load([rec])
        if not all_names:
            return img
        # Give the image all its names, not just the one asked for.
        return next((i for i in await self.list() if i.id == img.id), img)

    async def _by_repo_digest(self, r: reference.Reference) -> Image | None:
        """``repo@digest`` as dockerd resolves it: the image some tag of ``repo`` names by that digest."""
        if not r.digest:
            return None
        return next((i for i in await self.list() if r.digest in (i.repo_digest, i.manifest_digest)
                     and any(n == r.name for n in _repositories(i))), None)

    async def import_rootfs(self, chunks: AsyncIterator[bytes], repo: str, tag: str, changes: builtins.list[str],
                            message: str, platform: tuple[str, str, str] | None = None) -> Image:
        """``docker import``: a rootfs tar becomes a one-layer image (gzip layer, config, OCI manifest),
        for ``platform`` (os, architecture, variant) when one is given, else for this host."""
        name = ""
        if repo:
            ref = reference.parse(repo if not tag else f"{repo}:{tag}")
            if ref.digest:
                raise errors.InvalidArgument("cannot import with a digest reference")
            name = str(ref)
        config_overrides = parse_changes(changes)
        failed: builtins.list[errors.DockyardError] = []
        layer = await self.cd.import_layer(_stopping_at_error(chunks, failed))
        if failed:  # the body was refused midway (a corrupt compressed stream): what was stored goes
            await self.collect()
            raise failed[0]
        try:  # unpacked before anything names it: a tar that does not apply leaves no image
            await self.cd.apply_layer({"mediaType": layer.layer.media_type, "digest": layer.layer.digest,
                                       "size": layer.layer.size}, layer.diff_id, "")
        except errors.DockyardError:
            await self.collect()  # the stored layer, which nothing names
            raise
        now = rfc3339()
        config = oci_image.make_config(
            [layer.diff_id], os=platform[0] if platform else "linux", architecture=platform[1] if platform else arch(),
            variant=platform[2] if platform and platform[2] else None, config=config_overrides, created=now,
            history=[{"created": now, "created_by": "", "comment": message or "Imported from -"}])
        config_info = await self.cd.write_blob(config)
        config_desc = oci_image.descriptor_for(oci_image.MEDIA_TYPE_OCI_CONFIG, config)
        layer_desc = Descriptor(layer.layer.media_type, layer.layer.digest, layer.layer.size)
        manifest = oci_image.make_manifest(config_desc, [layer_desc])
        manifest_desc = oci_image.descriptor_for(oci_image.MEDIA_TYPE_OCI_MANIFEST, manifest)
        await self.cd.write_blob(manifest, expected=manifest_desc.digest)
        name = name or DANGLING_PREFIX + config_info.digest
        target = pb.Descriptor(media_type=manifest_desc.media_type, digest=manifest_desc.digest,
                               size=manifest_desc.size)
        await self._put_name(name, target)
        await self.cd.images.Unpack(pb.UnpackRequest(name=name))
        return await self.get(name)

    async def deletion(self, ref: str) -> tuple[Image, builtins.list[str], bool]:
        """What ``rmi ref`` takes away: the image ``ref`` finds, those of its names that go (the image
        itself goes with its last), and whether ``ref`` is a name (by ID, every name goes)."""
        img = await self.get(ref)
        try:
            r = reference.parse(ref)
        except errors.InvalidArgument:
            return img, list(img.names), False
        if str(r) in img.names:  # only that name goes (Docker: `rmi -f repo:tag` untags, never deletes the other tags)
            return img, [str(r)], True
        if r.digest:  # repo@digest: every tag of that repository naming the image goes
            return img, [n for n in img.names
                         if not n.startswith(DANGLING_PREFIX) and reference.parse(n).name == r.name], True
        return img, list(img.names), False

    async def delete(self, ref: str, force: bool = False,
                     planned: tuple[Image, builtins.list[str], bool] | None = None) -> builtins.list[dict[str, str]]:
        """``rmi ref``; ``planned``: its ``deletion``, when the caller has looked at it already."""
        img, names, by_name = planned or await self.deletion(ref)
        # By ID, every name goes, which needs force when there are several.
        if not by_name and len(img.names) > 1 and not force:
            short = img.id.removeprefix("sha256:")[:12]  # dockerd names the image by its short ID here
            raise errors.Conflict(f"conflict: unable to delete {short} (must be forced) - image is referenced in "
                                  "multiple repositories")
        out = []
        for n in names:
            await self.cd.images.Delete(pb.DeleteImageRequest(name=n))
            if not n.startswith(DANGLING_PREFIX):
                out.append({"Untagged": reference.parse(n).familiar()})
        if len(names) == len(img.names):
            out.append({"Deleted": img.id})
            self._blobs.clear()
            await self._deleted([img.id])
            await self.collect()  # an image's blobs and snapshots go with its last name
        return out


def _repositories(img: Image) -> list[str]:
    return [reference.parse(n).name for n in img.names if not n.startswith(DANGLING_PREFIX)]


async def _denied_until_resolved(r: reference.Reference, messages: AsyncIterator[pb.Progress]
                                 ) -> AsyncIterator[pb.Progress]:
    """A pull's progress; a repository the registry does not know or will not show (404/401/403
    before the reference resolved) is dockerd's "pull access denied" NotFound."""
    resolved = False
    try:
        async for msg in messages:
            resolved = resolved or msg.status == "Resolved"
            yield msg
    except (errors.NotFound, errors.PermissionDenied) as err:
        if resolved:
            raise
        raise errors.NotFound(f"pull access denied for {r.familiar_name()}, repository does not exist or may "
                              f"require 'docker login': {err}") from err


async def _stopping_at_error(chunks: AsyncIterator[bytes], failed: list[errors.DockyardError]
                             ) -> AsyncIterator[bytes]:
    """``chunks`` until one raises; the error is kept in ``failed`` for the caller. (An exception in a
    gRPC request stream only cancels the call: the client would see its connection dropped.)"""
    try:
        async for chunk in chunks:
            yield chunk
    except errors.DockyardError as err:
        failed.append(err)
