"""Lifecycle and system commands: pause, unpause, restart, cp, stats, events, system df/prune, container prune.

``container <verb>`` and ``system <verb>`` reach these through the argv rewrite in
``cli.main`` (``system df`` is ``system-df`` here).
"""

from __future__ import annotations

import argparse
import json
import sys

from dockyard.cli.format import filters, human_size, short_id
from dockyard.client.http import Client

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from dockyard.cli.main import Command


def _each(c: Client, refs: list[str], path: str, params: dict[str, Any] | None = None) -> int:
    from dockyard import errors

    rc = 0
    for ref in refs:
        try:
            c.request("POST", f"/containers/{ref}/{path}", params).read()
            print(ref)
        except errors.DockyardError as err:
            print(f"Error response from daemon: {err}", file=sys.stderr)
            rc = 1
    return rc


def cmd_pause(c: Client, a: argparse.Namespace) -> int:
    return _each(c, a.containers, "pause")


def cmd_unpause(c: Client, a: argparse.Namespace) -> int:
    return _each(c, a.containers, "unpause")


def cmd_restart(c: Client, a: argparse.Namespace) -> int:
    return _each(c, a.containers, "restart", {"t": a.time} if a.time is not None else None)


def cmd_cp(c: Client, a: argparse.Namespace) -> int:
    """Copy with tar archives over the archive endpoint, by the docker CLI's rules (cli/cp.py)."""
    from dockyard.cli import cp

    return cp.run(c, a.src, a.dst, a.follow_link, a.archive)


STATS_TABLE = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"
STATS_HEADERS = {"Container": "CONTAINER", "ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %",
                 "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O",
                 "PIDs": "PIDS"}


def _mem_usage(mem: dict[str, Any]) -> int:
    """calculateMemUsageUnixNoCache: usage without the inactive page cache (v1 or v2 counters)."""
    usage = int(mem.get("usage") or 0)
    stats = mem.get("stats") or {}
    if "total_inactive_file" in stats and stats["total_inactive_file"] < usage:
        return usage - int(stats["total_inactive_file"])
    if stats.get("inactive_file", usage) < usage:
        return usage - int(stats["inactive_file"])
    return usage


