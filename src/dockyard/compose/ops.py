"""What the commands do, on the daemon: converge a project (``up``), take it down, and the rest.

Containers, networks and volumes are found by their ``com.docker.compose.*`` labels, so a
project made by Compose v2 is found the same way. ``up`` works along the dependency graph: each
service starts in its own thread as soon as the conditions on its dependencies hold
(``service_started``, ``service_healthy``, ``service_completed_successfully``).
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager, nullcontext

from dockyard import errors
from dockyard.client import jsonlite as json
from dockyard.client.errors import DaemonError
from dockyard.compose import engine as E
from dockyard.compose.project import Project, order, with_dependencies
from dockyard.compose.tasks import Task, each

TYPE_CHECKING = False  # typing imports re: ~3 ms of every command's start
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any

    from dockyard.compose.events import ProjectEvents

    Printer = Callable[[str], None]


class ComposeFailure(errors.FailedPrecondition):
    pass


def _filters(**labels: str | None) -> str:
    return json.dumps({"label": [k if v is None else f"{k}={v}" for k, v in labels.items()]})


def number_of(c: dict[str, Any]) -> int:
    try:
        return int(c["Labels"].get(E.NUMBER, "0"))
    except ValueError:
        return 0


class Plan:
    """How ``up`` treats the containers it finds and makes."""

    def __init__(self, force: bool, no_recreate: bool, no_start: bool, timeout: int | None) -> None:
        self.force, self.no_recreate, self.no_start, self.timeout = force, no_recreate, no_start, timeout


class Compose:
    def __init__(self, client: Any, project_name: str, project: Project | None = None,
                 out: Printer = print, dry_run: bool = False) -> None:
        self.c = client
        self.dry_run = dry_run
        self.name = project_name
        self.project = project
        self.out = out
        self._image_ids: dict[str, str] = {}  # reference -> ID; forgotten when built or pulled
        self._recreated: set[str] = set()  # services of which up recreated a container
        self._events: ProjectEvents | None = None
        self._watchers = 0
        self._watch_lock = threading.Lock()
        self.hook_output: Callable[[str, bytes], None] | None = None  # (container name, bytes) of post_start hooks
        # (service, ID, name, the project/service/number labels) once started, before hooks
        self.started: Callable[[str, str, str, dict[str, str]], None] | None = None
        # the containers up will have (as `containers()` lists them), told before it makes any
        self.planned: Callable[[list[dict[str, Any]]], None] | None = None
        self.builder = os.environ.get("BUILDX_BUILDER", "")  # --builder: checked by the first build
        self.quiet_pull = False  # pulls show no layer progress (--quiet-pull)
        # False: as v2 for `-p NAME` without `-f` (its `projectOrName`), the project is what its containers
        # tell, so no hooks run and no provider's `down` (commands.py sets it)
        self.files_loaded = True

    # --- finding things -------------------------------------------------------------------------

    def containers(self, service: str | None = None, all: bool = True, oneoff: bool | None = False
                   ) -> list[dict[str, Any]]:
        labels: dict[str, str | None] = {E.PROJECT: self.name}
        if service:
            labels[E.SERVICE] = service
        if oneoff is not None:
            labels[E.ONEOFF] = "True" if oneoff else "False"
        found = self.c.json("GET", "/containers/json", {"all": all, "filters": _filters(**labels)}) or []
        return sorted(found, key=lambda c: (c["Labels"].get(E.SERVICE, ""), number_of(c)))

    def networks(self) -> list[dict[str, Any]]:
        return self.c.json("GET", "/networks", {"filters": _filters(**{E.PROJECT: self.name})}) or []

    def volumes(self) -> list[dict[str, Any]]:
        return (self.c.json("GET", "/volumes", {"filters": _filters(**{E.PROJECT: self.name})}) or {}).get(
            "Volumes") or []

    def inspect(self, cid: str) -> dict[str, Any]:
        return self.c.json("GET", f"/containers/{cid}/json")  # type: ignore[no-any-return]

    def need_project(self) -> Project:
        """The project of the compose files; a ComposeFailure for a command run without one."""
        if self.project is None:
            raise ComposeFailure("no compose file for this command")
        return self.project

    # --- networks, volumes, images --------------------------------------------------------------

    def ensure_networks(self) -> None:
        p = self.need_project()
        for key, spec in p.networks.items():
            if spec.get("external"):
                self.c.json("GET", f"/networks/{spec['name']}")
                continue
            try:
                found = self.c.json("GET", f"/networks/{spec['name']}")
            except errors.NotFound:
                self.out(f" Network {spec['name']}  Creating")
                self.c.json("POST", "/networks/create", body=E.network_body(p, key))
                self.out(f" Network {spec['name']}  Created")
                continue
            if (found.get("Labels") or {}).get(E.NETWORK) not in (key, None) and not spec.get("external"):
                raise ComposeFailure(f"network {spec['name']} was found but has incorrect label {E.NETWORK}")

    def ensure_volumes(self) -> None:
        p = self.need_project()
        for key, spec in p.volumes.items():
            try:
                self.c.json("GET", f"/volumes/{spec['name']}")
            except errors.NotFound:
                if spec.get("external"):
                    raise ComposeFailure(f"external volume \"{spec['name']}\" not found") from None
                self.out(f" Volume {spec['name']}  Creating")
                self.c.json("POST", "/volumes/create", body=E.volume_body(p, key))
                self.out(f" Volume {spec['name']}  Created")

    def image_id(self, service: str, pull: str = "policy", build: bool = False, no_build: bool = False) -> str:
        """The image ``service`` runs, pulled or built as ``pull`` (``always``/``missing``/``never``,
        or ``policy``: the service's ``pull_policy``) and ``build`` ask."""
        p = self.need_project()
        svc = p.services[service]
        ref = E.image_name(p, service)
        if pull == "policy":
            pull = str(svc.get("pull_policy") or "missing")
        if svc.get("build") and not no_build and (build or pull == "build"):
            self.build(service)
        elif pull == "always":
            self.pull(service)
        try:
            return self._image(ref)
        except errors.NotFound:
            if pull == "never":
                raise ComposeFailure(f"image {ref} of service {service} is not here and --pull is never") from None
            if svc.get("build") and not no_build:
                self.build(service)
            else:
                self.pull(service)
            return self._image(ref)

    def _image(self, ref: str) -> str:
        """The ID of ``ref``, asked once per command (services sharing an image ask once)."""
        if ref not in self._image_ids:
            self._image_ids[ref] = str(self.c.json("GET", f"/images/{ref}/json")["Id"])
        return self._image_ids[ref]

    def pull(self, service: str, quiet: bool = False) -> None:
        """Pull ``service``'s image; each layer's progress goes to the progress writer as v2's
        children of the service's event (not with ``quiet``: ``--quiet-pull``)."""
        ref = E.image_name(self.need_project(), service)
        name, _, tag = ref.rpartition(":") if ":" in ref.rsplit("/", 1)[-1] else (ref, "", "latest")
        self.out(f" {service} Pulling ")  # v2's Event{ID: service, Text: "Pulling"}, printed with its empty status
        event = None if quiet or self.quiet_pull else getattr(self.out, "event", None)
        for msg in self.c.json_stream("POST", "/images/create", {"fromImage": name, "tag": tag}):
            if msg.get("error"):
                raise ComposeFailure(f"pull {ref}: {msg['error']}")
            if event is not None and msg.get("id") and isinstance(msg.get("progressDetail"), dict):
                event(*_layer_event(service, msg))
        self._image_ids.pop(ref, None)
        self.out(f" {service} Pulled ")

    def push(self, service: str) -> None:
        ref = E.image_name(self.need_project(), service)
        name, _, tag = ref.rpartition(":") if ":" in ref.rsplit("/", 1)[-1] else (ref, "", "latest")
        for msg in self.c.json_stream("POST", f"/images/{name}/push", {"tag": tag},
                                      headers={"X-Registry-Auth": "e30="}):
            if msg.get("error"):
                raise ComposeFailure(f"push {ref}: {msg['error']}")

    def build(self, service: str, no_cache: bool = False, pull: bool = False, args: dict[str, str] | None = None,
              memory: int = 0, show: Callable[[str], None] | None = None) -> str:
        """Build ``service``'s image with the classic builder; ``args`` (``--build-arg``) win over
        the service's, ``show`` gets the build's output. Returns the image ID."""
        if self.builder:  # v2's bake hands it to buildx, where the daemon's is the only builder
            from dockyard.buildx import builders

            builders.check(self.builder, "default")  # v2 runs buildx with DOCKER_HOST: the default context
            self.builder = ""
        from pathlib import Path

        from dockyard.buildcontext.send import make_context, only_what_the_daemon_lacks

        p = self.need_project()
        b = p.services[service]["build"]
        context = Path(b["context"])
        inline = b.get("dockerfile_inline")
        tar, dockerfile = make_context(context, Path(b.get("dockerfile") or "Dockerfile"),
                                       None if inline is None else str(inline).encode())
        headers = {"Content-Type": "application/x-tar"}
        tar = only_what_the_daemon_lacks(self.c, context, tar, headers)  # as `dockyard build` sends it
        params: dict[str, Any] = {"t": E.image_name(p, service), "dockerfile": dockerfile,
                                  "buildargs": json.dumps({**(b.get("args") or {}), **(args or {})}),
                                  "labels": json.dumps({**(b.get("labels") or {}), E.PROJECT: p.name,
                                                        E.SERVICE: service}),
                                  "nocache": no_cache or bool(b.get("no_cache")), "pull": pull or bool(b.get("pull")),
                                  "rm": True}
        if memory:
            params["memory"] = memory
        if b.get("target"):
            params["target"] = b["target"]
        if b.get("cache_from"):
            params["cachefrom"] = json.dumps(b["cache_from"])
        self.out(f" Service {service}  Building")
        image = ""
        for msg in self.c.json_stream("POST", "/build", params, body=tar, headers=headers):
            if msg.get("error"):
                raise ComposeFailure(f"failed to build {service}: {msg['error']}")
            if show is not None and msg.get("stream"):
                show(msg["stream"])
            image = (msg.get("aux") or {}).get("ID") or image
        self._image_ids.pop(E.image_name(p, service), None)
        self.out(f" Service {service}  Built")
        return str(image)

    # --- containers -----------------------------------------------------------------------------

    def create(self, service: str, number: int, image_id: str, oneoff: str = "",
               overrides: dict[str, Any] | None = None, digest: str | None = None, use_aliases: bool = True) -> str:
        p = self.need_project()
        digest = digest or E.config_hash(self._references_resolved(p.services[service]))
        body = E.container_body(p, service, number, image_id, oneoff, self._resolve, overrides, digest=digest,
                                use_aliases=use_aliases)
        name = E.container_name(p, service, number, oneoff)
        endpoints = body["NetworkingConfig"]["EndpointsConfig"]
        first = body["HostConfig"]["NetworkMode"]
        body["NetworkingConfig"]["EndpointsConfig"] = {k: v for k, v in endpoints.items() if k == first}
        cid = str(self.c.json("POST", "/containers/create", {"name": name}, body=body)["Id"])
        for net, ep in endpoints.items():
            if net != first:
                self.c.request("POST", f"/networks/{net}/connect", body={"Container": cid, "EndpointConfig": ep}).read()
        files = E.inline_files(p, service)
        if files:
            self.c.request("PUT", f"/containers/{cid}/archive", {"path": "/"}, body=_tar_files(files)).read()
        return cid

    def _resolve(self, service: str) -> str:
        found = [c for c in self.containers(service) if c.get("State") == "running"] or self.containers(service)
        if not found:
            raise ComposeFailure(f"service {service} has no container to share a namespace with")
        return str(found[0]["Id"])

    def start(self, cid: str) -> None:
        try:
            self.c.request("POST", f"/containers/{cid}/start").read()
        except errors.DockyardError as err:
            if getattr(err, "status", 0) != 304:
                raise

    def stop(self, cid: str, timeout: int | None = None) -> None:
        self.c.request("POST", f"/containers/{cid}/stop", {"t": timeout} if timeout is not None else None).read()

    def _hooks(self, c: dict[str, Any], which: str) -> list[Any]:
        svc = self.project.services.get(c["Labels"].get(E.SERVICE, "")) if self.project is not None else None
        return list((svc or {}).get(which) or [])

    def pre_stop(self, c: dict[str, Any]) -> None:
        """The ``pre_stop`` hooks of a running container's service (a failing one stops the stop, as v2)."""
        if c.get("State") != "running" or self.dry_run or not self.files_loaded or not self._hooks(c, "pre_stop"):
            return
        from dockyard.compose import hooks

        assert self.project is not None
        service = c["Labels"][E.SERVICE]
        try:
            hooks.run(self.c, c["Id"], service, self.project.services[service], "pre_stop")
        except (errors.NotFound, errors.Conflict):
            return  # stopped or gone meanwhile: nothing to run the hook in, as v2

    def remove(self, cid: str, volumes: bool = False) -> None:
        self.c.request("DELETE", f"/containers/{cid}", {"force": True, "v": volumes}).read()

    # --- up -------------------------------------------------------------------------------------

    def up(self, services: list[str] | None = None, *, force_recreate: bool = False, no_recreate: bool = False,
           build: bool = False, no_build: bool = False, remove_orphans: bool = False,
           scale: dict[str, int] | None = None, no_deps: bool = False, no_start: bool = False,
           timeout: int | None = None, pull: str = "policy") -> list[str]:
        """Converge; returns the services brought up (dependencies included). Each service is a
        task that starts when the services it depends on are converged (and, unless ``no_start``,
        meet their conditions); the project's containers are listed once, up front."""
        p = self.need_project()
        wanted = with_dependencies(p.services, services, not no_deps)
        from dockyard.compose import models

        models.refuse(p, wanted)
        images = {s: self.image_id(s, pull=pull, build=build, no_build=no_build)
                  for s in order(p.services) if s in wanted and "provider" not in p.services[s]}
        self.ensure_networks()
        self.ensure_volumes()
        found = self.containers()
        self.handle_orphans(found, remove_orphans)
        by_service: dict[str, list[dict[str, Any]]] = {}
        for c in found:
            by_service.setdefault(c["Labels"].get(E.SERVICE, ""), []).append(c)
        plan = Plan(force_recreate, no_recreate, no_start, timeout)
        if self.planned is not None:
            self.planned(E.planned(p, wanted, scale or {}))
        tasks: dict[str, Task] = {}
        waits = any(p.services[s].get("depends_on") for s in wanted)
        with self.watching() if waits else nullcontext():
            for s in order(p.services):
                if s not in wanted:
                    continue
                deps = [tasks[d] for d in (p.services[s].get("depends_on") or {}) if d in tasks]
                tasks[s] = Task(self._converge_service, s, images.get(s, ""), deps, by_service.get(s, []),
                                (scale or {}).get(s), plan)
            each(Task.result, tasks.values())
        return [s for s in order(p.services) if s in wanted]

    def handle_orphans(self, found: list[dict[str, Any]], remove: bool) -> None:
        """The containers of ``found`` whose service the project no longer has: removed with ``remove``
        (``--remove-orphans``), else named in v2's warning."""
        p = self.need_project()
        orphans = [c for c in found if c["Labels"].get(E.SERVICE) not in p.services]
        if orphans and not remove:
            self.out(f'Found orphan containers ({", ".join(c["Names"][0].lstrip("/") for c in orphans)}) for this '
                     "project. If you removed or renamed this service in your compose file, you can run this command "
                     "with the --remove-orphans flag to clean it up.")
        for c in orphans if remove else []:
            self.out(f" Container {c['Names'][0].lstrip('/')}  Removing")
            self.remove(c["Id"])

    def _converge_service(self, service: str, image_id: str, deps: list[Task], found: list[dict[str, Any]],
                          scale: int | None, plan: Plan) -> None:
        for d in deps:
            d.result()
        p = self.need_project()
        svc = p.services[service]
        if "provider" in svc:  # no container: its provider runs, its variables go to the dependents
            from dockyard.compose import provider

            return provider.up(p, service, self.out, self.dry_run)
        if not plan.no_start:
            self.wait_dependencies(service)
        want = scale if scale is not None else E.replicas(svc)
        digest = E.config_hash(self._references_resolved(svc))
        existing = {number_of(c): c for c in found}
        extra = [c for n, c in sorted(existing.items()) if n > want]
        for c in extra:
            self.out(f" Container {c['Names'][0].lstrip('/')}  Stopping")
        each(self._scale_down, extra)
        # depends_on.<dep>.restart: a dependency up recreated restarts this service's containers
        restart = any(d in self._recreated and (spec or {}).get("restart")
                      for d, spec in (svc.get("depends_on") or {}).items())
        each(lambda n: self._converge_one(service, n, existing.get(n), image_id, digest, plan, restart),
             range(1, want + 1))

    def _scale_down(self, c: dict[str, Any]) -> None:
        self.pre_stop(c)  # as v2's stopAndRemoveContainer
        self.remove(c["Id"])

    def _converge_one(self, service: str, n: int, c: dict[str, Any] | None, image_id: str, digest: str,
                      plan: Plan, restart: bool = False) -> None:
        name = E.container_name(self.need_project(), service, n)
        if c is not None:
            stale = c["Labels"].get(E.HASH) != digest or c["Labels"].get(E.IMAGE, image_id) != image_id
            if not (plan.force or (stale and not plan.no_recreate)):
                if restart and not plan.no_start and c.get("State") == "running":  # stopped, started: as v2
                    self._stop_one(c, plan.timeout)
                    self._start_one(service, c["Id"], name, n)
                elif not plan.no_start and c.get("State") != "running":
                    self._start_one(service, c["Id"], name, n)
                else:
                    self.out(f" Container {name}  Running")
                return
            self.out(f" Container {name}  Recreate")
            self._recreated.add(service)
            self.stop(c["Id"], plan.timeout)
            self.remove(c["Id"])
        self.out(f" Container {name}  Creating")
        try:
            cid = self.create(service, n, image_id, digest=digest)
        except DaemonError as err:  # v2's event line for the daemon's refusal
            self.out(f" Container {name}  Error response from daemon: {err}")
            raise
        self.out(f" Container {name}  Created")
        if not plan.no_start:
            self._start_one(service, cid, name, n)

    def _start_one(self, service: str, cid: str, name: str, n: int) -> None:
        """Started, then the service's ``post_start`` hooks run (as v2: "Started" once they passed)."""
        self.out(f" Container {name}  Starting")
        self.start(cid)
        if self.started is not None:
            self.started(service, cid, name, {E.PROJECT: self.name, E.SERVICE: service, E.NUMBER: str(n)})
        self.post_start(service, cid, name)
        self.out(f" Container {name}  Started")

    def post_start(self, service: str, cid: str, name: str | None = None) -> None:
        """The service's ``post_start`` hooks in its started container ``cid`` (none in a dry run); with
        ``name``, their output goes to ``hook_output`` under that container name."""
        svc = (self.project.services.get(service) or {}) if self.project is not None else {}
        if not svc.get("post_start") or self.dry_run or not self.files_loaded:
            return
        from dockyard.compose import hooks

        show = self.hook_output
        hooks.run(self.c, cid, service, svc, "post_start",
                  None if show is None or name is None else lambda data: show(name, data))

    def _references_resolved(self, svc: dict[str, Any]) -> dict[str, Any]:
        """``svc`` as Compose v2 hashes it: ``volumes_from``, ``network_mode``, ``ipc`` and ``pid``
        naming a service name the ID of its first container (by name) instead."""
        out = dict(svc)
        if svc.get("volumes_from"):
            out["volumes_from"] = [v.split(":")[1] if v.startswith("container:") else self._first_id(v.split(":")[0])
                                   for v in svc["volumes_from"]]
        for key in ("network_mode", "ipc", "pid"):
            value = str(svc.get(key) or "")
            if value.startswith("service:"):
                out[key] = "container:" + self._first_id(value.split(":", 1)[1])
        return out

    def _first_id(self, service: str) -> str:
        found = sorted(self.containers(service), key=lambda c: min(c["Names"], key=len).lstrip("/"))
        if not found:
            raise ComposeFailure(f"service {service} has no container to share with")
        return str(found[0]["Id"])

    def wait_dependencies(self, service: str) -> None:
        p = self.need_project()
        for dep, spec in (p.services[service].get("depends_on") or {}).items():
            if dep in p.services and "provider" not in p.services[dep]:  # a provider is waited for by order
                self.wait_condition(dep, spec.get("condition", "service_started"), bool(spec.get("required", True)))

    @contextmanager
    def watching(self) -> Iterator[ProjectEvents]:
        """The project's event stream, opened by the first of nested users and closed by the last."""
        with self._watch_lock:
            if self._events is None:
                from dockyard.compose.events import ProjectEvents

                self._events = ProjectEvents(self.c, self.name)
            self._watchers += 1
            events = self._events
        try:
            yield events
        finally:
            with self._watch_lock:
                self._watchers -= 1
                if self._watchers == 0:
                    self._events = None
                    events.close()

    def wait_condition(self, service: str, condition: str, required: bool = True, limit: float = 600) -> None:
        """Block until every container of ``service`` meets ``condition`` (raise when it never can):
        the state is read again only after one of the project's events."""
        if self.dry_run:  # nothing was started: no condition can be met, none is waited for
            return
        deadline = time.monotonic() + limit
        with self.watching() as events:
            while True:
                mark = events.mark()
                states = [self.inspect(c["Id"])["State"] for c in self.containers(service)]
                if not states:
                    if condition == "service_completed_successfully":
                        return
                    raise ComposeFailure(f"service {service} has no container")
                if all(_meets(condition, s) for s in states):
                    return
                failed = next((s for s in states if _failed(condition, s)), None)
                if failed is not None:
                    if not required:
                        return
                    raise ComposeFailure(_failure(service, condition, failed))
                if not events.wait_after(mark, deadline - time.monotonic()):
                    raise ComposeFailure(f"timeout waiting for {service} to be {condition}")

    def wait_ready(self, services: list[str], limit: float = 600) -> None:
        """``up --wait``: every service running (healthy where it has a healthcheck), one-shots done."""
        p = self.need_project()
        with self.watching():
            self._wait_each_ready(p, services, limit)

    def _wait_each_ready(self, p: Project, services: list[str], limit: float) -> None:
        for s in services:
            has_health = bool(p.services[s].get("healthcheck")) and not p.services[s]["healthcheck"].get("disable")
            restart = E._restart(p.services[s])["Name"]
            states = [self.inspect(c["Id"])["State"] for c in self.containers(s)]
            if restart in ("", "no") and states and all(st["Status"] == "exited" for st in states):
                self.wait_condition(s, "service_completed_successfully", True, limit)
                continue
            self.wait_condition(s, "service_healthy" if has_health else "service_started", True, limit)

    # --- down and the rest ----------------------------------------------------------------------

    def down(self, volumes: bool = False, rmi: str = "", remove_orphans: bool = False,
             timeout: int | None = None) -> None:
        containers = self.containers(oneoff=None)
        if self.project is not None and not remove_orphans:
            containers = [c for c in containers if c["Labels"].get(E.SERVICE) in self.project.services
                          or c["Labels"].get(E.ONEOFF) == "True"]
        self._remove_in_order(containers, timeout)
        if self.project is not None and self.files_loaded and not self.dry_run:
            from dockyard.compose import provider

            provider.down_all(self.project, self.out)
        each(self._remove_network, [n for n in self.networks() if not self._external_network(n["Name"])])
        if volumes:
            each(self._remove_volume, self.volumes())
        if rmi:
            self._remove_images(containers, rmi)

    def _external_network(self, name: str) -> bool:
        return self.project is not None and any(s.get("external") and s["name"] == name
                                                for s in self.project.networks.values())

    def _remove_network(self, n: dict[str, Any]) -> None:
        self.out(f" Network {n['Name']}  Removing")
        try:
            self.c.request("DELETE", f"/networks/{n['Id']}").read()
        except errors.NotFound:
            pass  # gone already: what down wants
        self.out(f" Network {n['Name']}  Removed")

    def _remove_volume(self, v: dict[str, Any]) -> None:
        self.out(f" Volume {v['Name']}  Removing")
        self.c.request("DELETE", f"/volumes/{v['Name']}").read()
        self.out(f" Volume {v['Name']}  Removed")

    def _remove_in_order(self, containers: list[dict[str, Any]], timeout: int | None) -> None:
        """Dependents first (by the depends_on label): each service's containers are stopped and
        removed as soon as every service depending on it is gone, independent ones at the same time."""
        by_service: dict[str, list[dict[str, Any]]] = {}
        deps: dict[str, set[str]] = {}
        for c in containers:
            s = c["Labels"].get(E.SERVICE, "")
            by_service.setdefault(s, []).append(c)
            deps[s] = {d.split(":")[0] for d in (c["Labels"].get(E.DEPENDS) or "").split(",") if d}
        graph: dict[str, dict[str, Any]] = {s: {"depends_on": {d: {} for d in ds if d in by_service}}
                                            for s, ds in deps.items()}
        gone: dict[str, Task] = {}
        for s in reversed(order(graph)):  # a service's dependents are submitted before it
            dependents = [gone[t] for t in by_service if s in graph[t]["depends_on"] and t in gone]
            gone[s] = Task(self._remove_service, by_service[s], dependents, timeout)
        each(Task.result, gone.values())

    def _remove_service(self, containers: list[dict[str, Any]], dependents: list[Task], timeout: int | None) -> None:
        for t in dependents:
            t.result()
        each(lambda c: self._stop_and_remove(c, timeout), containers)

    def _stop_and_remove(self, c: dict[str, Any], timeout: int | None) -> None:
        """Stopped, then removed; with no time to stop in (``-t 0``) one forced removal does both
        (the stop would send SIGKILL at once too), one call to the daemon instead of two."""
        running = c.get("State") in ("running", "paused", "restarting")
        if running and timeout == 0 and not self._hooks(c, "pre_stop"):
            name = c["Names"][0].lstrip("/")
            self.out(f" Container {name}  Stopping")
            self.remove(c["Id"])
            for state in ("Stopped", "Removing", "Removed"):
                self.out(f" Container {name}  {state}")
            return
        if running:
            self._stop_one(c, timeout)
        self._remove_one(c)

    def _remove_one(self, c: dict[str, Any]) -> None:
        name = c["Names"][0].lstrip("/")
        self.out(f" Container {name}  Removing")
        self.remove(c["Id"], volumes=False)
        self.out(f" Container {name}  Removed")

    def _stop_one(self, c: dict[str, Any], timeout: int | None) -> None:
        name = c["Names"][0].lstrip("/")
        self.out(f" Container {name}  Stopping")
        self.pre_stop(c)
        self.stop(c["Id"], timeout)
        self.out(f" Container {name}  Stopped")

    def _remove_images(self, containers: list[dict[str, Any]], rmi: str) -> None:
        images = set()
        for c in containers:
            if rmi == "all" or c["Image"].startswith(self.name + "-"):
                images.add(c["Image"])
        for image in sorted(images):
            try:
                self.c.request("DELETE", f"/images/{image}").read()
                self.out(f" Image {image}  Removed")
            except errors.NotFound:
                pass

    def logs(self, containers: list[dict[str, Any]], follow: bool = False, tail: str = "all",
             timestamps: bool = False, write: Callable[[str, bytes], None] | None = None, since: str = "",
             until: str = "") -> None:
        window = {k: v for k, v in (("since", since), ("until", until)) if v}
        threads = []
        for c in containers:
            t = threading.Thread(target=self._log_one, args=(c, follow, tail, timestamps, write, window),
                                 daemon=True)
            t.start()
            threads.append(t)
        for t in threads:
            t.join()

    def _log_one(self, c: dict[str, Any], follow: bool, tail: str, timestamps: bool,
                 write: Callable[[str, bytes], None] | None, window: dict[str, str] | None = None) -> None:
        assert write is not None
        name = c["Names"][0].lstrip("/")
        tty = bool(self.inspect(c["Id"])["Config"].get("Tty"))
        resp = self.c.request("GET", f"/containers/{c['Id']}/logs", {"stdout": 1, "stderr": 1, "follow": follow,
                                                                      "tail": tail, "timestamps": timestamps,
                                                                      **(window or {})})
        for chunk in (_raw_lines(resp) if tty else _frames(resp)):
            write(name, chunk)


_LAYER_DONE = ("Download complete", "Already exists", "Pull complete")


def _layer_event(service: str, msg: dict[str, Any]) -> tuple[str, str, str, str, bool, int, int, int]:
    """A pull stream's layer message as v2's toPullProgressEvent makes it: (ID, text, details, parent,
    done, current, total, percent)."""
    from dockyard.cli.progress import bar

    detail, text = msg["progressDetail"], str(msg.get("status") or "")
    current = total = percent = 0
    if text in ("Downloading", "Extracting", "Verifying Checksum"):
        current, total = int(detail.get("current") or 0), int(detail.get("total") or 0)
        percent = current * 100 // total if total > 0 else 0
    done = text in _LAYER_DONE or "Image is up to date" in text or "Downloaded newer image" in text
    return str(msg["id"]), text, bar(detail, 200), service, done, current, total, 100 if done else percent


def _meets(condition: str, s: dict[str, Any]) -> bool:
    if condition == "service_healthy":
        return bool(s.get("Running")) and (s.get("Health") or {}).get("Status") == "healthy"
    if condition == "service_completed_successfully":
        return s.get("Status") == "exited" and s.get("ExitCode") == 0
    return bool(s.get("Running")) or s.get("Status") == "exited" and s.get("ExitCode") == 0


def _failed(condition: str, s: dict[str, Any]) -> bool:
    if condition == "service_healthy":
        return (s.get("Health") or {}).get("Status") == "unhealthy" or s.get("Status") in ("exited", "dead") or \
            not s.get("Health") and bool(s.get("Running"))
    if condition == "service_completed_successfully":
        return s.get("Status") == "exited" and s.get("ExitCode") != 0
    return s.get("Status") in ("exited", "dead") and s.get("ExitCode") != 0


def _failure(service: str, condition: str, s: dict[str, Any]) -> str:
    if condition == "service_healthy" and not s.get("Health"):
        return f"container for service {service} has no healthcheck configured"
    if (s.get("Health") or {}).get("Status") == "unhealthy":
        return f"dependency failed to start: container for service {service} is unhealthy"
    return f"service {service!r} didn't complete successfully: exit {s.get('ExitCode')}"


def _frames(resp: Any) -> Iterator[bytes]:
    """Docker's multiplexed log stream as its payloads, split into lines."""
    from dockyard.client.http import frames

    pending = b""
    for _, payload in frames(iter(resp.read1, b"")):
        *lines, pending = (pending + payload).split(b"\n")
        for line in lines:
            yield line + b"\n"
    if pending:
        yield pending + b"\n"
    resp.close()


def _raw_lines(resp: Any) -> Iterator[bytes]:
    for line in resp:
        yield line if line.endswith(b"\n") else line + b"\n"


def _tar_files(files: list[tuple[str, bytes, int]]) -> bytes:
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path, data, mode in files:
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()
