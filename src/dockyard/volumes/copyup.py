"""First-mount copy of image content into an empty volume, through containerd.

Docker copies what the image has at the mount point into a new, empty volume. The engine
neither mounts nor reads a snapshotter's directories: containerd shows the container's snapshot
read-only for the call and sends a tar of the mount point's directory (``Snapshots.Archive``,
named as ``docker cp`` names ``dir/.``), which is unpacked into the volume by
``archive/safe_extract`` (directory fds, ``O_NOFOLLOW``, ``O_EXCL``, the archive ``Limits``):
the volume may be shared with a running container that plants symlinks in it meanwhile. The
volume's own directory takes the owner and mode (and xattrs, mtime) of the image's directory, the
archive's root entry, as dockerd's ``copyExistingContents`` does.
"""

from __future__ import annotations

import tarfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO

from dockyard import errors
from dockyard.archive.files import extract_stream
from dockyard.archive.safe_extract import Extractor, Root, open_tar
from dockyard.containerd.client import ContainerdClient


async def copy_image_path(cd: ContainerdClient, snapshot: str, path: str, dest: Path) -> bool:
    """Copy the directory ``path`` of ``snapshot`` into the empty directory ``dest``; False when
    the snapshot has no directory there (nothing, or something else)."""
    chunks = cd.snapshot_archive(snapshot, path.rstrip("/") + "/.")
    try:
        first = await anext(chunks)  # containerd answers a missing path before any data
    except (errors.NotFound, errors.InvalidArgument, StopAsyncIteration):
        return False

    async def rest() -> AsyncIterator[bytes]:
        yield first
        async for data in chunks:
            yield data

    await extract_stream(rest(), lambda src: _unpack(src, dest))
    return True


def _unpack(src: IO[bytes], dest: Path) -> None:
    with Root(dest) as root, open_tar(src) as tf:
        try:
            Extractor(root, whiteouts=False, root_meta=True).extract(tf)  # "." is the image's directory
        except tarfile.TarError as err:
            raise errors.InvalidArgument(f"volume copy-up: {err}") from err