def stats_row(s: dict[str, Any], ref: str, trunc: bool = True, invalid: bool = False) -> Any:
    """One ``docker stats`` row (formatter.StatsEntry as text), from one Engine API stats sample;
    ``invalid`` (its stream ended) shows ``--`` for the numbers, as docker does."""
    from dockyard.cli.format import bytes_size
    from dockyard.cli.template import Row

    if invalid:
        ident = s.get("id") or ref
        return Row({"Container": ref, "ID": short_id(ident) if trunc else ident,
                    "Name": (s.get("name") or "").lstrip("/") or "--", "CPUPerc": "--", "MemUsage": "-- / --",
                    "MemPerc": "--", "NetIO": "--", "BlockIO": "--", "PIDs": "--"}, "*formatter.statsContext")

    cpu, pre = s.get("cpu_stats") or {}, s.get("precpu_stats") or {}
    cpu_delta = (cpu.get("cpu_usage") or {}).get("total_usage", 0) - (pre.get("cpu_usage") or {}).get("total_usage", 0)
    sys_delta = (cpu.get("system_cpu_usage") or 0) - (pre.get("system_cpu_usage") or 0)
    ncpu = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or []) or 1
    perc = cpu_delta / sys_delta * ncpu * 100 if sys_delta > 0 and cpu_delta > 0 else 0.0
    mem = s.get("memory_stats") or {}
    usage, limit = _mem_usage(mem), int(mem.get("limit") or 0)
    nets = (s.get("networks") or {}).values()
    blk = (s.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []
    rd = sum(b.get("value", 0) for b in blk if str(b.get("op", " "))[:1] in "rR")
    wr = sum(b.get("value", 0) for b in blk if str(b.get("op", " "))[:1] in "wW")
    ident = s.get("id") or ref
    return Row({"Container": ref, "ID": short_id(ident) if trunc else ident,
                "Name": (s.get("name") or "").lstrip("/") or "--", "CPUPerc": f"{perc:.2f}%",
                "MemUsage": f"{bytes_size(usage)} / {bytes_size(limit)}",
                "MemPerc": f"{usage / limit * 100:.2f}%" if limit else "0.00%",
                "NetIO": f"{human_size(sum(n.get('rx_bytes', 0) for n in nets))} / "
                         f"{human_size(sum(n.get('tx_bytes', 0) for n in nets))}",
                "BlockIO": f"{human_size(rd)} / {human_size(wr)}",
                "PIDs": str((s.get("pids_stats") or {}).get("current", 0))}, "*formatter.statsContext")


class _Collector:
    """The latest sample of each container, read from its stats stream by a thread. A container
    whose stream ended, or whose samples have no process (it is not running), is shown as docker
    shows one it has no stats for: ``--``."""

    def __init__(self, c: Client, refs: list[str]) -> None:
        import threading

        self.c = c
        self.lock = threading.Lock()
        self.latest: dict[str, dict[str, Any]] = {}
        self.invalid: set[str] = set()
        self.errors: dict[str, str] = {}
        for ref in refs:
            self.add(ref)

    def add(self, ref: str) -> None:
        """Follow ``ref`` (again, if its stream had ended)."""
        import threading

        with self.lock:
            if ref in self.latest and ref not in self.invalid:
                return
            self.latest.setdefault(ref, {})
            self.invalid.discard(ref)
        threading.Thread(target=self._follow, args=(ref,), daemon=True).start()

    def remove(self, ref: str) -> None:
        with self.lock:
            self.latest.pop(ref, None)
            self.invalid.discard(ref)

    def rows(self, trunc: bool) -> list[Any]:
        with self.lock:
            return [stats_row(sample, ref, trunc, ref in self.invalid or not sample.get("pids_stats"))
                    for ref, sample in self.latest.items() if sample or ref in self.invalid]

    def _follow(self, ref: str) -> None:
        from dockyard import errors

        try:
            for sample in self.c.json_stream("GET", f"/containers/{ref}/stats", {"stream": True}):
                with self.lock:
                    if ref not in self.latest:
                        return
                    self.latest[ref] = sample
        except (errors.DockyardError, OSError, ValueError) as err:
            self.errors[ref] = str(err)
        with self.lock:
            if ref in self.latest:
                self.invalid.add(ref)

    def watch(self, all: bool) -> None:
        """docker stats without names: containers started later join, a stopped one leaves
        (stays, as ``--``, with ``-a``), a removed one leaves."""
        import threading

        threading.Thread(target=self._events, args=(all,), daemon=True).start()

    def _events(self, all: bool) -> None:
        from dockyard import errors

        wanted = ["start", "die", "destroy"] + (["create"] if all else [])
        flt = json.dumps({"type": ["container"], "event": wanted})
        try:
            for ev in self.c.json_stream("GET", "/events", {"filters": flt}):
                ref = ev.get("id") or (ev.get("Actor") or {}).get("ID", "")
                action = ev.get("Action") or ev.get("status")
                if action in ("start", "create"):
                    self.add(ref)
                elif action == "destroy" or (action == "die" and not all):
                    self.remove(ref)
        except (errors.DockyardError, OSError, ValueError):
            return


def cmd_stats(c: Client, a: argparse.Namespace) -> int:
    import time

    from dockyard.cli.template import format_rows

    refs = a.containers or [r["Id"] for r in c.json("GET", "/containers/json", {"all": a.all})]
    fmt = a.format if a.format and a.format != "table" else STATS_TABLE
    trunc = not a.no_trunc
    if a.no_stream:
        rows = [stats_row(c.json("GET", f"/containers/{r}/stats", {"stream": False}), r, trunc) for r in refs]
        sys.stdout.write(format_rows(fmt, rows, STATS_HEADERS))
        return 0
    collector = _Collector(c, refs)
    if not a.containers:
        collector.watch(a.all)
    while True:  # docker redraws every 500 ms: clear the screen, then the whole table
        time.sleep(0.5)
        if a.containers and len(collector.errors) == len(refs):
            print(next(iter(collector.errors.values())), file=sys.stderr)
            return 1
        sys.stdout.write("\x1b[2J\x1b[H" + format_rows(fmt, collector.rows(trunc), STATS_HEADERS))
        sys.stdout.flush()


def cmd_events(c: Client, a: argparse.Namespace) -> int:
    from dockyard.cli.format import timestamp

    params: dict[str, Any] = {"since": timestamp(a.since), "until": timestamp(a.until)}
    flt = filters(a.filter)
    if flt:
        params["filters"] = json.dumps(flt)
    from dockyard.cli.template import render

    for ev in c.json_stream("GET", "/events", params):
        if a.format:
            print(render("{{json .}}" if a.format == "json" else a.format, ev), flush=True)
        else:
            attrs = (ev.get("Actor") or {}).get("Attributes") or {}
            att = ", ".join(f"{k}={v}" for k, v in sorted(attrs.items()))
            when = ev.get("timeNano") or int(ev.get("time", 0)) * 10**9
            import time

            from dockyard.cli.images import _rfc3339_zone

            stamp = (time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(when / 1e9)) + f".{when % 10**9:09d}"
                     + _rfc3339_zone(when / 1e9))
            print(f"{stamp} {ev.get('Type')} {ev.get('Action')} {(ev.get('Actor') or {}).get('ID', '')} ({att})",
                  flush=True)
    return 0


