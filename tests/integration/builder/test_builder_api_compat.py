"""``POST /build`` as dockerd's classic builder answers it, through docker-py (what its
integration suite checks): the aux ID message before "Successfully built", compressed contexts,
``cachefrom`` limiting the cache to those images, a .dockerignore that excludes the Dockerfile
or itself, ``extrahosts`` and ``networkmode`` for RUN, RUN's stderr between dockerd's color
markers, and an empty Dockerfile refused before any output."""

from __future__ import annotations

import bz2
import io
import lzma
import subprocess
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Daemon, free_subnet

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def api(daemon: Daemon) -> Iterator[Any]:
    import docker

    client = docker.APIClient(base_url=daemon.host, version="1.45", timeout=120)
    yield client
    client.close()


@pytest.fixture
def images(api: Any) -> Iterator[list[str]]:
    """Tags a test builds; removed at the end, with the containers it ran."""
    import docker

    made: list[str] = []
    yield made
    for c in api.containers(all=True, filters={"label": "builder-api-compat"}):
        api.remove_container(c["Id"], force=True)
    for ref in made:
        try:
            api.remove_image(ref, force=True)
        except docker.errors.NotFound:
            continue  # a build that failed made no image


def tar_of(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, text in files.items():
            data = text.encode()
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def build(api: Any, **kw: Any) -> list[dict[str, Any]]:
    return list(api.build(decode=True, rm=True, **kw))


def stream_text(lines: list[dict[str, Any]]) -> str:
    return "".join(m.get("stream", "") for m in lines)


def run_output(api: Any, image: str, cmd: list[str]) -> str:
    c = api.create_container(image, cmd, labels={"builder-api-compat": "1"})
    api.start(c)
    assert api.wait(c, timeout=60)["StatusCode"] == 0, api.logs(c)
    out = api.logs(c).decode()
    api.remove_container(c, force=True)
    return str(out)


def test_aux_id_message_comes_before_successfully_built(api: Any, images: list[str]) -> None:
    images.append("bac-aux")
    lines = build(api, fileobj=io.BytesIO(b"FROM busybox\nENV A=1\n"), tag="bac-aux")
    aux = [i for i, m in enumerate(lines) if "aux" in m]
    built = [i for i, m in enumerate(lines) if m.get("stream", "").startswith("Successfully built")]
    assert len(aux) == 1 and len(built) == 1, lines
    assert aux[0] < built[0], lines  # docker-py's test_build_gzip_encoding reads lines[-1]
    assert lines[-1]["stream"].startswith("Successfully tagged"), lines
    image_id = lines[aux[0]]["aux"]["ID"]
    assert api.inspect_image("bac-aux")["Id"] == image_id
    assert lines[built[0]]["stream"] == f"Successfully built {image_id.removeprefix('sha256:')[:12]}\n"


@pytest.mark.parametrize("kind", ["gzip-header", "bzip2", "xz"])
def test_compressed_contexts_build(api: Any, images: list[str], tmp_path: Path, kind: str) -> None:
    files = {"Dockerfile": "FROM busybox\nADD . /test\n", "data.txt": "in a compressed context"}
    if kind == "gzip-header":
        # docker-py's gzip=True: a gzip body with Content-Encoding: gzip, no tag
        for name, text in files.items():
            (tmp_path / name).write_text(text)
        lines = build(api, path=str(tmp_path), gzip=True, nocache=True)
        assert "Successfully built" in lines[-1]["stream"], lines
        image = lines[-2]["aux"]["ID"]
        images.append(image)
    else:
        pack = bz2.compress if kind == "bzip2" else lzma.compress
        image = f"bac-{kind}"
        images.append(image)
        lines = build(api, fileobj=io.BytesIO(pack(tar_of(files))), custom_context=True, tag=image)
        assert not any("error" in m for m in lines), lines
    assert run_output(api, image, ["cat", "/test/data.txt"]) == "in a compressed context"


def test_cache_from_limits_the_cache_to_those_images(api: Any, images: list[str]) -> None:
    images += ["bac-cf1", "bac-cf2"]
    script = b"FROM busybox\nENV FOO=bar\nRUN touch baz\nRUN touch bax\n"
    build(api, fileobj=io.BytesIO(script), tag="bac-cf1")

    lines = build(api, fileobj=io.BytesIO(script), tag="bac-cf2", cache_from=["bac-cf1"])
    assert stream_text(lines).count("Using cache") == 3, stream_text(lines)
    api.remove_image("bac-cf2")
    # the local cache holds every step, but none of them comes from the named (missing) image
    lines = build(api, fileobj=io.BytesIO(script), tag="bac-cf2", cache_from=["nosuchtag"])
    text = stream_text(lines)
    assert "Using cache" not in text and text.count("Running in") == 2, text
    # without cache_from the same local cache is used again
    lines = build(api, fileobj=io.BytesIO(script), tag="bac-cf2")
    assert stream_text(lines).count("Using cache") == 3


def test_cache_from_alone_reuses_the_image_steps_metadata_included(api: Any, images: list[str]) -> None:
    images += ["bac-cfm1", "bac-cfm2"]
    script = f"FROM busybox\nENV TOKEN={uuid.uuid4().hex}\nRUN echo slow > /s\nCMD [\"x\"]\n".encode()
    build(api, fileobj=io.BytesIO(script), tag="bac-cfm1")
    assert api.prune_builds()["SpaceReclaimed"] >= 0  # the local cache is gone: only the image is left
    lines = build(api, fileobj=io.BytesIO(script), tag="bac-cfm2", cache_from=["bac-cfm1"])
    text = stream_text(lines)
    assert text.count("Using cache") == 3 and "Running in" not in text, text
    a, b = api.inspect_image("bac-cfm1"), api.inspect_image("bac-cfm2")
    assert a["RootFS"]["Layers"] == b["RootFS"]["Layers"]
    assert b["Config"]["Cmd"] == ["x"] and any(e.startswith("TOKEN=") for e in b["Config"]["Env"])


def test_dockerignore_excluding_dockerfile_and_itself(api: Any, images: list[str], tmp_path: Path) -> None:
    # docker-py's test_build_with_dockerignore: the client sends both files; the daemon reads
    # them and then drops them from the context
    ctx = tmp_path / "ctx"
    (ctx / "ignored" / "subdir").mkdir(parents=True)
    (ctx / "Dockerfile").write_text("FROM busybox\nADD . /test\n")
    (ctx / ".dockerignore").write_text("ignored\nDockerfile\n.dockerignore\n ignored-with-spaces \n"
                                       "!ignored/subdir/excepted-file\n\n#*\n")
    for name in ("not-ignored", "#file.txt", "ignored-with-spaces", "ignored/subdir/file",
                 "ignored/subdir/excepted-file"):
        (ctx / name).write_text(name)
    images.append("bac-ignore")
    lines = build(api, path=str(ctx), tag="bac-ignore")
    assert lines[-1]["stream"].startswith("Successfully tagged"), lines
    found = run_output(api, "bac-ignore", ["find", "/test", "-type", "f"]).split()
    assert sorted(found) == ["/test/#file.txt", "/test/ignored/subdir/excepted-file", "/test/not-ignored"]

    # an out-of-context Dockerfile: docker-py adds it as .dockerfile.<hex> and lists it in the
    # .dockerignore it sends; the directory it copies has only its own file left
    ctx2 = tmp_path / "ctx2"
    ctx2.mkdir()
    (ctx2 / "file.txt").write_text("hello world")
    (ctx2 / ".dockerignore").write_text(".dockerignore\n")
    outside = tmp_path / "Dockerfile.outside"
    outside.write_text("FROM busybox\nCOPY . /src\nWORKDIR /src\n")
    images.append("bac-outside")
    lines = build(api, path=str(ctx2), dockerfile=str(outside), tag="bac-outside")
    assert lines[-1]["stream"].startswith("Successfully tagged"), lines
    assert sorted(run_output(api, "bac-outside", ["ls", "-a"]).split()) == [".", "..", "file.txt"]

    # without a .dockerignore naming them, both stay in the context (dockerd keeps them too)
    images.append("bac-kept")
    lines = build(api, fileobj=io.BytesIO(tar_of({"Dockerfile": "FROM busybox\nCOPY . /k\n",
                                                  ".dockerignore": "nothing\n"})),
                  custom_context=True, tag="bac-kept")
    assert sorted(run_output(api, "bac-kept", ["ls", "-a", "/k"]).split()) == \
        [".", "..", ".dockerignore", "Dockerfile"]


def test_extra_hosts_are_in_run_steps_etc_hosts(api: Any, images: list[str]) -> None:
    images.append("bac-hosts")
    script = b"FROM busybox\nRUN grep -q extrahost.local.test /etc/hosts\nRUN cp /etc/hosts /hosts-file\n"
    lines = build(api, fileobj=io.BytesIO(script), tag="bac-hosts",
                  extra_hosts={"extrahost.local.test": "127.0.0.1", "hello.world.test": "127.0.0.2"})
    assert not any("errorDetail" in m for m in lines), lines
    hosts = run_output(api, "bac-hosts", ["cat", "/hosts-file"])
    assert "127.0.0.1\textrahost.local.test" in hosts and "127.0.0.2\thello.world.test" in hosts
    # the image's own /etc/hosts is not the build's: the step layers leave it out
    assert "extrahost" not in run_output(api, "bac-hosts", ["cat", "/etc/hosts"])
    # an invalid entry is refused as a container's ExtraHosts are
    import docker

    with pytest.raises(docker.errors.APIError) as err:
        build(api, fileobj=io.BytesIO(script), extra_hosts=["no-address"])
    assert err.value.status_code == 400 and "bad format for add-host" in str(err.value)


@pytest.fixture
def user_network(api: Any) -> Iterator[str]:
    name = f"bac-net-{uuid.uuid4().hex[:8]}"
    ipam = {"Driver": "default", "Config": [{"Subnet": free_subnet("10.219")}]}
    net = api.create_network(name, driver="bridge", ipam=ipam)["Id"]
    try:
        yield name
    finally:
        api.remove_network(net)
        links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=False).stdout
        assert f"br-{net[:12]}" not in links


