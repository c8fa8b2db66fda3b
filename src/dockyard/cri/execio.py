"""The I/O of running containers: ``ExecSync`` (output collected, a timeout), and through the
streaming server ``Exec`` (stdin, tty and resizes) and ``Attach`` (the container's output from now
on, the client's input to its stdin). Exec processes run in the container's task by containerd,
with FIFOs under the container's FIFO directory."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import shutil
from typing import TYPE_CHECKING, Any

from dockyard import errors
from dockyard.api import pb
from dockyard.cri import spec as specs
from dockyard.cri.api import api_pb2 as cri
from dockyard.cri.store import decode
from dockyard.engine.streams import STDOUT, OutputFifo, StdinWriter, cancel_unawaited, gather_unawaited
from dockyard.fsmode import private_dir

if TYPE_CHECKING:
    from dockyard.cri.runtime import Runtime

log = logging.getLogger("dockyard.cri")


class DeadlineExceeded(errors.DockyardError):
    """An exec that outlived its timeout (gRPC DEADLINE_EXCEEDED)."""


async def exec_sync(rt: Runtime, id: str, cmd: list[str], timeout: int) -> tuple[bytes, bytes, int]:
    c = rt.running(id)
    if not cmd:
        raise errors.InvalidArgument("exec: no command")
    record = await rt.cd.containers.Get(pb.GetContainerRequest(id=c.id))
    process = specs.exec_process(json.loads(record.spec).get("process") or {}, cmd)
    exec_id = secrets.token_hex(8)
    d = rt.fifo_dir(c.id) / f"exec-{exec_id}"
    private_dir(d)
    out = {n: OutputFifo.create(d / n) for n in ("stdout", "stderr")}
    collected: dict[str, bytearray] = {n: bytearray() for n in out}

    async def drain(name: str) -> None:
        async for data in out[name].chunks():
            collected[name] += data

    pumps = gather_unawaited(*(drain(n) for n in out))
    try:
        try:
            await rt.cd.tasks.Exec(pb.ExecProcessRequest(
                container_id=c.id, exec_id=exec_id, spec=json.dumps(process).encode(),
                stdout=str(d / "stdout"), stderr=str(d / "stderr")))
        except errors.DockyardError as err:
            raise errors.Internal(f"exec in container {c.id}: {err}") from err
        wait = rt.cd.tasks.Wait(pb.TaskRequest(container_id=c.id, exec_id=exec_id))
        try:
            status = await asyncio.wait_for(wait, timeout if timeout > 0 else None)
        except TimeoutError:
            try:
                await rt.cd.tasks.Kill(pb.KillRequest(container_id=c.id, exec_id=exec_id, signal=9))
            except errors.DockyardError:
                pass
            raise DeadlineExceeded(f"command {cmd!r} timed out after {timeout}s") from None
        try:
            await asyncio.wait_for(asyncio.shield(pumps), 5)
        except TimeoutError:
            pass
        return bytes(collected["stdout"]), bytes(collected["stderr"]), int(status.exit_status)
    finally:
        cancel_unawaited(pumps)
        for f in out.values():
            f.close()
        try:
            await rt.cd.tasks.Delete(pb.TaskRequest(container_id=c.id, exec_id=exec_id))
        except errors.DockyardError:
            pass
        shutil.rmtree(d, ignore_errors=True)


async def exec_stream(rt: Runtime, id: str, cmd: list[str], tty: bool, io: Any) -> int:
    """``Exec`` through the streaming server: ``io`` (streaming.RemoteIO) carries the client's
    stdin and resizes and takes the output; the exit code comes back."""
    c = rt.running(id)
    if not cmd:
        raise errors.InvalidArgument("exec: no command")
    record = await rt.cd.containers.Get(pb.GetContainerRequest(id=c.id))
    process = specs.exec_process(json.loads(record.spec).get("process") or {}, cmd)
    process["terminal"] = tty
    exec_id = secrets.token_hex(8)
    d = private_dir(rt.fifo_dir(c.id) / f"exec-{exec_id}")
    streams = [n for n in ("stdout", "stderr") if io.has(n) or (n == "stdout" and tty)]
    out = {n: OutputFifo.create(d / n) for n in (["stdout"] if tty else streams)}
    stdin = StdinWriter.create(d / "stdin") if io.stdin is not None else None

    async def drain(name: str) -> None:
        async for data in out[name].chunks():
            await io.write(name, data)

    pumps = gather_unawaited(*(drain(n) for n in out))
    feeders: list[asyncio.Task[None]] = []
    try:
        try:
            await rt.cd.tasks.Exec(pb.ExecProcessRequest(
                container_id=c.id, exec_id=exec_id, spec=json.dumps(process).encode(), terminal=tty,
                stdin=str(d / "stdin") if stdin else "", stdout=str(d / "stdout") if "stdout" in out else "",
                stderr=str(d / "stderr") if "stderr" in out else ""))
        except errors.DockyardError as err:
            raise errors.Internal(f"exec in container {c.id}: {err}") from err
        if stdin is not None:  # once the shim holds the read end: a FIFO without one loses what it holds
            feeders.append(asyncio.create_task(_feed_stdin(io.stdin, stdin)))
        if tty:
            feeders.append(asyncio.create_task(_resize(rt, c.id, exec_id, io)))
        status = await rt.cd.tasks.Wait(pb.TaskRequest(container_id=c.id, exec_id=exec_id))
        try:
            await asyncio.wait_for(asyncio.shield(pumps), 5)
        except TimeoutError:
            pass
        return int(status.exit_status)
    finally:
        for task in feeders:
            task.cancel()
        cancel_unawaited(pumps)
        for f in out.values():
            f.close()
        if stdin is not None:
            stdin.close()
        try:
            await rt.cd.tasks.Delete(pb.TaskRequest(container_id=c.id, exec_id=exec_id))
        except errors.DockyardError:
            pass
        shutil.rmtree(d, ignore_errors=True)


async def _feed_stdin(source: Any, sink: StdinWriter) -> None:
    async for data in source.chunks():
        await sink.write(data)
    sink.close()


async def _resize(rt: Runtime, id: str, exec_id: str, io: Any) -> None:
    async for width, height in io.resizes():
        try:
            await rt.cd.tasks.ResizePty(pb.ResizePtyRequest(container_id=id, exec_id=exec_id,
                                                              width=width, height=height))
        except errors.DockyardError as err:
            log.debug("resize of %s: %s", id[:12], err)


async def attach(rt: Runtime, id: str, io: Any) -> int:
    """``Attach``: the container's output from now on, the client's input to its stdin. Ends
    when the client's stdin ends (closing the container's stdin if ``stdin_once``) or when the
    container's output ends; 0 then (the container runs on)."""
    c = rt.running(id)
    live = rt.live.get(c.id)
    if live is None:
        raise errors.FailedPrecondition(f"container {c.id} is not followed by this process")
    config = decode(cri.ContainerConfig, c.config)
    if io.stdin is not None and live.stdin is None:
        raise errors.InvalidArgument(f"container {c.id} was not created with stdin")
    q = live.hub.subscribe()

    async def output() -> None:
        while (item := await q.get()) is not None:
            stream, data = item
            await io.write("stdout" if stream == STDOUT or config.tty else "stderr", data)

    async def input(sink: StdinWriter) -> None:
        async for data in io.stdin.chunks():
            await sink.write(data)
        if config.stdin_once:
            live.close_stdin()

    tasks = [asyncio.create_task(output())]
    if io.stdin is not None and live.stdin is not None:
        tasks.append(asyncio.create_task(input(live.stdin)))
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        live.hub.unsubscribe(q)
        for task in tasks:
            task.cancel()
    return 0