DF_TABLE = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"
DF_HEADERS = {"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE"}


def _reclaimable(reclaim: int, total: int) -> str:
    size = human_size(reclaim, 4)
    return f"{size} ({reclaim * 100 // total}%)" if total > 0 else size


def df_rows(df: dict[str, Any]) -> list[Any]:
    """formatter.diskUsage*Context (docker 20.10): the four summary rows of ``system df``."""
    from dockyard.cli.template import Row

    images, ctrs = df.get("Images") or [], df.get("Containers") or []
    vols, cache = df.get("Volumes") or [], df.get("BuildCache") or []
    layers = int(df.get("LayersSize") or sum(i.get("Size", 0) for i in images))
    used = sum(i.get("VirtualSize", i.get("Size", 0)) - i.get("SharedSize", 0) for i in images
               if i.get("Containers", 0) and i.get("SharedSize", 0) != -1 and i.get("VirtualSize", 0) != -1)

    def active(x: dict[str, Any]) -> bool:
        return any(state in (x.get("State") or "") for state in ("running", "paused", "restarting"))

    ctr_size = sum(x.get("SizeRw") or 0 for x in ctrs)
    usage = [v.get("UsageData") or {"Size": -1, "RefCount": -1} for v in vols]
    vol_size = sum(u["Size"] for u in usage if u.get("Size", -1) != -1)
    cache_size = sum(b.get("Size", 0) for b in cache if not b.get("Shared"))
    row = {"Type": "", "TotalCount": "", "Active": "", "Size": "", "Reclaimable": ""}
    return [Row({**row, **r}, "*formatter.diskUsageContext") for r in (
        {"Type": "Images", "TotalCount": str(len(images)),
         "Active": str(sum(1 for i in images if i.get("Containers", 0) > 0)), "Size": human_size(layers, 4),
         "Reclaimable": _reclaimable(layers - used, layers)},
        {"Type": "Containers", "TotalCount": str(len(ctrs)), "Active": str(sum(1 for x in ctrs if active(x))),
         "Size": human_size(ctr_size, 4),
         "Reclaimable": _reclaimable(sum(x.get("SizeRw") or 0 for x in ctrs if not active(x)), ctr_size)},
        {"Type": "Local Volumes", "TotalCount": str(len(vols)),
         "Active": str(sum(1 for u in usage if u.get("RefCount", 0) > 0)), "Size": human_size(vol_size, 4),
         "Reclaimable": _reclaimable(sum(u["Size"] for u in usage if u.get("RefCount", 0) == 0
                                         and u.get("Size", -1) != -1), vol_size)},
        {"Type": "Build Cache", "TotalCount": str(len(cache)),
         "Active": str(sum(1 for b in cache if b.get("InUse"))), "Size": human_size(cache_size, 4),
         "Reclaimable": human_size(sum(b.get("Size", 0) for b in cache if not b.get("InUse") and not b.get("Shared")),
                                   4)})]


