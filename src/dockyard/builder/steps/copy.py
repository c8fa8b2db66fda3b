"""COPY and ADD: a layer built here as a tar from the build context, another stage's layers or
an image's (ADD also unpacks a local archive), then imported through containerd: nothing is
mounted in the engine. ``--chown`` names are read from the state's layers."""

from __future__ import annotations

import asyncio
import copy as _copy
import hashlib
import posixpath
import tarfile
from typing import TYPE_CHECKING

from dockyard.buildcontext.dockerignore import Matcher
from dockyard.builder import instructions as ins
from dockyard.builder.context import (
    ContextDir,
    FileTree,
    OnDisk,
    Payload,
    is_archive,
    open_payload,
    payload_chunks,
    read_payload,
)
from dockyard.builder.layers import renamed, sha256, spooled, tar_parts
from dockyard.builder.state import BuildFailed, State, df_name
from dockyard.builder.steps import from_

if TYPE_CHECKING:
    from dockyard.builder.build import Build


async def copy(b: Build, state: State, inst: ins.Copy, env: dict[str, str]) -> State:
    """COPY, ADD: the layer of the files from the context, another stage or an image (ADD also
    unpacks a local archive), planned and hashed first, written only on a cache miss."""
    line = inst.line
    x = lambda w: b.x(w, env, line)
    name = inst.name.upper()
    src_tree = b.ctx
    from_ref = inst.flags.get("from")
    if from_ref:
        ref = x(from_ref)
        st = b.df.stage(ref)
        if st is not None:
            src_tree = await b.builder.tree_of(await b.results[st.index])
        else:
            src_tree = await b.builder.tree_of(await from_.base_image(b, ref))
    sources = [x(s) for s in inst.sources]
    for s in sources:
        if "://" in s:
            if inst.name == "add":
                raise BuildFailed(f"{df_name(b.opts)}:{line}: ADD {s}: remote URLs need network access, "
                                  "which this builder does not have")
            raise BuildFailed(f"{df_name(b.opts)}:{line}: COPY does not take URLs: {s}")
    dest = x(inst.dest)
    wd = state.cfg.get("WorkingDir") or "/"
    dest_dir_hint = dest.endswith("/") or dest in (".", "")
    dest_abs = posixpath.normpath(posixpath.join(wd, dest)).lstrip("/")
    chown = x(inst.flags["chown"]) if inst.flags.get("chown") else ""
    uid = gid = None
    if chown:
        uid, gid = await _chown_ids(b, state, chown, line)
    chmod = int(inst.flags["chmod"], 8) if inst.flags.get("chmod") else None
    excludes = [x(e) for e in inst.flags.get("exclude") or []]
    parents = bool(inst.flags.get("parents"))
    matches: list[str] = []
    for s in sources:
        found = src_tree.glob(s)
        if not found:
            raise BuildFailed(f"{name} failed: file not found in build context or excluded by .dockerignore: "
                              f"stat {s}: file does not exist")
        matches += found
    heredoc_files = [(h.name, h.content) for h in inst.heredocs]
    multi = len(matches) + len(heredoc_files) > 1 or any(c in "".join(sources) for c in "*?[")
    parent_tree = await b.builder.tree_of(state) if state.layers and not dest_dir_hint else None
    dest_is_dir = dest_dir_hint or multi or (parent_tree is not None and parent_tree.is_dir(dest_abs))

    exclude = Matcher.from_text("\n".join(excludes)) if excludes else None
    # The layer's members are planned first and hashed (paths, metadata, bytes) for the cache
    # key; the tar itself is written only on a miss, so a cached COPY costs a hash.
    items: list[tuple[tarfile.TarInfo, Payload]] = []
    idents: list[str] = []  # per item: what names its bytes without reading them ("" if nothing)

    def add(info: tarfile.TarInfo, data: Payload, path: str, ident: str = "") -> None:
        idents.append(ident if info.isreg() else "")
        ti = _copy.copy(info)
        ti.name = path
        ti.pax_headers = {}
        if from_ref is None:
            ti.uid, ti.gid = 0, 0
        if uid is not None:
            ti.uid, ti.gid = uid, gid if gid is not None else uid
        ti.uname = ti.gname = ""
        if chmod is not None and not ti.issym():
            ti.mode = chmod
        items.append((ti, data if ti.isreg() else b""))

    for h_name, content in heredoc_files:
        target = posixpath.join(dest_abs, h_name) if dest_is_dir else dest_abs
        ti = tarfile.TarInfo(target)
        ti.size = len(content.encode())
        ti.mode = 0o644
        ti.mtime = 0
        add(ti, content.encode(), target)
    for m in matches:
        rel_root = src_tree.resolve(src_tree.norm(m))
        entries = src_tree.walk(m)
        root_entry = src_tree.entries.get(rel_root)
        is_dir = root_entry is None or root_entry.info.isdir()
        for e in entries:
            rel = e.info.name
            if exclude is not None and exclude.excluded(rel):
                continue
            if is_dir:
                sub = rel[len(rel_root):].lstrip("/") if rel_root else rel
                if not sub:
                    continue  # the directory itself: its contents go to dest
                base = posixpath.join(dest_abs, posixpath.dirname(m)) if parents else dest_abs
                path = posixpath.join(base, posixpath.basename(m.rstrip("/")), sub) \
                    if parents and m else posixpath.join(base, sub)
            else:
                if inst.name == "add" and from_ref is None and e.info.isreg() and is_archive(e.data):
                    await asyncio.to_thread(_untar_into, items, e.data, dest_abs, b.ctx.store)
                    idents += [""] * (len(items) - len(idents))  # unpacked members: known by their bytes
                    continue
                if parents:
                    path = posixpath.join(dest_abs, rel)
                elif dest_is_dir:
                    path = posixpath.join(dest_abs, posixpath.basename(rel))
                else:
                    path = dest_abs
            add(e.info, e.data, path, e.ident)
    # The layer tar is planned as pieces (headers, the files' bytes, padding) and hashed
    # without being joined: its digest is both the cache key's content part and, as build
    # layers are stored uncompressed, the layer's diff_id and blob digest. The tar is fixed
    # by its members' metadata and bytes; a big file's bytes are named by its ident (where
    # it came in), so the same members give the digest computed before without reading them.
    memo = hashlib.sha256(b"copy-layer\0")
    for (ti, data), ident in zip(items, idents):
        memo.update(f"{ti.name}\0{ti.type!r}\0{ti.mode}\0{ti.uid}\0{ti.gid}\0{ti.mtime}\0{ti.size}\0"
                    f"{ti.linkname}\0{ti.devmajor}\0{ti.devminor}\0{ident}\0".encode())
        if not ident:
            for piece in payload_chunks(data):
                memo.update(piece)  # generated or unpacked files: their bytes are their name
    memo_key = memo.hexdigest()
    parts: list[bytes | memoryview | OnDisk] | None = None
    content_digest = b.builder.copy_digests.get(memo_key, "")
    if not content_digest:
        parts = tar_parts(items)
        content_digest = await asyncio.to_thread(sha256, parts)
        if len(b.builder.copy_digests) > 4096:
            b.builder.copy_digests.clear()
        b.builder.copy_digests[memo_key] = content_digest
    diff_id = "sha256:" + content_digest
    created_by = f"/bin/sh -c #(nop) {name} {'dir' if multi else 'file'}:{content_digest} in {dest} "

    async def make() -> State:
        new = b.next(state, created_by, False)
        new.layers.append(await b.builder.store_layer(state, parts or tar_parts(items), diff_id, name))
        new.config.setdefault("rootfs", {"type": "layers", "diff_ids": []})["diff_ids"].append(diff_id)
        return new

    return await b.cached(state, ["copy", inst.original.strip(), dest, content_digest], make,
                              created_by=created_by)


