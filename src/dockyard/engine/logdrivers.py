"""Container logs: the log driver a container is given at create (``config``: json-file, local,
none, or a plugin's) and the writer its output goes to at start (``writer``)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from dockyard import errors
from dockyard.engine.container import Container
from dockyard.engine.logs_local import LocalLog, validate_opts
from dockyard.engine.streams import JsonFileLog, NullLog
from dockyard.plugins.logdriver import PluginLog, info_of, require

log = logging.getLogger("dockyard.engine")

DRIVERS = ("json-file", "local", "none")


def config(given: dict[str, Any] | None, plugins: Any = None) -> dict[str, Any]:
    """Docker's defaults (an empty type is json-file) and its error for a driver it does not know
    (a plugin that implements LogDriver is one it knows; asking it may wait: run this in a thread)."""
    cfg = dict(given or {})
    kind = cfg.get("Type") or "json-file"
    if kind not in DRIVERS:
        require(plugins, kind)
    if kind == "local":
        validate_opts(cfg.get("Config") or {})
    return {"Type": kind, "Config": cfg.get("Config") or {}}


async def writer(eng: Any, c: Container, readopt: bool = False) -> Any:
    """json-file with Docker's rotation options, on by default (10m x 3 unless the user says);
    a log-driver plugin's FIFO (one that fails a start fails it; at readopt, its output is lost)."""

    log_config = c.host_config.log_config or {}
    if log_config.get("Type") == "none":
        return NullLog()
    if log_config.get("Type") not in DRIVERS:
        def start() -> PluginLog:
            return PluginLog.start(require(eng.plugins, log_config["Type"]), eng.exec_root / "logging", info_of(c))
        try:
            return await asyncio.to_thread(start)
        except errors.DockyardError as err:
            if not readopt:
                raise errors.Internal(f"failed to initialize logging driver: {err}") from None
            log.error("container %s: log driver: %s (its output is not logged)", c.id[:12], err)
            return NullLog()
    opts = log_config.get("Config") or {}
    if log_config.get("Type") == "local":
        return LocalLog.from_opts(eng.data_root / "containers" / c.id, opts)
    return JsonFileLog(Path(c.log_path), max_size=opts.get("max-size", "10m"),
                       max_file=int(opts.get("max-file", "3") or 3))