def cmd_system_df(c: Client, a: argparse.Namespace) -> int:
    from dockyard.cli.template import print_rows

    df = c.json("GET", "/system/df")
    if a.format or not a.verbose:
        print_rows(a.format if a.format and a.format != "table" else DF_TABLE, df_rows(df), DF_HEADERS)
        return 0
    sys.stdout.write(df_verbose(df))
    return 0


def df_verbose(df: dict[str, Any]) -> str:
    """``system df -v`` as docker 20.10's DiskUsageContext.verboseWrite prints it: four tables,
    the first tag of each image, containers without their virtual size."""
    import time

    from dockyard.cli.containers import ps_row
    from dockyard.cli.format import human_duration, tabwrite

    now = time.time()

    def ago(t: float) -> str:
        return human_duration(now - t) + " ago"

    out = ["Images space usage:\n\n"]
    lines = ["REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\tSHARED SIZE\tUNIQUE SIZE\tCONTAINERS"]
    for i in df.get("Images") or []:
        repo, tag = _first_tag(i)
        size, shared = i.get("Size", 0), i.get("SharedSize", 0)
        lines.append("\t".join((repo, tag, short_id(i["Id"]), ago(i.get("Created", 0)), human_size(size, 4),
                                "N/A" if shared == -1 else human_size(shared, 4),
                                "N/A" if -1 in (size, shared) else human_size(size - shared, 4),
                                str(i.get("Containers", 0)))))
    out.append(tabwrite("\n".join(lines) + "\n"))
    out.append("\nContainers space usage:\n\n")
    lines = ["CONTAINER ID\tIMAGE\tCOMMAND\tLOCAL VOLUMES\tSIZE\tCREATED\tSTATUS\tNAMES"]
    for x in df.get("Containers") or []:
        r = ps_row({**x, "SizeRootFs": 0}, True)
        lines.append("\t".join(r[k] for k in ("ID", "Image", "Command", "LocalVolumes", "Size", "RunningFor",
                                              "Status", "Names")))
    out.append(tabwrite("\n".join(lines) + "\n"))
    out.append("\nLocal Volumes space usage:\n\n")
    lines = ["VOLUME NAME\tLINKS\tSIZE"]
    for v in df.get("Volumes") or []:
        usage = v.get("UsageData") or {"Size": -1, "RefCount": -1}
        lines.append("\t".join((v["Name"], str(usage.get("RefCount", -1)),
                                "N/A" if usage.get("Size", -1) == -1 else human_size(usage["Size"], 4))))
    out.append(tabwrite("\n".join(lines) + "\n"))
    cache = df.get("BuildCache") or []
    total = df.get("BuilderSize", sum(b.get("Size", 0) for b in cache))
    out.append(f"\nBuild cache usage: {human_size(total, 4)}\n\n")
    lines = ["CACHE ID\tCACHE TYPE\tSIZE\tCREATED\tLAST USED\tUSAGE\tSHARED"]
    for b in cache:
        last = b.get("LastUsedAt")
        lines.append("\t".join((b["ID"][:12] + ("*" if b.get("InUse") else ""), b.get("Type", ""),
                                human_size(b.get("Size", 0)), ago(_rfc3339(b.get("CreatedAt"))),
                                ago(_rfc3339(last)) if last else "", str(b.get("UsageCount", 0)),
                                "true" if b.get("Shared") else "false")))
    out.append(tabwrite("\n".join(lines) + "\n"))
    return "".join(out)


def _first_tag(image: dict[str, Any]) -> tuple[str, str]:
    """(repository, tag) of an image's first tag, or ``<none>`` twice."""
    tags = [t for t in image.get("RepoTags") or [] if t != "<none>:<none>"]
    if not tags:
        return "<none>", "<none>"
    repo, _, tag = tags[0].rpartition(":")
    return (repo, tag) if "/" not in tag else (tags[0], "<none>")


