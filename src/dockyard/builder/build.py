"""One build: the stage graph of a Dockerfile, its build args, the progress numbering, and the
build cache of its steps (with ``--cache-from``, the classic builder's match on a source image's
history). Each instruction is carried out by its family's module in ``steps/``."""

from __future__ import annotations

import asyncio
import copy
import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dockyard import errors
from dockyard.builder import instructions as ins
from dockyard.builder.context import FileTree
from dockyard.builder.shell_lex import ShellLex
from dockyard.builder.state import BuildOptions, State, df_name, digest, now, short
from dockyard.builder.steps import copy as copy_step
from dockyard.builder.steps import from_, metadata, run
from dockyard.oci import image as oci_image

if TYPE_CHECKING:
    from dockyard.builder.executor import Builder


class Build:
    """One build: the stage graph, global args, and progress numbering."""

    def __init__(self, b: Builder, df: ins.Dockerfile, ctx: FileTree, opts: BuildOptions,
                 emit: Callable[[str], None]) -> None:
        self.builder = b
        self.df = df
        self.ctx = ctx
        self.opts = opts
        self.emit = emit
        self.lex = ShellLex(df.escape)
        self.meta: dict[str, str] = {}
        self.used_args: set[str] = set()
        for a in df.meta_args:
            for k, default in a.args:
                v = opts.build_args.get(k, default)
                if k in opts.build_args:
                    self.used_args.add(k)
                if v is not None:
                    self.meta[k] = ins.expand(self.lex, v, self.meta, a.line, df_name(opts))
                else:
                    self.meta.setdefault(k, "")
        self.results: dict[int, asyncio.Task[State]] = {}
        target = df.stages[-1]
        if opts.target:
            t = df.stage(opts.target)
            if t is None:
                raise errors.InvalidArgument(f"failed to reach build target {opts.target} in Dockerfile")
            target = t
        self.target = target
        self.needed = self._needed(target)
        self.total = sum(1 + len(s.instructions) for s in df.stages if s.index in self.needed)
        self.step = 0
        self._sources: list[tuple[dict[str, Any], list[dict[str, Any]]]] | None = None
        self.secrets: dict[str, bytes] = {}
        self.cmd_stages: set[int] = set()  # stages whose own CMD an ENTRYPOINT must not clear
        self.bases: dict[int, State] = {}  # with --squash: each stage's FROM state, before its base's triggers
        self.keys: list[str] = []  # the cache entries of every step, bound to the image the build makes

    def _deps(self, stage: ins.Stage) -> list[int]:
        out = []
        base = self.expand_meta(stage.base, stage.line)
        dep = self.df.stage(base)
        if dep is not None and dep.index < stage.index:
            out.append(dep.index)
        for i in stage.instructions:
            refs = [i.flags["from"]] if isinstance(i, ins.Copy) and i.flags.get("from") else []
            if isinstance(i, ins.Run):
                refs += [f.split("=", 1)[1] for m in i.flags.get("mount") or [] for f in m.split(",")
                         if f.strip().startswith("from=")]
            for ref in refs:
                src = self.df.stage(self.expand_meta(ref, i.line))
                if src is not None and src.index < stage.index:
                    out.append(src.index)
        return out

    def _needed(self, target: ins.Stage) -> set[int]:
        seen: set[int] = set()
        todo = [target.index]
        while todo:
            i = todo.pop()
            if i in seen:
                continue
            seen.add(i)
            todo += self._deps(self.df.stages[i])
        return seen

    def expand_meta(self, word: str, line: int) -> str:
        return ins.expand(self.lex, word, self.meta, line, df_name(self.opts))

    async def execute(self) -> State:
        for s in self.df.stages:
            if s.index in self.needed:
                self.results[s.index] = asyncio.ensure_future(self._stage(s))
        try:
            await asyncio.gather(*self.results.values())
        except BaseException:
            for t in self.results.values():
                t.cancel()
            raise
        unused = sorted(k for k in self.opts.build_args if k not in self.used_args)
        if unused:
            self.emit(f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed\n")
        return self.results[self.target.index].result()

    def announce(self, text: str) -> None:
        self.step += 1
        self.emit(f"Step {self.step}/{self.total} : {text}\n")

    async def _stage(self, stage: ins.Stage) -> State:
        args: dict[str, str] = {}
        state = await from_.start(self, stage, args)
        for inst in stage.instructions:
            self.announce(inst.original.strip())
            state = await self.instruction(state, inst, args, stage)
        if not state.id:
            state.id = await self.builder.write_config(state)
        return state

    # -- one instruction -----------------------------------------------------------

    def env(self, state: State, args: dict[str, str]) -> dict[str, str]:
        env = dict(args)
        for e in state.cfg.get("Env") or []:
            k, _, v = e.partition("=")
            env[k] = v
        return env

    def x(self, word: str, env: dict[str, str], line: int) -> str:
        return ins.expand(self.lex, word, env, line, df_name(self.opts))

    async def instruction(self, state: State, inst: ins.Instruction, args: dict[str, str],
                          stage: ins.Stage) -> State:
        """One instruction on ``state`` by its family's step (``args``: the stage's ARGs so far)."""
        env = self.env(state, args)
        if isinstance(inst, ins.Arg):
            metadata.arg(self, inst, env, args)
            return state  # Docker's classic builder records ARG in no image
        if isinstance(inst, ins.Run):
            return await run.run(self, state, inst, env, args)
        if isinstance(inst, ins.Copy):
            return await copy_step.copy(self, state, inst, env)
        return await metadata.apply(self, state, inst, env, stage)

    async def cached(self, state: State, key_parts: list[str], make: Callable[[], Any],
                     created_by: str = "", metadata: bool = False) -> State:
        """The step's state from the build cache, or ``make()``'s. With ``cache_from`` the cache
        is limited to those images, as dockerd's classic builder limits it: a stored step counts
        only when its state is one of theirs (``_derived``), and a step their history made is
        taken from them (``_from_cache_images``; ``metadata``: a step with no layer of its own)."""
        key = digest(state.id or "scratch", *key_parts)
        self.keys.append(key)
        if not self.opts.no_cache:
            await self.builder.record_stored(key)  # another build may be storing this very entry
            hit = self.builder.cache.get(key)
            if hit is not None and await self.builder.has_blobs([hit[0], hit[2]] + [lay["digest"] for lay in hit[1]]):
                loaded = await self.builder.load_state(hit[0], hit[1])
                if loaded is not None and (not self.opts.cache_from or self._derived(loaded,
                                                                                    await self._cache_sources())):
                    self.emit(" ---> Using cache\n")
                    self.emit(f" ---> {short(loaded.id)}\n")
                    return loaded
            if created_by:
                reused = await self._from_cache_images(state, created_by, make if metadata else None)
                if reused is not None:
                    self.emit(" ---> Using cache\n")
                    return await self._remember(key, state, reused)
        new: State = await make()
        return await self._remember(key, state, new)

    async def _remember(self, key: str, state: State, new: State) -> State:
        """Write the new state's config and its cache entry (with a GC root naming what it needs)."""
        data = oci_image.canonical_json(new.config)
        new.id = "sha256:" + hashlib.sha256(data).hexdigest()
        self.builder.remember_config(new.id, data)
        size = sum(int(lay.get("size", 0)) for lay in new.layers[len(state.layers):])
        saved = State(new.config, list(new.layers), new.id)  # later steps copy, never change, a state

        async def store_config() -> None:
            try:
                await self.builder.cd.write_blob(data, expected=saved.id)
            except errors.AlreadyExists:
                pass

        async def store_record() -> None:
            await config
            root = await self.builder.write_root(key, saved)
            self.builder.cache.put(key, saved.id, saved.layers, size, root)

        config = self.builder.store_config_behind(store_config(), saved.id)
        self.builder.store_record_behind(store_record(), key)
        self.emit(f" ---> {short(new.id)}\n")
        return new

    async def _cache_sources(self) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
        """The ``cache_from`` images found locally: (config, layers) each; missing ones are skipped."""
        if self._sources is None:
            self._sources = []
            for ref in self.opts.cache_from:
                try:
                    img = await self.builder.engine.images.get(ref)
                except errors.NotFound:
                    self.emit(f"[Warning] --cache-from {ref}: no such local image\n")
                    continue
                self._sources.append((img.config, [dict(lay) for lay in img.manifest.get("layers", [])]))
        return self._sources

    @staticmethod
    def _derived(state: State, sources: list[tuple[dict[str, Any], list[dict[str, Any]]]]) -> bool:
        """Whether ``state`` is one of the states a source image was built through: its history
        and layers begin the source's (dockerd: the cached image is a parent of a source)."""
        hist = [h.get("created_by") for h in state.config.get("history") or []]
        ids = (state.config.get("rootfs") or {}).get("diff_ids") or []
        for cfg, _ in sources:
            src_hist = [h.get("created_by") for h in cfg.get("history") or []]
            src_ids = (cfg.get("rootfs") or {}).get("diff_ids") or []
            if src_hist[:len(hist)] == hist and len(src_hist) >= len(hist) and src_ids[:len(ids)] == ids:
                return True
        return False

    async def _from_cache_images(self, state: State, created_by: str,
                                 make: Callable[[], Any] | None = None) -> State | None:
        """``--cache-from``: the classic builder's match on an image's history and layers.

        A source image matches when its history starts with the state's (same ``created_by``
        and layers) and its next entry was made by the same instruction; the next state is the
        parent's config with that history entry and, for a layer step, the source's next layer.
        A metadata step (``make`` given) is made again (no container runs for one) and keeps the
        source's timestamp.
        """
        if not self.opts.cache_from:
            return None
        hist = state.config.get("history") or []
        diff_ids = (state.config.get("rootfs") or {}).get("diff_ids") or []
        for cfg, layers in await self._cache_sources():
            src_hist = cfg.get("history") or []
            src_ids = (cfg.get("rootfs") or {}).get("diff_ids") or []
            n = len(hist)
            if len(src_hist) <= n or src_ids[:len(diff_ids)] != diff_ids:
                continue
            if [h.get("created_by") for h in src_hist[:n]] != [h.get("created_by") for h in hist]:
                continue
            h = src_hist[n]
            if h.get("created_by") != created_by:
                continue
            empty = bool(h.get("empty_layer"))
            if not empty and len(src_ids) <= len(diff_ids):
                continue
            if make is not None:
                new = await make()
            else:
                new = self.next(state, created_by, empty)
                if not empty:
                    new.layers.append(layers[len(diff_ids)])
                    new.config.setdefault("rootfs", {"type": "layers", "diff_ids": []})["diff_ids"].append(
                        src_ids[len(diff_ids)])
            new.config["created"] = new.config["history"][-1]["created"] = h.get("created") or new.config["created"]
            return new
        return None

    def next(self, state: State, created_by: str, empty: bool) -> State:
        config = copy.deepcopy(state.config)
        config["created"] = now()
        hist = {"created": config["created"], "created_by": created_by}
        if empty:
            hist["empty_layer"] = True
        config.setdefault("history", []).append(hist)
        config.setdefault("config", {})
        return State(config, list(state.layers))

