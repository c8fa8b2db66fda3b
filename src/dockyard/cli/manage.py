"""Lifecycle and system commands: pause, unpause, restart, cp, stats, events, system df/prune, container prune.

``container <verb>`` and ``system <verb>`` reach these through the argv rewrite in
``cli.main`` (``system df`` is ``system-df`` here).
"""

from __future__ import annotations

import argparse
import json
import sys

from dockyard.cli.format import filters, human_size, short_id, table
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
    """Copy with tar archives over the archive endpoint, as docker cp does."""
    import io
    import os
    import tarfile

    from dockyard import errors

    if ":" in a.src and not a.src.startswith(("/", ".")):
        ctr, _, path = a.src.partition(":")
        data = c.request("GET", f"/containers/{ctr}/archive", {"path": path}).read()
        with tarfile.open(fileobj=io.BytesIO(data)) as tf:
            members = tf.getmembers()
            if a.dst == "-":
                sys.stdout.buffer.write(data)
                return 0
            top = members[0].name.split("/")[0] if members else ""
            if os.path.isdir(a.dst):
                tf.extractall(a.dst, filter="tar")
            else:
                for m in members:  # the copied thing takes the destination's name
                    m.name = os.path.basename(a.dst.rstrip("/")) + m.name[len(top):]
                tf.extractall(os.path.dirname(os.path.abspath(a.dst)), members=members, filter="tar")
        return 0
    ctr, _, path = a.dst.partition(":")
    buf = io.BytesIO()
    src = a.src.rstrip("/") or "/"
    dest_dir, name = path, os.path.basename(src)
    try:
        info = c.request("HEAD", f"/containers/{ctr}/archive", {"path": path})
        info.close()  # a HEAD answer has no body, whatever its Content-Length says
        stat = json.loads(__import__("base64").b64decode(info.headers.get("x-docker-container-path-stat", "") or "e30="))
        is_dir = bool(int(stat.get("mode", 0)) & (1 << 31))
    except errors.NotFound:  # the destination does not exist: it names the new file
        is_dir = False
    if not is_dir:
        dest_dir, name = os.path.dirname(path.rstrip("/")) or "/", os.path.basename(path.rstrip("/"))
    with tarfile.open(fileobj=buf, mode="w") as tf:
        tf.add(src, arcname=name)
    c.request("PUT", f"/containers/{ctr}/archive", {"path": dest_dir}, buf.getvalue(),
              {"Content-Type": "application/x-tar"}).read()
    return 0


def _stats_row(s: dict[str, Any], ref: str) -> dict[str, Any]:
    cpu, pre = s.get("cpu_stats") or {}, s.get("precpu_stats") or {}
    cpu_delta = (cpu.get("cpu_usage") or {}).get("total_usage", 0) - (pre.get("cpu_usage") or {}).get("total_usage", 0)
    sys_delta = (cpu.get("system_cpu_usage") or 0) - (pre.get("system_cpu_usage") or 0)
    ncpu = cpu.get("online_cpus") or 1
    perc = cpu_delta / sys_delta * ncpu * 100 if sys_delta > 0 and cpu_delta > 0 else 0.0
    mem = s.get("memory_stats") or {}
    usage = mem.get("usage", 0) - ((mem.get("stats") or {}).get("inactive_file", 0))
    limit = mem.get("limit", 0)
    rx = sum(n.get("rx_bytes", 0) for n in (s.get("networks") or {}).values())
    tx = sum(n.get("tx_bytes", 0) for n in (s.get("networks") or {}).values())
    blk = ((s.get("blkio_stats") or {}).get("io_service_bytes_recursive") or [])
    rd = sum(b.get("value", 0) for b in blk if str(b.get("op", "")).lower() == "read")
    wr = sum(b.get("value", 0) for b in blk if str(b.get("op", "")).lower() == "write")
    return {"ID": short_id(s.get("id", ref)), "Container": ref, "Name": s.get("name", "").lstrip("/"),
            "CPUPerc": f"{perc:.2f}%", "MemUsage": f"{_bin(usage)} / {_bin(limit)}",
            "MemPerc": f"{usage / limit * 100:.2f}%" if limit else "0.00%",
            "NetIO": f"{human_size(rx)} / {human_size(tx)}", "BlockIO": f"{human_size(rd)} / {human_size(wr)}",
            "PIDs": str((s.get("pids_stats") or {}).get("current", 0))}


def _bin(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.4g}{unit}" if unit != "B" else f"{int(n)}B"
        n /= 1024
    return str(n)