def _untar_into(items: list[tuple[tarfile.TarInfo, Payload]], data: Payload, dest: str,
                store: ContextDir | None) -> None:
    """The members of an ADDed archive, read as a stream: big files are written to the
    context's directory (``store``), not held in memory."""
    with open_payload(data) as f, tarfile.open(fileobj=f, mode="r|*") as inner:
        for m in inner:
            name = FileTree.norm(m.name)
            if not name:
                continue
            if posixpath.basename(name).startswith(".wh."):  # a layer would read it as a deletion
                raise BuildFailed(f"ADD: archive member {m.name!r}: a whiteout name cannot be stored in a layer")
            payload: Payload = b""
            if m.isreg():
                payload = spooled(inner.extractfile(m), m.size, store)  # type: ignore[arg-type]
            if m.islnk():
                m = _copy.copy(m)
                m.linkname = posixpath.join(dest, FileTree.norm(m.linkname))
            items.append((renamed(_copy.copy(m), posixpath.join(dest, name)), payload))


async def _chown_ids(b: Build, state: State, chown: str, line: int) -> tuple[int, int]:
    """``--chown=user[:group]``: numbers as given, names from the state's /etc/passwd and
    /etc/group (read from its layer blobs through containerd, never from a mount)."""
    user, _, group = chown.partition(":")
    tree: FileTree | None = None

    async def table(path: str) -> list[list[str]]:
        nonlocal tree
        if tree is None:
            tree = await b.builder.tree_of(state) if state.layers else FileTree()
        e = tree.entries.get(tree.resolve(path))
        text = read_payload(e.data, 1 << 20).decode("utf-8", "replace") if e is not None else ""
        return [ln.split(":") for ln in text.splitlines() if ln and not ln.startswith("#")]

    def fail(what: str) -> BuildFailed:
        return BuildFailed(f"{df_name(b.opts)}:{line}: --chown={chown}: unable to find {what}")

    if user.isdigit():
        uid, primary = int(user), int(user)
    else:
        row = next((r for r in await table("etc/passwd") if r[0] == user and len(r) > 3), None)
        if row is None:
            raise fail(f"user {user}: no matching entries in passwd file")
        uid, primary = int(row[2]), int(row[3])
    if not group:
        return uid, primary
    if group.isdigit():
        return uid, int(group)
    grow = next((r for r in await table("etc/group") if r[0] == group and len(r) > 2), None)
    if grow is None:
        raise fail(f"group {group}: no matching entries in group file")
    return uid, int(grow[2])