def _rfc3339(ts: str | None) -> float:
    """Seconds since the epoch of an RFC 3339 time (nanoseconds cut to what fromisoformat takes)."""
    from datetime import datetime

    if not ts:
        return 0.0
    text, dot, rest = ts.replace("Z", "+00:00").partition(".")
    if dot:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{text}.{rest[:min(digits, 6)].ljust(6, '0')}{rest[digits:]}"
    return datetime.fromisoformat(text).timestamp()


def _confirm(a: argparse.Namespace, what: str) -> bool:
    if a.force:
        return True
    print(f"WARNING! This will remove {what}.\nAre you sure you want to continue? [y/N] ", end="", flush=True)
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def _prune(c: Client, kind: str, params: dict[str, Any]) -> tuple[list[str], int]:
    r = c.json("POST", f"/{kind}/prune", params)
    key = {"containers": "ContainersDeleted", "networks": "NetworksDeleted", "volumes": "VolumesDeleted"}.get(kind)
    if kind == "images":
        gone = [f"{k}: {v}" for item in (r.get("ImagesDeleted") or []) for k, v in item.items()]
    else:
        gone = list(r.get(key) or [])
    return gone, int(r.get("SpaceReclaimed") or 0)


def cmd_container_prune(c: Client, a: argparse.Namespace) -> int:
    if not _confirm(a, "all stopped containers"):
        return 0
    flt = filters(a.filter)
    gone, space = _prune(c, "containers", {"filters": json.dumps(flt)} if flt else {})
    if gone:
        print("Deleted Containers:\n" + "\n".join(gone) + "\n")
    print(f"Total reclaimed space: {human_size(space)}")
    return 0


def cmd_system_prune(c: Client, a: argparse.Namespace) -> int:
    if not _confirm(a, "all stopped containers, unused networks, dangling images and build cache"):
        return 0
    from dockyard import errors

    flt = filters(a.filter)
    base = {"filters": json.dumps(flt)} if flt else {}
    total = 0
    kinds = ["containers", "networks", *(["volumes"] if a.volumes else []), "images"]
    for kind in kinds:
        params = dict(base)
        if kind == "images":
            params["filters"] = json.dumps({**flt, "dangling": ["false" if a.all else "true"]})
        try:
            gone, space = _prune(c, kind, params)
        except errors.DockyardError as err:
            print(f"Error response from daemon: {err}", file=sys.stderr)
            continue
        total += space
        if gone:
            print(f"Deleted {kind.title()}:\n" + "\n".join(gone) + "\n")
    print(f"Total reclaimed space: {human_size(total)}")
    return 0


def cmd_update(c: Client, a: argparse.Namespace) -> int:
    """``update``: new resource limits (and restart policy) for running or stopped containers."""
    from dockyard import errors

    fields = {"BlkioWeight": a.blkio_weight, "CpuPeriod": a.cpu_period, "CpuQuota": a.cpu_quota,
              "CpuRealtimePeriod": a.cpu_rt_period, "CpuRealtimeRuntime": a.cpu_rt_runtime,
              "CpuShares": a.cpu_shares, "NanoCpus": a.cpus, "CpusetCpus": a.cpuset_cpus, "CpusetMems": a.cpuset_mems,
              "Memory": a.memory, "MemoryReservation": a.memory_reservation, "MemorySwap": a.memory_swap,
              "PidsLimit": a.pids_limit, "RestartPolicy": a.restart}
    body = {k: v for k, v in fields.items() if v not in (None, "")}
    if not body:
        raise errors.InvalidArgument("you must provide one or more flags when using this command")
    rc = 0
    for ref in a.containers:
        try:
            resp = c.json("POST", f"/containers/{ref}/update", body=body) or {}
            for warning in resp.get("Warnings") or []:
                print(f"WARNING: {warning}", file=sys.stderr)
            print(ref)
        except errors.DockyardError as err:
            print(f"Error response from daemon: {err}", file=sys.stderr)
            rc = 1
    return rc


