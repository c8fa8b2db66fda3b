"""A daemon's start: what the previous one left. The tasks that kept running are followed again
(their output, their exit, their network), the ones that ended are settled, the restart policies
start what they keep up, and what containerd still holds of removed containers goes."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from dockyard import errors
from dockyard.api import pb
from dockyard.engine import logdrivers
from dockyard.engine.streams import STDERR, STDOUT, OutputFifo, copy_output

if TYPE_CHECKING:
    from dockyard.engine.daemon import Engine

log = logging.getLogger("dockyard.engine")


async def readopt_tasks(eng: Engine) -> None:
    """After a restart: follow the tasks that kept running, settle the ones that ended."""
    await eng.networks.forget_unknown(set(eng.containers))
    await _remove_orphans(eng)
    for c in list(eng.containers.values()):
        if not c.state.running:
            continue
        live = eng.live_of(c.id)
        try:
            task = await eng.cd.tasks.State(pb.TaskRequest(container_id=c.id))
            alive = task.status in ("running", "created", "paused", "stopped")
        except errors.NotFound:
            alive = False
        if alive:
            fifo_dir = eng.exec_root / "containers" / c.id
            fifos = {stream: OutputFifo.open(fifo_dir / fname)
                     for stream, fname in ((STDOUT, "stdout"), (STDERR, "stderr")) if (fifo_dir / fname).exists()}
            live.copier = asyncio.create_task(copy_output(fifos, live.hub, await logdrivers.writer(eng, c, readopt=True)))
            live.monitor = asyncio.create_task(eng.monitor(c, live))
            await eng.networks.readopt(c, True)  # ports and DNS back
        else:
            await eng.networks.readopt(c, False)
            c.state.lost()
            eng.save(c)
    # Restart policies survive the daemon: always, and unless-stopped unless a user stopped it.
    for c in list(eng.containers.values()):
        policy = c.host_config.restart_policy_name
        restarting = c.state.restarting
        if c.state.running or c.has_been_manually_stopped:
            continue
        if policy in ("always", "unless-stopped") or (restarting and policy == "on-failure"):
            c.state.restart_dropped()
            try:
                await eng.start(c.id)
            except errors.DockyardError as err:
                log.error("container %s: restart at daemon start failed: %s", c.id[:12], err)


async def _remove_orphans(eng: Engine) -> None:
    """containerd records of containers the engine no longer has (a crash between a
    removal and the cleanup behind it, a build's RUN container): their task, record and
    snapshot go."""
    for rec in (await eng.cd.containers.List(pb.ListContainersRequest())).containers:
        if rec.id in eng.containers:
            continue
        log.info("container %s: removing what a removed container left in containerd", rec.id[:12])
        await eng.delete_task(rec.id)
        try:
            await eng.remove_resources(rec.id, rec.snapshot_key)
        except errors.DockyardError as err:
            log.error("container %s: removing what it left failed: %s", rec.id[:12], err)


async def create_task(eng: Engine, req: pb.CreateTaskRequest) -> Any:
    """Tasks.Create; a task containerd still has from a run whose end the engine missed (containerd
    went away in between) is the engine's to end: killed, deleted, and the create made again, as
    dockerd does with a container "not cleaned up from containerd from a previous run"."""
    try:
        return await eng.cd.tasks.Create(req)
    except errors.AlreadyExists:
        log.warning("container %s: removing the task left from an earlier run", req.container_id[:12])
    try:
        await eng.cd.tasks.Kill(pb.KillRequest(container_id=req.container_id, signal=9, all=True))
    except errors.DockyardError:
        pass  # not running any more: the delete below is all it needs
    await eng.delete_task(req.container_id)
    return await eng.cd.tasks.Create(req)
