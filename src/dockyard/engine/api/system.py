"""System routes: ``/_ping``, ``/version``, ``/info``."""

from __future__ import annotations

import asyncio
import os
import platform
import socket

from aiohttp import web

from dockyard import __version__
from dockyard.engine.api import versions
from dockyard.engine.api.app import API_VERSION, MIN_API_VERSION, add, engine, version_of
from dockyard.engine.api.build import builder_of
from dockyard.engine.api.containers import sizes
from dockyard.engine.api.render import to_summary
from dockyard.engine.hostinfo import memory_total
from dockyard.engine.images import arch
from dockyard.oci.runtime_spec import is_cgroup_v2
from dockyard.timefmt import rfc3339

PING_HEADERS = {
    "Api-Version": API_VERSION,
    "Docker-Experimental": "false",
    "Builder-Version": "1",
    "OSType": "linux",
    "Cache-Control": "no-cache, no-store, must-revalidate",
    "Pragma": "no-cache",
}


async def ping(request: web.Request) -> web.Response:
    body = None if request.method == "HEAD" else "OK"
    return web.Response(text=body, content_type="text/plain",
                        headers={**PING_HEADERS, "Docker-Experimental": str(_experimental(request)).lower()})


def _experimental(request: web.Request) -> bool:
    """The daemon runs with ``--experimental``."""
    return bool(engine(request).experimental)


def _os_name() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "Linux"


async def version(request: web.Request) -> web.Response:
    details = {"ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "Os": "linux", "Arch": arch(),
               "KernelVersion": platform.release(), "GitCommit": "", "GoVersion": f"python{platform.python_version()}",
               "BuildTime": "", "Experimental": str(_experimental(request)).lower()}
    return web.json_response({
        "Platform": {"Name": "Dockyard Engine"},
        "Components": [
            {"Name": "Engine", "Version": __version__, "Details": details},
            {"Name": "dockyard-containerd", "Version": __version__, "Details": {"GitCommit": ""}},
            {"Name": "dockyard-runc", "Version": __version__, "Details": {"GitCommit": ""}},
        ],
        "Version": __version__, "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "GitCommit": "",
        "GoVersion": details["GoVersion"], "Os": "linux", "Arch": arch(), "KernelVersion": platform.release(),
        "Experimental": _experimental(request), "BuildTime": "",
    })


def _plugins_info(request: web.Request) -> dict[str, list[str] | None]:
    """As dockerd's fillPluginsInfo: network drivers are the built-in ones, the managed network plugins and
    every network's driver; volume drivers ``local`` and the plugins used as one; the authorization plugins
    in their order; IPAM plugins are not listed."""
    eng = engine(request)
    managed = [p["Name"] for p in eng.managed_plugins.list()
               if "docker.networkdriver/1.0" in ((p.get("Config") or {}).get("Interface") or {}).get("Types", [])]
    network = {"bridge", "host", "null", *managed, *(n["Driver"] for n in eng.networks.networks.values())}
    volume = {"local", *(p.name for p in eng.plugins.active() if "VolumeDriver" in p.implements)}
    return {"Volume": sorted(volume), "Network": sorted(network),
            "Authorization": list(request.app.get("authorization_plugins") or []) or None,
            "Log": ["json-file", "local", "none"]}


