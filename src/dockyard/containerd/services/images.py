"""The images service of dockyard-containerd (gRPC wiring over the library)."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from dockyard import errors
from dockyard.api import pb, rpc
from dockyard.containerd.images.unpack import unpack
from dockyard.containerd.metadata.db import ImageRecord
from dockyard.containerd.services.base import (
    Services,
    _desc,
    _image_pb,
    namespace_of,
    translated,
)
from dockyard.containerd.snapshots.snapshotter import Snapshotter


class ImagesServicer(rpc.ImagesServicer):
    def __init__(self, s: Services) -> None:
        self.s = s

    @translated
    async def Get(self, request: pb.GetImageRequest, context: Any) -> pb.Image:
        return _image_pb(await asyncio.to_thread(self.s.meta.get_image, namespace_of(context), request.name))

    @translated
    async def List(self, request: pb.ListImagesRequest, context: Any) -> pb.ListImagesResponse:
        imgs = await asyncio.to_thread(self.s.meta.list_images, namespace_of(context))
        return pb.ListImagesResponse(images=[_image_pb(i) for i in imgs])

    @translated
    async def Put(self, request: pb.Image, context: Any) -> pb.Image:
        if not request.name:
            raise errors.InvalidArgument("image name must not be empty")
        target = _desc(request.target)
        await asyncio.to_thread(self.s.content.info, target.digest)  # the target must exist
        rec = ImageRecord(request.name, target, dict(request.labels))
        return _image_pb(await asyncio.to_thread(self.s.meta.put_image, namespace_of(context), rec))

    @translated
    async def Delete(self, request: pb.DeleteImageRequest, context: Any) -> pb.Empty:
        await asyncio.to_thread(self.s.meta.delete_image, namespace_of(context), request.name)
        return pb.Empty()

    @translated
    async def Unpack(self, request: pb.UnpackRequest, context: Any) -> pb.UnpackResponse:
        ns = namespace_of(context)
        img = await asyncio.to_thread(self.s.meta.get_image, ns, request.name)

        def run() -> str:
            with self.s.unpack_lock:  # two unpacks of one chain must not race on its snapshot
                # the namespaced view has every method unpack uses (not update/close: not a full Snapshotter)
                snaps = cast(Snapshotter, self.s.snapshots(ns))
                return unpack(self.s.content, snaps, img.target.digest, work_dir=self.s.work_dir)

        return pb.UnpackResponse(chain_id=await asyncio.to_thread(run))