def test_network_mode_puts_run_steps_on_that_network(api: Any, user_network: str, images: list[str]) -> None:
    # docker-py's test_build_with_network_mode: a RUN resolves a container's alias on the network
    target = api.create_container(
        "busybox:latest", ["sleep", "60"], labels={"builder-api-compat": "1"},
        host_config=api.create_host_config(network_mode=user_network),
        networking_config=api.create_networking_config(
            {user_network: api.create_endpoint_config(aliases=["pingtarget.docker"])}))
    api.start(target)
    ip = api.inspect_container(target)["NetworkSettings"]["Networks"][user_network]["IPAddress"]
    images.append("bac-netmode")
    script = b"FROM busybox\nRUN nslookup pingtarget.docker 127.0.0.11 > /answer\n" \
             b"RUN ls /sys/class/net | tr '\\n' ' ' > /links\n"
    lines = build(api, fileobj=io.BytesIO(script), tag="bac-netmode", network_mode=user_network)
    assert not any("errorDetail" in m for m in lines), lines
    assert ip in run_output(api, "bac-netmode", ["cat", "/answer"])
    assert run_output(api, "bac-netmode", ["cat", "/links"]).split() == ["eth0", "lo"]

    # none: the same RUN fails (no resolver to ask), a stream error with code 1, and no image
    import docker

    images.append("bac-nonebuild")
    lines = build(api, fileobj=io.BytesIO(script), tag="bac-nonebuild", network_mode="none", nocache=True)
    assert lines[-1]["errorDetail"]["code"] == 1, lines
    with pytest.raises(docker.errors.NotFound):
        api.inspect_image("bac-nonebuild")

    # host: the host's interfaces (the daemon has no bridge of its own here)
    images.append("bac-hostnet")
    lines = build(api, fileobj=io.BytesIO(b"FROM busybox\nRUN ls /sys/class/net | tr '\\n' ' ' > /links\n"),
                  tag="bac-hostnet", network_mode="host", nocache=True)
    assert not any("errorDetail" in m for m in lines), lines
    host_links = sorted(p.name for p in Path("/sys/class/net").iterdir())
    assert sorted(run_output(api, "bac-hostnet", ["cat", "/links"]).split()) == host_links


