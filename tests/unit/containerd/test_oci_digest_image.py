import hashlib
import json

import pytest

from dockyard.errors import InvalidArgument
from dockyard.oci import image as oci
from dockyard.oci.digest import Digest, Digester, hex_of, is_valid, sha256_digest, validate
from dockyard.types import Descriptor

H = "a" * 64


def test_parse_valid() -> None:
    d = Digest.parse(f"sha256:{H}")
    assert (d.algorithm, d.hex, str(d)) == ("sha256", H, f"sha256:{H}")
    assert hex_of(f"sha256:{H}") == H
    assert validate(f"sha256:{H}") == f"sha256:{H}"


@pytest.mark.parametrize(
    "bad",
    ["", "sha256", f"sha256:{H[:-1]}", f"sha256:{H}0", f"sha256:{H.upper()}", f"md5:{H}", f"sha512:{H}", f"sha256:../{H[3:]}", H],
)
def test_parse_invalid(bad: str) -> None:
    with pytest.raises(InvalidArgument):
        Digest.parse(bad)
    assert not is_valid(bad)


def test_digester_matches_oneshot() -> None:
    dg = Digester()
    for chunk in (b"hel", b"lo", b""):
        dg.update(chunk)
    assert dg.digest() == sha256_digest(b"hello") == "sha256:" + hashlib.sha256(b"hello").hexdigest()
    assert dg.size == 5


def test_chain_ids() -> None:
    a, b, c = (sha256_digest(x) for x in (b"a", b"b", b"c"))
    ids = oci.chain_ids([a, b, c])
    ab = "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()
    abc = "sha256:" + hashlib.sha256(f"{ab} {c}".encode()).hexdigest()
    assert ids == [a, ab, abc]
    assert oci.chain_id([a, b, c]) == abc
    assert oci.chain_ids([]) == [] and oci.chain_id([]) == ""
    with pytest.raises(InvalidArgument):
        oci.chain_ids(["nope"])


def test_builders_are_canonical() -> None:
    diff = sha256_digest(b"layer")
    cfg = oci.make_config([diff], config={"Cmd": ["sh"]})
    assert cfg == oci.make_config([diff], config={"Cmd": ["sh"]})
    doc = json.loads(cfg)
    assert doc["rootfs"] == {"type": "layers", "diff_ids": [diff]}
    assert b" " not in cfg and list(doc) == sorted(doc)
    assert oci.image_id(cfg) == sha256_digest(cfg)
    cdesc = oci.descriptor_for(oci.MEDIA_TYPE_OCI_CONFIG, cfg)
    ldesc = Descriptor(oci.MEDIA_TYPE_OCI_LAYER_GZIP, sha256_digest(b"x"), 1)
    man = json.loads(oci.make_manifest(cdesc, [ldesc], {"k": "v"}))
    assert man["schemaVersion"] == 2 and man["mediaType"] == oci.MEDIA_TYPE_OCI_MANIFEST
    assert man["config"]["digest"] == cdesc.digest and man["layers"][0]["size"] == 1
    assert man["annotations"] == {"k": "v"}
    assert oci.layer_compression(oci.MEDIA_TYPE_DOCKER_LAYER_GZIP) == "gzip"
    assert oci.layer_compression(oci.MEDIA_TYPE_OCI_LAYER_ZSTD) == "zstd"
    assert oci.layer_compression(oci.MEDIA_TYPE_OCI_LAYER) == "none"
