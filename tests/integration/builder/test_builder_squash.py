"""``dockyardd --experimental`` and the build API's ``squash`` (issue 14): /info, /version and /_ping
say experimental; a squashed build is the base image's layers plus one layer of what the steps
changed (deletions of base files as whiteouts, files made and removed by the steps absent), with the
steps' history kept as ``empty_layer`` entries and dockerd's "merge <built> to <base>" entry; a daemon
that is not experimental refuses ``squash`` with dockerd's 400."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Daemon, started_daemon

pytestmark = pytest.mark.root

DOCKERFILE = "\n".join([
    "FROM busybox",
    "RUN echo blah > /file_1 && echo gone > /tmp/gone",
    "RUN echo blahblah > /file_2 && rm /tmp/gone && rm /bin/ls",
    "RUN mkdir -p /d/e && echo deep > /d/e/f",
    'CMD ["sh"]',
])


@pytest.fixture(scope="module")
def experimental(busybox_tar: Path) -> Iterator[Daemon]:
    with started_daemon(busybox_tar, extra_args=("--experimental",)) as d:
        yield d


def client(d: Daemon) -> Any:
    import docker

    return docker.APIClient(base_url=d.host, version="1.45", timeout=120)


def build(api: Any, tag: str, squash: bool) -> list[dict[str, Any]]:
    return list(api.build(fileobj=io.BytesIO(DOCKERFILE.encode()), tag=tag, squash=squash, decode=True, rm=True))


def layer_names(api: Any, image: str, index: int) -> set[str]:
    """The member names of the image's layer ``index``, from ``docker save``."""
    data = b"".join(api.get_image(image))
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        import json

        manifest = json.load(tf.extractfile("manifest.json"))  # type: ignore[arg-type]
        layer = tf.extractfile(manifest[0]["Layers"][index]).read()  # type: ignore[union-attr]
    with tarfile.open(fileobj=io.BytesIO(layer)) as lt:
        return {m.name.rstrip("/") for m in lt.getmembers()}


def test_experimental_daemon_says_so(experimental: Daemon, daemon: Daemon) -> None:
    api, plain = client(experimental), client(daemon)
    try:
        assert api.info()["ExperimentalBuild"] is True
        assert api.version()["Experimental"] is True
        assert api.version()["Components"][0]["Details"]["Experimental"] == "true"
        assert api._get(api.base_url + "/_ping").headers["Docker-Experimental"] == "true"
        assert plain.info()["ExperimentalBuild"] is False
        assert plain._get(plain.base_url + "/_ping").headers["Docker-Experimental"] == "false"
    finally:
        api.close()
        plain.close()


def test_squash_refused_when_not_experimental(daemon: Daemon) -> None:
    import docker

    api = client(daemon)
    try:
        with pytest.raises(docker.errors.APIError) as info:
            build(api, "squash-refused", True)
        assert info.value.status_code == 400
        assert "squash is only supported with experimental mode" in str(info.value)
        with pytest.raises(docker.errors.ImageNotFound):
            api.inspect_image("squash-refused")
    finally:
        api.close()


def test_squash_one_layer_over_the_base(experimental: Daemon) -> None:
    import docker

    api = client(experimental)
    try:
        base = api.inspect_image("busybox")
        build(api, "nosquash", False)
        plain = api.inspect_image("nosquash")
        out = build(api, "squash", True)
        squashed = api.inspect_image("squash")
        assert not [m for m in out if "error" in m], out
        assert len(plain["RootFS"]["Layers"]) == 4
        assert squashed["RootFS"]["Layers"][:-1] == base["RootFS"]["Layers"]
        assert len(squashed["RootFS"]["Layers"]) == 2
        assert squashed["Id"] != plain["Id"]
        assert squashed["Config"]["Cmd"] == ["sh"]
        assert any(m.get("stream", "").startswith("Successfully built " + squashed["Id"][7:19]) for m in out)
        hist = api.history("squash")  # newest first
        assert hist[0]["Comment"] == f"merge {plain['Id']} to {base['Id']}"
        steps = hist[1:5]  # CMD and the three RUNs: kept, with no layer of their own
        assert "CMD" in steps[0]["CreatedBy"] and all("/bin/sh -c" in h["CreatedBy"] for h in steps[1:]), hist
        assert all(h["Size"] == 0 for h in steps) and hist[0]["Size"] > 0, hist
        names = layer_names(api, "squash", 1)
        assert {"file_1", "file_2", "d/e/f", "bin/.wh.ls"} <= names
        assert not [n for n in names if "gone" in n]
        assert not [n for n in names if n.startswith("bin/") and n != "bin/.wh.ls" and n != "bin"]
        c = api.create_container("squash", ["sh", "-c", "cat /file_1 /file_2 /d/e/f; test ! -e /bin/ls && "
                                            "test ! -e /tmp/gone && echo ok"])
        try:
            api.start(c)
            assert api.wait(c)["StatusCode"] == 0
            assert api.logs(c) == b"blah\nblahblah\ndeep\nok\n"
        finally:
            api.remove_container(c, force=True)
    finally:
        for tag in ("squash", "nosquash"):
            try:
                api.remove_image(tag, force=True)
            except docker.errors.NotFound:
                continue  # a failed build made no image
        api.close()
