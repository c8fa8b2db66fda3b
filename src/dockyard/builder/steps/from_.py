"""FROM: a stage starts on an earlier stage's state, a local image's, or scratch; the base
image's ONBUILD triggers run first, as the classic builder runs them."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from dockyard import errors
from dockyard.builder import instructions as ins
from dockyard.builder.parser import parse
from dockyard.builder.state import BuildFailed, State, arch, short

if TYPE_CHECKING:
    from dockyard.builder.build import Build


async def start(b: Build, stage: ins.Stage, args: dict[str, str]) -> State:
    """The stage's first state, announced as its FROM step, with the base's triggers applied."""
    base = b.expand_meta(stage.base, stage.line)
    dep = b.df.stage(base)
    if dep is not None and dep.index < stage.index:
        parent = await b.results[dep.index]
        state = State(copy.deepcopy(parent.config), list(parent.layers), parent.id)
    else:
        state = await base_image(b, base)
    b.announce(" ".join(["FROM", base] + (["AS", stage.name] if stage.name else [])))
    b.emit(f" ---> {short(state.id) if state.id else 'scratch'}\n")
    if b.opts.squash:  # the stage's base as it was, before its triggers: what --squash squashes onto
        b.bases[stage.index] = State(copy.deepcopy(state.config), list(state.layers), state.id)
    onbuild = list(state.cfg.get("OnBuild") or [])
    if onbuild:
        state.cfg["OnBuild"] = None
        b.emit(f"# Executing {len(onbuild)} build trigger{'s' if len(onbuild) > 1 else ''}\n")
        for expr in onbuild:
            node = parse(expr).ast.children[0]
            state = await b.instruction(state, ins.to_instruction(node), args, stage)
    return state


async def base_image(b: Build, ref: str) -> State:
    """The state of a local image (or scratch): FROM, and COPY --from or RUN --mount from an image."""
    if ref == "scratch":
        cfg = {"architecture": arch(), "os": "linux", "config": {}, "rootfs": {"type": "layers", "diff_ids": []},
               "history": []}
        return State(cfg, [], "")
    try:
        img = await b.builder.engine.images.get(ref)
    except errors.NotFound:
        img = await _pull(b, ref)
    if b.opts.pull:
        b.emit(f"[Warning] --pull: no registry is reachable; using the local image {ref}\n")
    config = copy.deepcopy(img.config)
    layers = [dict(lay) for lay in img.manifest.get("layers", [])]
    return State(config, layers, img.id)


async def _pull(b: Build, ref: str) -> Any:
    """A base image that is not local is pulled, as the classic builder does, through the engine's pull:
    the daemon's signature policy judges it (a refusal fails the build, nothing is stored)."""
    eng = b.builder.engine
    try:
        async for msg in eng.images.pull(ref, b.opts.platform, None, list(getattr(eng, "insecure_registries", []))):
            if msg.get("status") and not msg.get("progressDetail"):
                b.emit(f"{msg['id']}: {msg['status']}\n" if msg.get("id") else f"{msg['status']}\n")
    except errors.PermissionDenied as err:
        raise BuildFailed(str(err)) from None
    except errors.DockyardError as err:
        raise BuildFailed(f"pull access denied for {ref}: the image is not present locally and its pull "
                          f"failed: {err}") from None
    return await eng.images.get(ref)