def cmd_stats(c: Client, a: argparse.Namespace) -> int:
    refs = a.containers or [r["Id"] for r in c.json("GET", "/containers/json", {"all": a.all})]
    fmt = a.format or ("table {{.ID}}\\t{{.Name}}\\t{{.CPUPerc}}\\t{{.MemUsage}}\\t{{.MemPerc}}\\t{{.NetIO}}"
                       "\\t{{.BlockIO}}\\t{{.PIDs}}")
    from dockyard.cli.template import print_rows

    rows = [_stats_row(c.json("GET", f"/containers/{r}/stats", {"stream": False}), r) for r in refs]
    if fmt.startswith("table") and not a.format:
        fmt = fmt.replace("{{.ID}}", "{{.ID}}", 1)
        print("CONTAINER ID   NAME   CPU %   MEM USAGE / LIMIT   MEM %   NET I/O   BLOCK I/O   PIDS")
        fmt = fmt[5:].strip()
    print_rows("{{json .}}" if fmt == "json" else fmt, rows)
    return 0


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

            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(when / 1e9)) + f".{when % 10**9:09d}"
            print(f"{stamp} {ev.get('Type')} {ev.get('Action')} {(ev.get('Actor') or {}).get('ID', '')} ({att})",
                  flush=True)
    return 0


def cmd_system_df(c: Client, a: argparse.Namespace) -> int:
    df = c.json("GET", "/system/df")
    images = df.get("Images") or []
    ctrs = df.get("Containers") or []
    vols = df.get("Volumes") or []
    cache = df.get("BuildCache") or []
    img_size = sum(i.get("Size", 0) for i in images)
    img_active = [i for i in images if i.get("Containers", 0) > 0]
    ctr_size = sum(x.get("SizeRw", 0) or 0 for x in ctrs)
    ctr_active = [x for x in ctrs if x.get("State") == "running"]
    vol_size = sum(max(0, (v.get("UsageData") or {}).get("Size", 0)) for v in vols)
    vol_active = [v for v in vols if (v.get("UsageData") or {}).get("RefCount", 0) > 0]
    cache_size = sum(b.get("Size", 0) for b in cache)
    active_img_size = sum(i.get("Size", 0) for i in img_active)

    def pct(reclaim: int, total: int) -> str:
        return f"{human_size(reclaim)} ({reclaim * 100 // total if total else 0}%)"

    rows = [
        {"Type": "Images", "TotalCount": len(images), "Active": len(img_active), "Size": human_size(img_size),
         "Reclaimable": pct(img_size - active_img_size, img_size)},
        {"Type": "Containers", "TotalCount": len(ctrs), "Active": len(ctr_active), "Size": human_size(ctr_size),
         "Reclaimable": pct(sum(x.get("SizeRw", 0) or 0 for x in ctrs if x not in ctr_active), ctr_size)},
        {"Type": "Local Volumes", "TotalCount": len(vols), "Active": len(vol_active), "Size": human_size(vol_size),
         "Reclaimable": pct(vol_size, vol_size)},
        {"Type": "Build Cache", "TotalCount": len(cache), "Active": 0, "Size": human_size(cache_size),
         "Reclaimable": human_size(cache_size)},
    ]
    if a.format:
        from dockyard.cli.template import print_rows

        print_rows("{{json .}}" if a.format == "json" else a.format, rows)
        return 0
    print(table(["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"],
                [[r["Type"], str(r["TotalCount"]), str(r["Active"]), r["Size"], r["Reclaimable"]] for r in rows]))
    if a.verbose:
        print("\nImages space usage:\n")
        print(table(["REPOSITORY", "TAG", "IMAGE ID", "SIZE", "CONTAINERS"],
                    [[*(t.rpartition(":")[0::2]), short_id(i["Id"]), human_size(i.get("Size", 0)),
                      str(i.get("Containers", 0))] for i in images for t in (i.get("RepoTags") or ["<none>:<none>"])]))
        print("\nContainers space usage:\n")
        print(table(["CONTAINER ID", "IMAGE", "STATUS", "NAMES"],
                    [[short_id(x["Id"]), x.get("Image", ""), x.get("Status", ""),
                      ",".join(n.lstrip("/") for n in x.get("Names") or [])] for x in ctrs]))
        print("\nLocal Volumes space usage:\n")
        print(table(["VOLUME NAME", "LINKS", "SIZE"],
                    [[v["Name"], str((v.get("UsageData") or {}).get("RefCount", 0)),
                      human_size(max(0, (v.get("UsageData") or {}).get("Size", 0)))] for v in vols]))
    return 0


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
