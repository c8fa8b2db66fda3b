"""The gRPC servicers of runtime.v1: RuntimeService and ImageService, translation only.

Requests go to ``runtime.Runtime`` and ``images.CriImages``; ``dockyard.errors`` kinds come
back as the gRPC codes the kubelet and critest expect (NotFound, InvalidArgument, ...).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import grpc

from dockyard import __version__, errors
from dockyard.cri import metrics
from dockyard.cri.api import api_pb2 as cri
from dockyard.cri.api import api_pb2_grpc as cri_grpc
from dockyard.cri.execio import DeadlineExceeded
from dockyard.cri.images import CriImages, image_pb
from dockyard.cri.runtime import Runtime
from dockyard.cri.store import decode
from dockyard.cri.streaming import StreamServer

log = logging.getLogger("dockyard.cri")


CODES: list[tuple[type[errors.DockyardError], grpc.StatusCode]] = [
    (errors.NotFound, grpc.StatusCode.NOT_FOUND),
    (errors.AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (errors.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.Conflict, grpc.StatusCode.ABORTED),
    (errors.Unavailable, grpc.StatusCode.UNAVAILABLE),
    (errors.PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (errors.NotImplementedYet, grpc.StatusCode.UNIMPLEMENTED),
    (DeadlineExceeded, grpc.StatusCode.DEADLINE_EXCEEDED),
]

F = TypeVar("F", bound=Callable[..., Any])


def code_of(err: errors.DockyardError) -> grpc.StatusCode:
    return next((code for kind, code in CODES if isinstance(err, kind)), grpc.StatusCode.INTERNAL)


def translated(fn: F) -> F:
    @functools.wraps(fn)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await fn(self, request, context)
        except errors.DockyardError as err:
            await context.abort(code_of(err), str(err))
        except OSError as err:
            log.exception("%s failed", fn.__name__)
            await context.abort(grpc.StatusCode.INTERNAL, f"{fn.__name__}: {err}")

    return wrapper  # type: ignore[return-value]


def _labels_match(selector: Any, labels: Any) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


class RuntimeServicer(cri_grpc.RuntimeServiceServicer):
    def __init__(self, rt: Runtime, streams: StreamServer) -> None:
        self.rt = rt
        self.streams = streams

    @translated
    async def Version(self, request: cri.VersionRequest, context: Any) -> cri.VersionResponse:
        return cri.VersionResponse(version="0.1.0", runtime_name="dockyard", runtime_version=__version__,
                                   runtime_api_version="v1")

    @translated
    async def Status(self, request: cri.StatusRequest, context: Any) -> cri.StatusResponse:
        net_ok, why = self.rt.s.cni.ready()
        conditions = [cri.RuntimeCondition(type="RuntimeReady", status=True),
                      cri.RuntimeCondition(type="NetworkReady", status=net_ok,
                                           reason="" if net_ok else "NetworkPluginNotReady", message=why)]
        handler = cri.RuntimeHandler(name="", features=cri.RuntimeHandlerFeatures(
            recursive_read_only_mounts=True, user_namespaces=True))  # rro: mount_setattr(AT_RECURSIVE), runtime/linux/mountopts.py
        return cri.StatusResponse(status=cri.RuntimeStatus(conditions=conditions), runtime_handlers=[handler],
                                  features=cri.RuntimeFeatures(supplemental_groups_policy=True))

    @translated
    async def RuntimeConfig(self, request: cri.RuntimeConfigRequest, context: Any) -> cri.RuntimeConfigResponse:
        return cri.RuntimeConfigResponse(linux=cri.LinuxRuntimeConfiguration(cgroup_driver=cri.CGROUPFS))

    @translated
    async def UpdateRuntimeConfig(self, request: cri.UpdateRuntimeConfigRequest,
                                  context: Any) -> cri.UpdateRuntimeConfigResponse:
        return cri.UpdateRuntimeConfigResponse()

    # -- pods

    @translated
    async def RunPodSandbox(self, request: cri.RunPodSandboxRequest, context: Any) -> cri.RunPodSandboxResponse:
        id = await self.rt.run_pod(request.config, request.runtime_handler)
        return cri.RunPodSandboxResponse(pod_sandbox_id=id)

    @translated
    async def StopPodSandbox(self, request: cri.StopPodSandboxRequest, context: Any) -> cri.StopPodSandboxResponse:
        await self.rt.stop_pod(request.pod_sandbox_id)
        return cri.StopPodSandboxResponse()

    @translated
    async def RemovePodSandbox(self, request: cri.RemovePodSandboxRequest,
                               context: Any) -> cri.RemovePodSandboxResponse:
        await self.rt.remove_pod(request.pod_sandbox_id)
        return cri.RemovePodSandboxResponse()

    @translated
    async def PodSandboxStatus(self, request: cri.PodSandboxStatusRequest,
                               context: Any) -> cri.PodSandboxStatusResponse:
        rec = self.rt.sandbox(request.pod_sandbox_id)
        status = self.rt.sandbox_status_pb(rec, await self.rt.pod_ready(rec))
        out = cri.PodSandboxStatusResponse(status=status)
        out.containers_statuses.extend(self.rt.container_status_pb(c) for c in self.rt.containers.items.values()
                                       if c.sandbox_id == rec.id)
        if request.verbose:
            out.info["info"] = f'{{"pid": {rec.pid}, "netns": "{rec.netns}"}}'
        return out

    @translated
    async def ListPodSandbox(self, request: cri.ListPodSandboxRequest, context: Any) -> cri.ListPodSandboxResponse:
        f = request.filter
        out = []
        for rec in list(self.rt.sandboxes.items.values()):
            if f.id and not rec.id.startswith(f.id):
                continue
            config = decode(cri.PodSandboxConfig, rec.config)
            if not _labels_match(f.label_selector, config.labels):
                continue
            ready = await self.rt.pod_ready(rec)
            state = cri.SANDBOX_READY if ready else cri.SANDBOX_NOTREADY
            if f.HasField("state") and f.state.state != state:
                continue
            out.append(cri.PodSandbox(id=rec.id, metadata=config.metadata, state=state, created_at=rec.created_at,
                                      labels=config.labels, annotations=config.annotations,
                                      runtime_handler=rec.runtime_handler))
        return cri.ListPodSandboxResponse(items=out)

    # -- containers

    @translated
    async def CreateContainer(self, request: cri.CreateContainerRequest, context: Any) -> cri.CreateContainerResponse:
        id = await self.rt.create_container(request.pod_sandbox_id, request.config, request.sandbox_config)
        return cri.CreateContainerResponse(container_id=id)

    @translated
    async def StartContainer(self, request: cri.StartContainerRequest, context: Any) -> cri.StartContainerResponse:
        await self.rt.start_container(request.container_id)
        return cri.StartContainerResponse()

    @translated
    async def StopContainer(self, request: cri.StopContainerRequest, context: Any) -> cri.StopContainerResponse:
        await self.rt.stop_container(request.container_id, int(request.timeout))
        return cri.StopContainerResponse()

    @translated
    async def RemoveContainer(self, request: cri.RemoveContainerRequest, context: Any) -> cri.RemoveContainerResponse:
        await self.rt.remove_container(request.container_id)
        return cri.RemoveContainerResponse()

    @translated
    async def ListContainers(self, request: cri.ListContainersRequest, context: Any) -> cri.ListContainersResponse:
        f = request.filter
        out = []
        for c in list(self.rt.containers.items.values()):
            if f.id and not c.id.startswith(f.id):
                continue
            if f.pod_sandbox_id and not c.sandbox_id.startswith(f.pod_sandbox_id):
                continue
            state = self.rt.container_state(c)
            if f.HasField("state") and f.state.state != state:
                continue
            config = decode(cri.ContainerConfig, c.config)
            if not _labels_match(f.label_selector, config.labels):
                continue
            out.append(cri.Container(id=c.id, pod_sandbox_id=c.sandbox_id, metadata=config.metadata,
                                     image=cri.ImageSpec(image=config.image.image), image_ref=c.image_ref,
                                     image_id=c.image_ref, state=state, created_at=c.created_at,
                                     labels=config.labels, annotations=config.annotations))
        return cri.ListContainersResponse(containers=out)

    @translated
    async def ContainerStatus(self, request: cri.ContainerStatusRequest, context: Any) -> cri.ContainerStatusResponse:
        c = self.rt.container(request.container_id)
        out = cri.ContainerStatusResponse(status=self.rt.container_status_pb(c))
        if request.verbose:
            out.info["info"] = f'{{"pid": {c.pid}, "sandboxID": "{c.sandbox_id}"}}'
        return out

    @translated
    async def UpdateContainerResources(self, request: cri.UpdateContainerResourcesRequest,
                                       context: Any) -> cri.UpdateContainerResourcesResponse:
        await self.rt.update_resources(request.container_id, request.linux)
        return cri.UpdateContainerResourcesResponse()

    @translated
    async def ReopenContainerLog(self, request: cri.ReopenContainerLogRequest,
                                 context: Any) -> cri.ReopenContainerLogResponse:
        self.rt.reopen_log(request.container_id)
        return cri.ReopenContainerLogResponse()

    @translated
    async def ExecSync(self, request: cri.ExecSyncRequest, context: Any) -> cri.ExecSyncResponse:
        stdout, stderr, code = await self.rt.exec_sync(request.container_id, list(request.cmd), int(request.timeout))
        return cri.ExecSyncResponse(stdout=stdout, stderr=stderr, exit_code=code)

    @translated
    async def Exec(self, request: cri.ExecRequest, context: Any) -> cri.ExecResponse:
        self.rt.running(request.container_id)
        if not (request.stdout or request.stderr or request.stdin):
            raise errors.InvalidArgument("one of stdin, stdout or stderr must be set")
        if not request.cmd:
            raise errors.InvalidArgument("exec: no command")
        return cri.ExecResponse(url=self.streams.register("exec", request))

    @translated
    async def Attach(self, request: cri.AttachRequest, context: Any) -> cri.AttachResponse:
        self.rt.running(request.container_id)
        if not (request.stdout or request.stderr or request.stdin):
            raise errors.InvalidArgument("one of stdin, stdout or stderr must be set")
        return cri.AttachResponse(url=self.streams.register("attach", request))

    @translated
    async def PortForward(self, request: cri.PortForwardRequest, context: Any) -> cri.PortForwardResponse:
        self.rt.sandbox(request.pod_sandbox_id)
        return cri.PortForwardResponse(url=self.streams.register("portforward", request))

    # -- stats

    @translated
    async def ContainerStats(self, request: cri.ContainerStatsRequest, context: Any) -> cri.ContainerStatsResponse:
        return cri.ContainerStatsResponse(stats=await self.rt.stats(self.rt.container(request.container_id)))

    @translated
    async def ListContainerStats(self, request: cri.ListContainerStatsRequest,
                                 context: Any) -> cri.ListContainerStatsResponse:
        f = request.filter
        out = []
        for c in list(self.rt.containers.items.values()):
            if f.id and not c.id.startswith(f.id):
                continue
            if f.pod_sandbox_id and not c.sandbox_id.startswith(f.pod_sandbox_id):
                continue
            if not _labels_match(f.label_selector, decode(cri.ContainerConfig, c.config).labels):
                continue
            out.append(await self.rt.stats(c))
        return cri.ListContainerStatsResponse(stats=out)

    @translated
    async def PodSandboxStats(self, request: cri.PodSandboxStatsRequest, context: Any) -> cri.PodSandboxStatsResponse:
        rec = self.rt.sandbox(request.pod_sandbox_id)
        return cri.PodSandboxStatsResponse(stats=await self._pod_stats(rec))

    @translated
    async def ListPodSandboxStats(self, request: cri.ListPodSandboxStatsRequest,
                                  context: Any) -> cri.ListPodSandboxStatsResponse:
        f = request.filter
        out = []
        for rec in list(self.rt.sandboxes.items.values()):
            if f.id and not rec.id.startswith(f.id):
                continue
            if not _labels_match(f.label_selector, decode(cri.PodSandboxConfig, rec.config).labels):
                continue
            out.append(await self._pod_stats(rec))
        return cri.ListPodSandboxStatsResponse(stats=out)

    async def _pod_stats(self, rec: Any) -> cri.PodSandboxStats:
        config = decode(cri.PodSandboxConfig, rec.config)
        attrs = cri.PodSandboxAttributes(id=rec.id, metadata=config.metadata, labels=config.labels,
                                         annotations=config.annotations)
        containers = [await self.rt.stats(c) for c in self.rt.containers.items.values() if c.sandbox_id == rec.id]
        out = cri.PodSandboxStats(attributes=attrs)
        out.linux.containers.extend(containers)
        return out

    @translated
    async def ListMetricDescriptors(self, request: cri.ListMetricDescriptorsRequest,
                                    context: Any) -> cri.ListMetricDescriptorsResponse:
        return cri.ListMetricDescriptorsResponse(descriptors=metrics.descriptors())

    @translated
    async def ListPodSandboxMetrics(self, request: cri.ListPodSandboxMetricsRequest,
                                    context: Any) -> cri.ListPodSandboxMetricsResponse:
        return cri.ListPodSandboxMetricsResponse(pod_metrics=[
            await self.rt.pod_metrics(rec) for rec in list(self.rt.sandboxes.items.values()) if rec.ready])

    async def GetContainerEvents(self, request: cri.GetEventsRequest,
                                 context: Any) -> AsyncIterator[cri.ContainerEventResponse]:
        async for ev in self.rt.event_stream():
            yield ev

    @translated
    async def CheckpointContainer(self, request: cri.CheckpointContainerRequest,
                                  context: Any) -> cri.CheckpointContainerResponse:
        raise errors.NotImplementedYet("checkpoint is not supported")


class ImageServicer(cri_grpc.ImageServiceServicer):
    def __init__(self, images: CriImages) -> None:
        self.images = images

    @translated
    async def ListImages(self, request: cri.ListImagesRequest, context: Any) -> cri.ListImagesResponse:
        want = request.filter.image.image
        imgs = await self.images.list()
        if want:
            one = await self.images.find(want)
            imgs = [i for i in imgs if one is not None and i.id == one.id]
        return cri.ListImagesResponse(images=[image_pb(i) for i in imgs])

    @translated
    async def ImageStatus(self, request: cri.ImageStatusRequest, context: Any) -> cri.ImageStatusResponse:
        img = await self.images.find(request.image.image)
        if img is None:
            return cri.ImageStatusResponse()
        out = cri.ImageStatusResponse(image=image_pb(img))
        if request.verbose:
            out.info["info"] = json.dumps({"imageSpec": img.config, "chainID": img.chain_id})
        return out

    @translated
    async def PullImage(self, request: cri.PullImageRequest, context: Any) -> cri.PullImageResponse:
        if not request.image.image:
            raise errors.InvalidArgument("PullImage: no image given")
        auth = request.auth if request.HasField("auth") else None
        return cri.PullImageResponse(image_ref=await self.images.pull(request.image.image, auth))

    @translated
    async def RemoveImage(self, request: cri.RemoveImageRequest, context: Any) -> cri.RemoveImageResponse:
        await self.images.remove(request.image.image)
        return cri.RemoveImageResponse()

    @translated
    async def ImageFsInfo(self, request: cri.ImageFsInfoRequest, context: Any) -> cri.ImageFsInfoResponse:
        usage = self.images.fs_info()
        return cri.ImageFsInfoResponse(image_filesystems=[usage], container_filesystems=[usage])