def test_run_stderr_comes_between_dockerds_color_markers(api: Any) -> None:
    # docker-py's test_build_stderr_data
    snippet = "Ancient Temple (Mystic Oriental Dream ~ Ancient Temple)"
    script = f"FROM busybox\nRUN sh -c \">&2 echo '{snippet}'\" && echo out-line\n".encode()
    lines = build(api, fileobj=io.BytesIO(script), nocache=True)
    streams = [m.get("stream") for m in lines]
    assert f"\x1b[91m{snippet}\n\x1b[0m" in streams, streams
    assert "out-line\n" in streams, streams  # stdout stays plain
    api.remove_image(lines[-2]["aux"]["ID"])


@pytest.mark.parametrize(("dockerfile", "status", "message"), [
    ("", 400, "the Dockerfile (Dockerfile) cannot be empty"),
    ("\n\n   \n", 400, "file with no instructions"),
    ("# only a comment\n", 400, "file with no instructions"),
    (None, 400, "Cannot locate specified Dockerfile: Dockerfile"),
])
def test_a_dockerfile_refused_before_any_output(api: Any, dockerfile: str | None, status: int,
                                                 message: str) -> None:
    """moby's TestBuildWithEmptyDockerfile: the request itself fails (no 200 stream)."""
    import docker

    files = {"other.txt": "x"} if dockerfile is None else {"Dockerfile": dockerfile}
    with pytest.raises(docker.errors.APIError) as err:
        build(api, fileobj=io.BytesIO(tar_of(files)), custom_context=True)
    assert err.value.status_code == status
    assert message in str(err.value.explanation), err.value.explanation


def test_lowercase_dockerfile_is_the_default_fallback(api: Any, images: list[str]) -> None:
    images.append("bac-lower")
    lines = build(api, fileobj=io.BytesIO(tar_of({"dockerfile": "FROM busybox\nENV LOWER=1\n"})),
                  custom_context=True, tag="bac-lower")
    assert lines[-1]["stream"].startswith("Successfully tagged"), lines
    assert "LOWER=1" in api.inspect_image("bac-lower")["Config"]["Env"]