async def info(request: web.Request) -> web.Response:
    eng = engine(request)
    cs = list(eng.containers.values())
    running = sum(1 for c in cs if c.state.running)
    paused = sum(1 for c in cs if c.state.paused)
    images = await eng.images.list()
    v2 = is_cgroup_v2()
    return web.json_response(versions.info({
        "ID": eng.engine_id, "Containers": len(cs), "ContainersRunning": running, "ContainersPaused": paused,
        "ContainersStopped": len(cs) - running - paused, "Images": len(images), "Driver": "overlayfs",
        "DriverStatus": [["driver-type", "io.containerd.snapshotter.v1"]],
        "Plugins": _plugins_info(request),
        "MemoryLimit": True, "SwapLimit": True, "KernelMemoryTCP": False, "CpuCfsPeriod": True, "CpuCfsQuota": True,
        "CPUShares": True, "CPUSet": True, "PidsLimit": True, "IPv4Forwarding": True, "BridgeNfIptables": False,
        "BridgeNfIp6tables": False, "Debug": False, "NFd": len(os.listdir("/proc/self/fd")), "OomKillDisable": False,
        "NGoroutines": 0, "SystemTime": eng_time(), "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs", "CgroupVersion": "2" if v2 else "1", "NEventsListener": 0,
        "KernelVersion": platform.release(), "OperatingSystem": _os_name(), "OSVersion": "", "OSType": "linux",
        "Architecture": platform.machine(), "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {"AllowNondistributableArtifactsCIDRs": None, "AllowNondistributableArtifactsHostnames": None,
                           "InsecureRegistryCIDRs": ["127.0.0.0/8", "::1/128"], "IndexConfigs": {}, "Mirrors": []},
        "NCPU": os.cpu_count() or 1, "MemTotal": memory_total(), "GenericResources": None, "DockerRootDir": str(eng.data_root),
        "HttpProxy": "", "HttpsProxy": "", "NoProxy": "", "Name": socket.gethostname(), "Labels": [],
        "ExperimentalBuild": _experimental(request), "ServerVersion": __version__,
        "Runtimes": {"dockyard-runc": {"path": "dockyard-runc"}, "runc": {"path": "runc"}},
        "DefaultRuntime": "dockyard-runc",
        "Swarm": eng.swarm.info(),
        "LiveRestoreEnabled": True, "Isolation": "", "InitBinary": "tini",
        "ContainerdCommit": {"ID": __version__}, "RuncCommit": {"ID": __version__}, "InitCommit": {"ID": ""},
        "SecurityOptions": ["name=seccomp,profile=builtin"] + (["name=userns"] if eng.userns_remap else [])
                           + (["name=cgroupns"] if v2 else []),
        "DefaultAddressPools": [], "Warnings": [],
    }, version_of(request)))


def eng_time() -> str:
    return rfc3339()


async def df(request: web.Request) -> web.Response:
    """``docker system df``: images, containers (their writable layers' usage), volumes, the build cache."""
    # lazy: 21 ms of CPU on every dockyardd start (the builder, measured); paid by the first build or df
    from dockyard.builder.executor import disk_usage

    eng = engine(request)
    images = await eng.images.list()
    used = {c.image for c in eng.containers.values()}
    img_rows = [{"Id": i.id, "ParentId": "", "RepoTags": i.repo_tags(), "RepoDigests": [], "Created": i.created
                 // 1_000_000_000, "Size": i.size, "SharedSize": 0, "VirtualSize": i.size, "Labels": {},
                 "Containers": sum(1 for c in eng.containers.values() if c.image == i.id)} for i in images]
    cs = list(eng.containers.values())
    containers = [{**to_summary(c, eng), "SizeRw": rw, "SizeRootFs": rootfs}
                  for c, (rw, rootfs) in zip(cs, await asyncio.gather(*(sizes(eng, c) for c in cs)))]
    volumes = []
    vols = getattr(eng, "volumes", None)
    if vols is not None and hasattr(vols, "list"):
        for v in vols.list():
            row = dict(v)
            try:
                row.setdefault("UsageData", vols.usage(v["Name"]))
            except Exception:  # noqa: BLE001 - a volume being removed: no usage
                row.setdefault("UsageData", {"Size": -1, "RefCount": 0})
            volumes.append(row)
    del used
    build_cache = await asyncio.to_thread(disk_usage, builder_of(eng))
    return web.json_response({"LayersSize": sum(i.size for i in images), "Images": img_rows,
                              "Containers": containers, "Volumes": volumes, "BuildCache": build_cache,
                              "BuilderSize": sum(r["Size"] for r in build_cache)})


def register(app: web.Application) -> None:
    add(app, "GET", "/system/df", df)
    add(app, "GET", "/_ping", ping)
    add(app, "HEAD", "/_ping", ping)
    add(app, "GET", "/version", version)
    add(app, "GET", "/info", info)
