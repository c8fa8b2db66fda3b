"""OCI Distribution Spec v1.1, case by case, against ``dockyard registry serve``.

Written from the spec's text (pull, push, content discovery, content
management; endpoints end-1 .. end-13 and the error-code table), because the
upstream Go conformance suite cannot be built offline here (docs/conformance.md).
One server per module; each test uses its own repository names.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "registry"))
from dockyard_regkit import Server, sha

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"


@pytest.fixture(scope="module")
def reg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = Server(tmp_path_factory.mktemp("regspec") / "root").start()
    try:
        yield s
    finally:
        s.stop()


# -- pull -------------------------------------------------------------------------------
def test_base_endpoint(reg: Server) -> None:
    r = reg.req("GET", "/v2/")
    assert r.status == 200
    assert r.headers["Docker-Distribution-API-Version"] == "registry/2.0"


def test_pull_manifest_by_tag_and_digest(reg: Server) -> None:
    digest, m = reg.push_image("pull/m", "v1", [b"a-layer"])
    for ref in ("v1", digest):
        r = reg.req("GET", f"/v2/pull/m/manifests/{ref}")
        assert r.status == 200
        assert r.headers["Content-Type"] == OCI_MANIFEST
        assert r.headers["Docker-Content-Digest"] == digest
        assert sha(r.body) == digest and json.loads(r.body) == m
        h = reg.req("HEAD", f"/v2/pull/m/manifests/{ref}")
        assert h.status == 200 and h.body == b""
        assert int(h.headers["Content-Length"]) == len(r.body)
        assert h.headers["Docker-Content-Digest"] == digest


def test_pull_unknown_manifest(reg: Server) -> None:
    reg.push_image("pull/unknown", "v1", [b"x"])
    r = reg.req("GET", "/v2/pull/unknown/manifests/nope")
    assert r.status == 404 and r.codes() == ["MANIFEST_UNKNOWN"]
    r = reg.req("GET", f"/v2/pull/unknown/manifests/{sha(b'no')}")
    assert r.status == 404 and r.codes() == ["MANIFEST_UNKNOWN"]
    assert reg.req("HEAD", "/v2/pull/unknown/manifests/nope").status == 404


def test_pull_blob_get_head_range(reg: Server) -> None:
    data = bytes(range(256)) * 100
    d = reg.push_blob("pull/b", data)
    r = reg.req("GET", f"/v2/pull/b/blobs/{d}")
    assert r.status == 200 and r.body == data and r.headers["Docker-Content-Digest"] == d
    h = reg.req("HEAD", f"/v2/pull/b/blobs/{d}")
    assert h.status == 200 and h.body == b"" and int(h.headers["Content-Length"]) == len(data)
    r = reg.req("GET", f"/v2/pull/b/blobs/{d}", headers={"Range": "bytes=100-199"})
    assert r.status == 206 and r.body == data[100:200]
    assert r.headers["Content-Range"] == f"bytes 100-199/{len(data)}"


def test_pull_blob_larger_than_one_write_chunk_is_whole(reg: Server) -> None:
    """Whole-blob GETs are written in chunks (registry/blobsend.py): a blob of several, with a
    ragged end, arrives complete, with its length and digest."""
    data = os.urandom(3 * 256 * 1024 + 7)
    d = reg.push_blob("pull/big", data)
    r = reg.req("GET", f"/v2/pull/big/blobs/{d}")
    assert r.status == 200 and r.body == data
    assert int(r.headers["Content-Length"]) == len(data) and r.headers["Docker-Content-Digest"] == d


def test_pull_blob_unknown_and_invalid_digest(reg: Server) -> None:
    r = reg.req("GET", f"/v2/pull/b2/blobs/{sha(b'missing')}")
    assert r.status == 404 and r.codes() == ["BLOB_UNKNOWN"]
    assert reg.req("HEAD", f"/v2/pull/b2/blobs/{sha(b'missing')}").status == 404
    r = reg.req("GET", "/v2/pull/b2/blobs/sha256:xyz")
    assert r.status == 400 and r.codes() == ["DIGEST_INVALID"]


def test_blob_of_another_repository_is_not_visible(reg: Server) -> None:
    d = reg.push_blob("pull/owner", b"private bytes")
    assert reg.req("GET", f"/v2/pull/other/blobs/{d}").status == 404


# -- push --------------------------------------------------------------------------------
def test_push_post_then_put(reg: Server) -> None:
    data = b"monolithic after post"
    r = reg.req("POST", "/v2/push/mono/blobs/uploads/")
    assert r.status == 202 and r.headers["Location"] and r.headers["Docker-Upload-UUID"]
    loc = r.headers["Location"]
    r = reg.req("PUT", f"{loc}?digest={sha(data)}", data, {"Content-Type": "application/octet-stream"})
    assert r.status == 201
    assert r.headers["Location"] == f"/v2/push/mono/blobs/{sha(data)}"
    assert r.headers["Docker-Content-Digest"] == sha(data)
    assert reg.req("GET", r.headers["Location"]).body == data


def test_push_single_post(reg: Server) -> None:
    data = b"single post"
    r = reg.req("POST", f"/v2/push/single/blobs/uploads/?digest={sha(data)}", data)
    assert r.status == 201 and r.headers["Location"].endswith(sha(data))


def test_push_chunked(reg: Server) -> None:
    data = b"0123456789" * 1000
    loc = reg.req("POST", "/v2/push/chunked/blobs/uploads/").headers["Location"]
    r = reg.req("PATCH", loc, data[:4000], {"Content-Range": "0-3999", "Content-Type": "application/octet-stream"})
    assert r.status == 202 and r.headers["Range"] == "0-3999"
    loc = r.headers["Location"]
    st = reg.req("GET", loc)
    assert st.status == 204 and st.headers["Range"] == "0-3999"
    # out of order: must start at 4000
    r = reg.req("PATCH", loc, data[5000:6000], {"Content-Range": "5000-5999"})
    assert r.status == 416
    r = reg.req("PATCH", loc, data[4000:], {"Content-Range": f"4000-{len(data) - 1}"})
    assert r.status == 202 and r.headers["Range"] == f"0-{len(data) - 1}"
    r = reg.req("PUT", f"{r.headers['Location']}?digest={sha(data)}")
    assert r.status == 201
    assert reg.req("GET", f"/v2/push/chunked/blobs/{sha(data)}").body == data


def test_push_digest_mismatch_refused_and_invisible(reg: Server) -> None:
    data, lie = b"real bytes", sha(b"other bytes")
    r = reg.req("POST", f"/v2/push/bad/blobs/uploads/?digest={lie}", data)
    assert r.status == 400 and r.codes() == ["DIGEST_INVALID"]
    assert reg.req("HEAD", f"/v2/push/bad/blobs/{lie}").status == 404
    assert reg.req("HEAD", f"/v2/push/bad/blobs/{sha(data)}").status == 404


def test_push_put_without_digest(reg: Server) -> None:
    loc = reg.req("POST", "/v2/push/nodigest/blobs/uploads/").headers["Location"]
    r = reg.req("PUT", loc, b"x")
    assert r.status == 400 and r.codes() == ["DIGEST_INVALID"]


def test_upload_cancel(reg: Server) -> None:
    loc = reg.req("POST", "/v2/push/cancel/blobs/uploads/").headers["Location"]
    reg.req("PATCH", loc, b"partial")
    assert reg.req("DELETE", loc).status == 204
    r = reg.req("GET", loc)
    assert r.status == 404 and r.codes() == ["BLOB_UPLOAD_UNKNOWN"]


def test_cross_repository_mount(reg: Server) -> None:
    d = reg.push_blob("push/src", b"mount me")
    r = reg.req("POST", f"/v2/push/dst/blobs/uploads/?mount={d}&from=push/src")
    assert r.status == 201 and r.headers["Location"] == f"/v2/push/dst/blobs/{d}"
    assert reg.req("GET", f"/v2/push/dst/blobs/{d}").body == b"mount me"
    # unknown in the source: falls back to an upload session
    r = reg.req("POST", f"/v2/push/dst/blobs/uploads/?mount={sha(b'none')}&from=push/src")
    assert r.status == 202 and "/blobs/uploads/" in r.headers["Location"]


def test_manifest_with_missing_blob_refused(reg: Server) -> None:
    cfg = reg.push_blob("push/missing", b"{}")
    m = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
         "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg, "size": 2},
         "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha(b"ghost"), "size": 5}]}
    r = reg.push_manifest("push/missing", "v1", m)
    assert r.status == 400 and r.codes() == ["MANIFEST_BLOB_UNKNOWN"]
    assert reg.req("GET", "/v2/push/missing/manifests/v1").status == 404


def test_manifest_invalid_and_digest_mismatch(reg: Server) -> None:
    r = reg.req("PUT", "/v2/push/inv/manifests/v1", b"{not json", {"Content-Type": OCI_MANIFEST})
    assert r.status == 400 and r.codes() == ["MANIFEST_INVALID"]
    _, m = reg.push_image("push/inv", "ok", [b"l"])
    r = reg.req("PUT", f"/v2/push/inv/manifests/{sha(b'different')}", json.dumps(m).encode(), {"Content-Type": OCI_MANIFEST})
    assert r.status == 400 and r.codes() == ["DIGEST_INVALID"]


def test_push_manifest_by_digest(reg: Server) -> None:
    _, m = reg.push_image("push/bydigest", "t", [b"q"])
    body = json.dumps(m, indent=1).encode()  # other bytes, other digest
    r = reg.req("PUT", f"/v2/push/bydigest/manifests/{sha(body)}", body, {"Content-Type": OCI_MANIFEST})
    assert r.status == 201 and r.headers["Docker-Content-Digest"] == sha(body)
    assert reg.req("GET", f"/v2/push/bydigest/manifests/{sha(body)}").body == body


def test_index_and_docker_manifest_list(reg: Server) -> None:
    d1, m1 = reg.push_image("push/idx", "amd64", [b"amd"])
    d2, m2 = reg.push_image("push/idx", "arm64", [b"arm"])
    for mt in (OCI_INDEX, DOCKER_LIST):
        idx = {"schemaVersion": 2, "mediaType": mt, "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": d, "size": len(json.dumps(m).encode()),
             "platform": {"architecture": a, "os": "linux"}} for d, m, a in ((d1, m1, "amd64"), (d2, m2, "arm64"))]}
        r = reg.push_manifest("push/idx", "multi", idx)
        assert r.status == 201
        g = reg.req("GET", "/v2/push/idx/manifests/multi")
        assert g.headers["Content-Type"] == mt and json.loads(g.body) == idx


def test_sparse_index_accepted_and_its_missing_child_unknown(reg: Server) -> None:
    """An index whose children were not all pushed is stored as pushed (the spec lets a
    registry accept it); the child that is there is pulled, the missing one is MANIFEST_UNKNOWN."""
    d1, m1 = reg.push_image("push/sparse", "amd64", [b"sparse amd"])
    ghost = sha(b"never pushed")
    idx = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": d1, "size": len(json.dumps(m1).encode()),
         "platform": {"architecture": "amd64", "os": "linux"}},
        {"mediaType": OCI_MANIFEST, "digest": ghost, "size": 1024, "platform": {"architecture": "arm64", "os": "linux"}}]}
    r = reg.push_manifest("push/sparse", "multi", idx)
    assert r.status == 201, r.body
    g = reg.req("GET", "/v2/push/sparse/manifests/multi")
    assert g.status == 200 and json.loads(g.body) == idx and g.headers["Content-Type"] == OCI_INDEX
    assert reg.req("GET", f"/v2/push/sparse/manifests/{d1}").status == 200
    r = reg.req("GET", f"/v2/push/sparse/manifests/{ghost}")
    assert r.status == 404 and r.codes() == ["MANIFEST_UNKNOWN"]
    assert reg.req("HEAD", f"/v2/push/sparse/manifests/{ghost}").status == 404


def test_docker_schema2_manifest(reg: Server) -> None:
    cfg = reg.push_blob("push/docker", b'{"architecture":"amd64","os":"linux"}')
    layer = reg.push_blob("push/docker", b"gz")
    m = {"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
         "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": cfg, "size": 37},
         "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": layer, "size": 2}]}
    assert reg.push_manifest("push/docker", "latest", m).status == 201
    assert reg.req("GET", "/v2/push/docker/manifests/latest").headers["Content-Type"] == DOCKER_MANIFEST


def test_schema1_refused(reg: Server) -> None:
    body = json.dumps({"schemaVersion": 1, "name": "x", "tag": "y", "fsLayers": []}).encode()
    r = reg.req("PUT", "/v2/push/s1/manifests/v1", body,
                {"Content-Type": "application/vnd.docker.distribution.manifest.v1+prettyjws"})
    assert r.status == 400 and r.codes() == ["MANIFEST_INVALID"]


def test_invalid_name_and_tag(reg: Server) -> None:
    r = reg.req("GET", "/v2/Bad_Name/manifests/latest")
    assert r.status == 400 and r.codes() == ["NAME_INVALID"]
    _, m = reg.push_image("push/badtag", "v1", [b"bt"])
    r = reg.push_manifest("push/badtag", "-bad", m)
    assert r.status == 400 and r.codes() == ["TAG_INVALID"]


@pytest.mark.parametrize("ref", [".INVALID_MANIFEST_NAME", "-bad", "x" * 129])
def test_pull_reference_that_is_no_tag_is_unknown(reg: Server, ref: str) -> None:
    """The distribution suite (v1.1.1 "nonexistent manifest"): 404, not 400 TAG_INVALID."""
    reg.push_image("pull/notag", "v1", [b"nt"])
    r = reg.req("GET", f"/v2/pull/notag/manifests/{ref}")
    assert r.status == 404 and r.codes() == ["MANIFEST_UNKNOWN"]
    assert reg.req("HEAD", f"/v2/pull/notag/manifests/{ref}").status == 404
    r = reg.req("DELETE", f"/v2/pull/notag/manifests/{ref}")
    assert r.status == 404 and r.codes() == ["MANIFEST_UNKNOWN"]


# -- content discovery -------------------------------------------------------------------
def test_tags_list_and_pagination(reg: Server) -> None:
    _, m = reg.push_image("disc/tags", "c", [b"t"])
    for t in ("a", "b", "d", "e"):
        assert reg.push_manifest("disc/tags", t, m).status == 201
    assert reg.req("GET", "/v2/disc/tags/tags/list").json() == {"name": "disc/tags", "tags": ["a", "b", "c", "d", "e"]}
    r = reg.req("GET", "/v2/disc/tags/tags/list?n=2")
    assert r.json()["tags"] == ["a", "b"]
    assert r.headers["Link"] == '</v2/disc/tags/tags/list?n=2&last=b>; rel="next"'
    r = reg.req("GET", "/v2/disc/tags/tags/list?n=2&last=b")
    assert r.json()["tags"] == ["c", "d"]
    r = reg.req("GET", "/v2/disc/tags/tags/list?n=2&last=d")
    assert r.json()["tags"] == ["e"] and "Link" not in r.headers
    assert reg.req("GET", "/v2/disc/tags/tags/list?n=0").json()["tags"] == []


def test_tags_list_unknown_repo(reg: Server) -> None:
    r = reg.req("GET", "/v2/disc/nothing/tags/list")
    assert r.status == 404 and r.codes() == ["NAME_UNKNOWN"]


def test_referrers(reg: Server) -> None:
    subject_digest, sm = reg.push_image("disc/ref", "v1", [b"subject layer"])
    subj = {"mediaType": OCI_MANIFEST, "digest": subject_digest, "size": len(json.dumps(sm).encode())}
    empty = "application/vnd.oci.empty.v1+json"
    reg.push_blob("disc/ref", b"{}")
    sig_body = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/vnd.example.sig",
                           "config": {"mediaType": empty, "digest": sha(b"{}"), "size": 2},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                       "digest": reg.push_blob("disc/ref", b"sig"), "size": 3}],
                           "subject": subj, "annotations": {"k": "v"}}).encode()
    r = reg.req("PUT", f"/v2/disc/ref/manifests/{sha(sig_body)}", sig_body, {"Content-Type": OCI_MANIFEST})
    assert r.status == 201 and r.headers["OCI-Subject"] == subject_digest
    sbom_digest, _ = reg.push_image("disc/ref", "sbom", [b"sbom"], subject=subj, config_type="application/vnd.example.sbom")
    r = reg.req("GET", f"/v2/disc/ref/referrers/{subject_digest}")
    assert r.status == 200 and r.headers["Content-Type"] == OCI_INDEX
    idx = r.json()
    assert idx["mediaType"] == OCI_INDEX
    by = {d["digest"]: d for d in idx["manifests"]}
    assert set(by) == {sha(sig_body), sbom_digest}
    assert by[sha(sig_body)]["artifactType"] == "application/vnd.example.sig"
    assert by[sha(sig_body)]["annotations"] == {"k": "v"} and by[sha(sig_body)]["size"] == len(sig_body)
    assert by[sbom_digest]["artifactType"] == "application/vnd.example.sbom"  # from the config's type
    r = reg.req("GET", f"/v2/disc/ref/referrers/{subject_digest}?artifactType=application/vnd.example.sig")
    assert r.headers["OCI-Filters-Applied"] == "artifactType"
    assert [d["digest"] for d in r.json()["manifests"]] == [sha(sig_body)]
    r = reg.req("GET", f"/v2/disc/ref/referrers/{sha(b'no subject')}")
    assert r.status == 200 and r.json()["manifests"] == []
    assert reg.req("GET", "/v2/disc/ref/referrers/sha256:bad").status == 400


def test_catalog_pagination(reg: Server) -> None:
    for n in ("zcat/a", "zcat/b", "zcat/c"):
        reg.push_blob(n, b"cat")
    repos = reg.req("GET", "/v2/_catalog").json()["repositories"]
    assert repos == sorted(repos) and {"zcat/a", "zcat/b", "zcat/c"} <= set(repos)
    r = reg.req("GET", "/v2/_catalog?n=1&last=zcat/a")
    assert r.json() == {"repositories": ["zcat/b"]}
    assert r.headers["Link"] == '</v2/_catalog?n=1&last=zcat/b>; rel="next"'


# -- content management -------------------------------------------------------------------
def test_delete_tag_manifest_blob(reg: Server) -> None:
    digest, m = reg.push_image("mgmt/del", "v1", [b"to delete"])
    assert reg.push_manifest("mgmt/del", "v2", m).status == 201
    assert reg.req("DELETE", "/v2/mgmt/del/manifests/v2").status == 202
    assert reg.req("GET", "/v2/mgmt/del/manifests/v2").status == 404
    assert reg.req("GET", "/v2/mgmt/del/manifests/v1").status == 200
    assert reg.req("DELETE", f"/v2/mgmt/del/manifests/{digest}").status == 202
    for ref in ("v1", digest):
        assert reg.req("GET", f"/v2/mgmt/del/manifests/{ref}").status == 404
    assert reg.req("GET", "/v2/mgmt/del/tags/list").json()["tags"] == []
    layer = sha(b"to delete")
    assert reg.req("DELETE", f"/v2/mgmt/del/blobs/{layer}").status == 202
    r = reg.req("GET", f"/v2/mgmt/del/blobs/{layer}")
    assert r.status == 404 and r.codes() == ["BLOB_UNKNOWN"]
    r = reg.req("DELETE", f"/v2/mgmt/del/manifests/{digest}")
    assert r.status == 404 and r.codes() == ["MANIFEST_UNKNOWN"]
    assert reg.req("DELETE", f"/v2/mgmt/del/blobs/{layer}").status == 404


# -- sha512 (optional in the spec; the current upstream suite pushes and pulls by it) -------
def sha512(data: bytes) -> str:
    return "sha512:" + hashlib.sha512(data).hexdigest()


def test_sha512_blob_every_push_path(reg: Server) -> None:
    repo = "algo/blobs"
    single = b"sha512 single post"
    r = reg.req("POST", f"/v2/{repo}/blobs/uploads/?digest={sha512(single)}", single)
    assert r.status == 201 and r.headers["Docker-Content-Digest"] == sha512(single)
    two = b"sha512 post then put"
    loc = reg.req("POST", f"/v2/{repo}/blobs/uploads/").headers["Location"]
    r = reg.req("PUT", f"{loc}?digest={sha512(two)}", two)
    assert r.status == 201 and r.headers["Location"] == f"/v2/{repo}/blobs/{sha512(two)}"
    chunked = os.urandom(3000)
    loc = reg.req("POST", f"/v2/{repo}/blobs/uploads/").headers["Location"]
    for off in (0, 1000):
        r = reg.req("PATCH", loc, chunked[off:off + 1000], {"Content-Range": f"{off}-{off + 999}"})
        assert r.status == 202
        loc = r.headers["Location"]
    r = reg.req("PUT", f"{loc}?digest={sha512(chunked)}", chunked[2000:], {"Content-Range": "2000-2999"})
    assert r.status == 201 and r.headers["Docker-Content-Digest"] == sha512(chunked)
    for data in (single, two, chunked):
        d = sha512(data)
        g = reg.req("GET", f"/v2/{repo}/blobs/{d}")
        assert g.status == 200 and g.body == data and g.headers["Docker-Content-Digest"] == d
        h = reg.req("HEAD", f"/v2/{repo}/blobs/{d}")
        assert h.status == 200 and int(h.headers["Content-Length"]) == len(data)
        assert (reg.root / "content" / "blobs" / "sha512" / d.split(":")[1]).read_bytes() == data
    assert reg.req("GET", f"/v2/{repo}/blobs/{sha512(chunked)}", headers={"Range": "bytes=10-19"}).body == chunked[10:20]
    r = reg.req("POST", f"/v2/algo/mounted/blobs/uploads/?mount={sha512(two)}&from={repo}")
    assert r.status == 201 and reg.req("GET", f"/v2/algo/mounted/blobs/{sha512(two)}").body == two
    assert reg.req("DELETE", f"/v2/{repo}/blobs/{sha512(single)}").status == 202
    assert reg.req("GET", f"/v2/{repo}/blobs/{sha512(single)}").status == 404


def test_sha512_digest_mismatch_and_malformed(reg: Server) -> None:
    data = b"real sha512 bytes"
    lie = sha512(b"other bytes")
    r = reg.req("POST", f"/v2/algo/bad/blobs/uploads/?digest={lie}", data)
    assert r.status == 400 and r.codes() == ["DIGEST_INVALID"]
    assert reg.req("HEAD", f"/v2/algo/bad/blobs/{lie}").status == 404
    short = "sha512:" + hashlib.sha256(data).hexdigest()  # a sha256-long hex under sha512
    r = reg.req("POST", f"/v2/algo/bad/blobs/uploads/?digest={short}", data)
    assert r.status == 400 and r.codes() == ["DIGEST_INVALID"]
    r = reg.req("GET", f"/v2/algo/bad/blobs/sha384:{hashlib.sha384(data).hexdigest()}")
    assert r.status == 400 and r.codes() == ["DIGEST_INVALID"]


def test_sha512_manifest_and_index_by_digest_with_tag_param(reg: Server) -> None:
    repo = "algo/man"
    config, layer = b'{"architecture":"amd64","os":"linux"}', b"sha512 layer"
    for blob in (config, layer):
        assert reg.req("POST", f"/v2/{repo}/blobs/uploads/?digest={sha512(blob)}", blob).status == 201
    m = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                               "digest": sha512(config), "size": len(config)},
                    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                "digest": sha512(layer), "size": len(layer)}]}).encode()
    r = reg.req("PUT", f"/v2/{repo}/manifests/{sha512(m)}?tag=t512&tag=-bad", m, {"Content-Type": OCI_MANIFEST})
    assert r.status == 400 and r.codes() == ["TAG_INVALID"]
    assert reg.req("GET", f"/v2/{repo}/manifests/{sha512(m)}").status == 404  # nothing stored
    r = reg.req("PUT", f"/v2/{repo}/manifests/{sha512(m)}?tag=t512&tag=also", m, {"Content-Type": OCI_MANIFEST})
    assert r.status == 201 and r.headers["Docker-Content-Digest"] == sha512(m)
    assert r.headers["Location"] == f"/v2/{repo}/manifests/{sha512(m)}"
    assert r.headers.get_all("OCI-Tag") == ["t512", "also"]
    for ref in (sha512(m), "t512"):
        g = reg.req("GET", f"/v2/{repo}/manifests/{ref}")
        assert g.status == 200 and g.body == m and g.headers["Docker-Content-Digest"] == sha512(m)
        assert int(reg.req("HEAD", f"/v2/{repo}/manifests/{ref}").headers["Content-Length"]) == len(m)
    idx = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": sha512(m), "size": len(m)}]}).encode()
    r = reg.req("PUT", f"/v2/{repo}/manifests/{sha512(idx)}", idx, {"Content-Type": OCI_INDEX})
    assert r.status == 201 and reg.req("GET", f"/v2/{repo}/manifests/{sha512(idx)}").body == idx
    r = reg.req("PUT", f"/v2/{repo}/manifests/{sha512(b'not this')}", m, {"Content-Type": OCI_MANIFEST})
    assert r.status == 400 and r.codes() == ["DIGEST_INVALID"]
    assert reg.req("DELETE", f"/v2/{repo}/manifests/{sha512(m)}").status == 202
    for tag in ("t512", "also"):
        assert reg.req("GET", f"/v2/{repo}/manifests/{tag}").status == 404


# -- chunk order and HTTP framing ------------------------------------------------------------
def test_out_of_order_final_chunk_put_is_416_and_upload_unchanged(reg: Server) -> None:
    """The current suite's "chunked out-of-order and put chunk": a PUT whose Content-Range
    does not continue the upload is 416, and the upload goes on from where it was."""
    data = os.urandom(3000)
    loc = reg.req("POST", "/v2/push/order/blobs/uploads/").headers["Location"]
    loc = reg.req("PATCH", loc, data[:1000], {"Content-Range": "0-999"}).headers["Location"]
    for start in (2000, 0):  # ahead, and back to the beginning
        r = reg.req("PUT", f"{loc}?digest={sha(data)}", data[start:start + 1000] if start else data[:1000],
                    {"Content-Range": f"{start}-{start + 999}"})
        assert r.status == 416 and r.codes() == ["BLOB_UPLOAD_INVALID"]
        assert r.headers["Range"] == "0-999" and int(r.headers["Content-Length"]) == len(r.body)
        st = reg.req("GET", r.headers["Location"])
        assert st.status == 204 and st.headers["Range"] == "0-999"
    assert reg.req("HEAD", f"/v2/push/order/blobs/{sha(data)}").status == 404
    r = reg.req("PATCH", loc, data[1000:2000], {"Content-Range": "1000-1999"})
    assert r.status == 202
    r = reg.req("PUT", f"{r.headers['Location']}?digest={sha(data)}", data[2000:], {"Content-Range": "2000-2999"})
    assert r.status == 201
    assert reg.req("GET", f"/v2/push/order/blobs/{sha(data)}").body == data


def _recv_until(sock: socket.socket, buf: bytes, marker: bytes) -> bytes:
    while marker not in buf:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed, got {buf!r}"
        buf += chunk
    return buf


def _exchange(sock: socket.socket, request: bytes, pending: bytes = b"") -> tuple[int, dict[str, str], bytes, bytes]:
    """Send one request, read one response as its headers frame it (Content-Length or chunked);
    returns what the server sent after it too."""
    sock.sendall(request)
    head, _, rest = _recv_until(sock, pending, b"\r\n\r\n").partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    assert status_line.startswith("HTTP/1.1 "), f"not a status line: {status_line!r}"
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines)}
    body = b""
    if headers.get("transfer-encoding") == "chunked":
        while True:
            size_line, _, rest = _recv_until(sock, rest, b"\r\n").partition(b"\r\n")
            size = int(size_line, 16)
            while len(rest) < size + 2:
                rest += sock.recv(65536)
            body, rest = body + rest[:size], rest[size + 2:]
            if size == 0:
                break
    else:
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            rest += sock.recv(65536)
        body, rest = rest[:length], rest[length:]
    sock.settimeout(0.3)  # whatever else the server sent for this response
    try:
        while extra := sock.recv(65536):
            rest += extra
    except TimeoutError:
        pass
    finally:
        sock.settimeout(10)
    return int(status_line.split()[1]), headers, body, rest


def test_416_on_a_keepalive_connection_then_the_next_answer_is_right(reg: Server) -> None:
    """A 416 says the length of the body it sends; the next request on the connection is answered."""
    loc = reg.req("POST", "/v2/push/frame/blobs/uploads/").headers["Location"]
    d = reg.push_blob("push/frame", b"ranged blob")
    body = b"0123456789"
    with socket.create_connection(("127.0.0.1", reg.port), timeout=10) as s:
        for bad in (f"PATCH {loc} HTTP/1.1\r\nHost: r\r\nContent-Range: 5-14\r\nContent-Length: 10\r\n\r\n".encode() + body,
                    f"GET /v2/push/frame/blobs/{d} HTTP/1.1\r\nHost: r\r\nRange: bytes=500-600\r\n\r\n".encode()):
            status, headers, got, after = _exchange(s, bad)
            assert status == 416 and after == b"", (headers, got, after)
            status, headers, got, after = _exchange(s, b"GET /v2/ HTTP/1.1\r\nHost: r\r\n\r\n", after)
            assert (status, got, after) == (200, b"{}", b"")
