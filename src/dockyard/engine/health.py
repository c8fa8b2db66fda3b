"""Healthchecks: the image's HEALTHCHECK or ``--health-*``, run as execs on Docker's schedule.

State.Health = {Status: starting|healthy|unhealthy, FailingStreak, Log (last 5 probes)};
a status change is a ``health_status: <status>`` event. ``--health-on-failure``
(a Dockyard label ``dockyard.health-on-failure`` = restart|stop|kill) acts on
``unhealthy``, which Docker leaves to an orchestrator.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from dockyard import errors
from dockyard.engine import execs
from dockyard.engine.container import Container
from dockyard.timefmt import rfc3339

log = logging.getLogger("dockyard.engine.health")

NS = 1_000_000_000
DEFAULT_INTERVAL = 30 * NS
DEFAULT_TIMEOUT = 30 * NS
DEFAULT_RETRIES = 3
MAX_LOG = 5
ON_FAILURE_LABEL = "dockyard.health-on-failure"


def config_of(c: Container) -> dict[str, Any] | None:
    hc = c.config.healthcheck or None
    if not hc or not hc.get("Test") or hc["Test"][0] == "NONE":
        return None
    return hc


def _command(test: list[str]) -> list[str]:
    if test[0] == "CMD-SHELL":
        return ["/bin/sh", "-c", " ".join(test[1:])]
    if test[0] == "CMD":
        return list(test[1:])
    return list(test)


def go_duration(ns: int) -> str:
    """Go's ``time.Duration.String``: ``50ms``, ``1.5s``, ``1m30s``, ``1h0m0s``."""
    def fraction(value: int, unit: int) -> str:
        whole, part = divmod(value, unit)
        digits = str(part).rjust(len(str(unit)) - 1, "0").rstrip("0")
        return f"{whole}.{digits}" if digits else str(whole)

    if ns == 0:
        return "0s"
    sign, ns = ("-" if ns < 0 else ""), abs(ns)
    if ns < 1_000:
        return f"{sign}{ns}ns"
    if ns < 1_000_000:
        return f"{sign}{fraction(ns, 1_000)}µs"
    if ns < 1_000_000_000:
        return f"{sign}{fraction(ns, 1_000_000)}ms"
    hours, rest = divmod(ns, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    prefix = f"{hours}h{minutes}m" if hours else f"{minutes}m" if minutes else ""
    return f"{sign}{prefix}{fraction(rest, 10**9)}s"


async def probe(eng: Any, c: Container, hc: dict[str, Any]) -> tuple[int, str]:
    e = execs.create(eng, c.id, {"Cmd": _command(hc["Test"]), "AttachStdout": True, "AttachStderr": True})
    q = e.hub.subscribe()
    out = bytearray()
    timeout = (hc.get("Timeout") or DEFAULT_TIMEOUT) / NS
    try:
        await execs.start(eng, e, False)

        async def collect() -> None:
            while (item := await q.get()) is not None:
                if len(out) < 4096:
                    out.extend(item[1])
            await e.done.wait()

        await asyncio.wait_for(collect(), timeout=timeout)
        return int(e.exit_code or 0), out.decode(errors="replace")
    except TimeoutError:
        limit = go_duration(int(hc.get("Timeout") or DEFAULT_TIMEOUT))
        said = out.decode(errors="replace")  # what the probe wrote before it ran out of time, as dockerd
        return -1, f"Health check exceeded timeout ({limit}): {said}" if said else \
            f"Health check exceeded timeout ({limit})"
    except errors.DockyardError as err:
        return -1, str(err)
    finally:
        eng.execs.pop(e.id, None)
        c.exec_ids = [x for x in (c.exec_ids or []) if x != e.id] or None


async def monitor(eng: Any, c: Container, live: Any) -> None:
    hc = config_of(c)
    assert hc is not None
    interval = (hc.get("Interval") or DEFAULT_INTERVAL) / NS
    start_interval = (hc.get("StartInterval") or hc.get("Interval") or DEFAULT_INTERVAL) / NS
    retries = int(hc.get("Retries") or DEFAULT_RETRIES)
    start_period = (hc.get("StartPeriod") or 0) / NS
    health: dict[str, Any] = {"Status": "starting", "FailingStreak": 0, "Log": []}
    c.state.health = health
    loop = asyncio.get_running_loop()
    began = loop.time()
    while c.state.running:
        in_start = loop.time() - began < start_period
        await asyncio.sleep(start_interval if in_start and health["Status"] == "starting" else interval)
        if not c.state.running or c.state.paused:
            continue
        t0 = rfc3339()
        code, output = await probe(eng, c, hc)
        health["Log"] = [*health["Log"], {"Start": t0, "End": rfc3339(), "ExitCode": code, "Output": output}][-MAX_LOG:]
        old = health["Status"]
        if code == 0:
            health.update(Status="healthy", FailingStreak=0)
        elif not (in_start and old == "starting"):
            health["FailingStreak"] += 1
            if health["FailingStreak"] >= retries:
                health["Status"] = "unhealthy"
        eng.save(c)
        if health["Status"] != old:
            eng.emit(c, f"health_status: {health['Status']}")
            if health["Status"] == "unhealthy":
                await _on_failure(eng, c)


async def _on_failure(eng: Any, c: Container) -> None:
    action = (c.config.labels or {}).get(ON_FAILURE_LABEL, "")
    if action not in ("restart", "stop", "kill"):
        return
    log.info("container %s: unhealthy, %s", c.id[:12], action)
    asyncio.create_task(_act(eng, c.id, action))


async def _act(eng: Any, id: str, action: str) -> None:
    try:
        if action == "kill":
            await eng.kill(id, "SIGKILL")
        else:
            await eng.stop(id)
            if action == "restart":
                await eng.start(id)
    except errors.DockyardError as err:
        log.error("container %s: health-on-failure %s failed: %s", id[:12], action, err)
