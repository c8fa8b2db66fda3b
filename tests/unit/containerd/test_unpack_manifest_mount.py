import io
import json
from pathlib import Path

import pytest
from layertar import d, f, make_tar

from dockyard.containerd.content import LocalContentStore, write_blob
from dockyard.containerd.diff import write_layer
from dockyard.containerd.images import Platform, read_config, read_manifest, unpack
from dockyard.containerd.images.manifest import host_platform
from dockyard.containerd.mount import MS_BIND, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC, parse_options
from dockyard.containerd.snapshots import NativeSnapshotter
from dockyard.errors import InvalidArgument, NotFound
from dockyard.oci import image as oci
from dockyard.types import Descriptor


def test_parse_options() -> None:
    assert parse_options(["rbind", "ro", "nosuid", "rprivate"]) == (MS_BIND | MS_REC | MS_RDONLY | MS_NOSUID, MS_PRIVATE | MS_REC, "")
    assert parse_options(["ro", "rw", "lowerdir=/a:/b", "index=off"]) == (0, 0, "lowerdir=/a:/b,index=off")


def _image(store: LocalContentStore, tars: list[bytes], media_type: str = oci.MEDIA_TYPE_OCI_MANIFEST) -> str:
    pairs = [write_layer(io.BytesIO(t), store) for t in tars]
    cfg = oci.make_config([p[1] for p in pairs])
    cdesc = Descriptor(oci.MEDIA_TYPE_DOCKER_CONFIG if "docker" in media_type else oci.MEDIA_TYPE_OCI_CONFIG, write_blob(store, cfg), len(cfg))
    layers = [Descriptor(oci.MEDIA_TYPE_DOCKER_LAYER_GZIP, p[0].digest, p[0].size) for p in pairs] if "docker" in media_type else [p[0] for p in pairs]
    return write_blob(store, oci.make_manifest(cdesc, layers, media_type=media_type))


def test_read_manifest_docker_and_index(tmp_path: Path) -> None:
    store = LocalContentStore(tmp_path)
    mdig = _image(store, [make_tar([f("a", b"1")])], oci.MEDIA_TYPE_DOCKER_MANIFEST)
    m = read_manifest(store, mdig)
    assert m.media_type == oci.MEDIA_TYPE_DOCKER_MANIFEST and len(m.layers) == 1
    assert read_config(store, m)["rootfs"]["type"] == "layers"
    host = host_platform()
    size = store.info(mdig).size
    idx = oci.make_index([
        Descriptor(oci.MEDIA_TYPE_DOCKER_MANIFEST, "sha256:" + "1" * 64, 1, platform={"os": "windows", "architecture": host.architecture}),
        Descriptor(oci.MEDIA_TYPE_DOCKER_MANIFEST, mdig, size, platform={"os": "linux", "architecture": host.architecture}),
    ], media_type=oci.MEDIA_TYPE_DOCKER_MANIFEST_LIST)
    assert read_manifest(store, write_blob(store, idx)).digest == mdig
    with pytest.raises(NotFound):
        read_manifest(store, write_blob(store, idx), Platform("linux", "mips"))
    with pytest.raises(InvalidArgument):
        read_manifest(store, write_blob(store, json.dumps({"mediaType": "text/plain"}).encode()))


@pytest.mark.root
def test_unpack_native_without_mounting(tmp_path: Path) -> None:
    store = LocalContentStore(tmp_path / "c")
    sn = NativeSnapshotter(tmp_path / "s")
    mdig = _image(store, [make_tar([d("x"), f("x/a", b"1"), f("x/b", b"2")]), make_tar([f("x/.wh.a")])])
    top = unpack(store, sn, mdig)
    src = Path(sn.view("v", top)[0].source)
    assert sorted(p.name for p in (src / "x").iterdir()) == ["b"]
    assert len([i for i in sn.walk()]) == 3
    sn.close()