def _add_update(sp: argparse.ArgumentParser) -> None:
    if not isinstance(sp, argparse.ArgumentParser):
        return
    from dockyard.cli import flags as t

    add = sp.add_argument
    add("--blkio-weight", type=t.uint16, default=None, metavar="uint16",
        help="Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)")
    add("--cpu-period", type=t.integer, default=None, metavar="int", help="Limit CPU CFS (Completely Fair Scheduler) period")
    add("--cpu-quota", type=t.integer, default=None, metavar="int", help="Limit CPU CFS (Completely Fair Scheduler) quota")
    add("--cpu-rt-period", type=t.integer, default=None, metavar="int", help="Limit the CPU real-time period in microseconds")
    add("--cpu-rt-runtime", type=t.integer, default=None, metavar="int", help="Limit the CPU real-time runtime in microseconds")
    add("-c", "--cpu-shares", type=t.integer, default=None, metavar="int", help="CPU shares (relative weight)")
    add("--cpus", type=t.cpus, default=None, metavar="decimal", help="Number of CPUs")
    add("--cpuset-cpus", default="", help="CPUs in which to allow execution (0-3, 0,1)")
    add("--cpuset-mems", default="", help="MEMs in which to allow execution (0-3, 0,1)")
    add("-m", "--memory", type=t.ram_bytes, default=None, metavar="bytes", help="Memory limit")
    add("--memory-reservation", type=t.ram_bytes, default=None, metavar="bytes", help="Memory soft limit")
    add("--memory-swap", type=t.swap_bytes, default=None, metavar="bytes",
        help="Swap limit equal to memory plus swap: '-1' to enable unlimited swap")
    add("--pids-limit", type=t.integer, default=None, metavar="int", help="Tune container pids limit (set -1 for unlimited)")
    add("--restart", type=t.restart_policy, default=None, metavar="string",
        help="Restart policy to apply when a container exits")
    add("containers", nargs="+")


def register(cmd: Command) -> None:
    for name, fn, text in (("pause", cmd_pause, "Pause all processes within one or more containers"),
                           ("unpause", cmd_unpause, "Unpause all processes within one or more containers")):
        cmd(name, fn, text).add_argument("containers", nargs="+")
    sp = cmd("restart", cmd_restart, "Restart one or more containers")
    sp.add_argument("-t", "--time", "--timeout", type=int, default=None)
    sp.add_argument("-s", "--signal", default="")
    sp.add_argument("containers", nargs="+")
    sp = cmd("cp", cmd_cp, "Copy files/folders between a container and the local filesystem")
    sp.add_argument("-a", "--archive", action="store_true")
    sp.add_argument("-L", "--follow-link", action="store_true")
    sp.add_argument("-q", "--quiet", action="store_true")
    sp.add_argument("src")
    sp.add_argument("dst")
    _add_update(cmd("update", cmd_update, "Update configuration of one or more containers",
                    usage="[OPTIONS] CONTAINER [CONTAINER...]"))
    sp = cmd("stats", cmd_stats, "Display a live stream of container(s) resource usage statistics")
    sp.add_argument("-a", "--all", action="store_true")
    sp.add_argument("--no-stream", action="store_true")
    sp.add_argument("--no-trunc", action="store_true")
    sp.add_argument("--format", default="")
    sp.add_argument("containers", nargs="*")
    sp = cmd("events", cmd_events, "Get real time events from the server")
    sp.add_argument("--since", default="")
    sp.add_argument("--until", default="")
    sp.add_argument("-f", "--filter", action="append", default=[])
    sp.add_argument("--format", default="")
    sp = cmd("system-df", cmd_system_df, "Show docker disk usage (system df)")
    sp.add_argument("-v", "--verbose", action="store_true")
    sp.add_argument("--format", default="")
    sp = cmd("system-prune", cmd_system_prune, "Remove unused data (system prune)")
    sp.add_argument("-a", "--all", action="store_true")
    sp.add_argument("-f", "--force", action="store_true")
    sp.add_argument("--volumes", action="store_true")
    sp.add_argument("--filter", action="append", default=[])
    sp = cmd("container-prune", cmd_container_prune, "Remove all stopped containers (container prune)")
    sp.add_argument("-f", "--force", action="store_true")
    sp.add_argument("--filter", action="append", default=[])
