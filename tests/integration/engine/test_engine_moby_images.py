"""Image answers moby's integration suite checks (issue 14, session 6): the ``reference`` filter as Go's
``path.Match`` on familiar and canonical names, the short ID in a delete conflict, ``repo@digest`` found
and removed, ``docker save REPO`` saving every tag, ``commit --change ENV`` expanded against the
container's variables, ``import`` of an empty body, for a platform, and from a URL (a 404 there is a
404), and pull errors before the stream (an invalid platform 400, an unknown repository 404 "pull
access denied")."""

from __future__ import annotations

import http.server
import io
import json
import tarfile
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from tests.conftest import Daemon
from tests.httpcall import call

pytestmark = pytest.mark.root

V = "/v1.51"


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _import(d: Daemon, query: str, raw: bytes) -> tuple[int, Any]:
    return call(d, "POST", f"{V}/images/create?fromSrc=-&{query}", raw=raw)


def _tags(d: Daemon, pattern: str) -> list[str]:
    status, rows = call(d, "GET", f"{V}/images/json?filters=" + quote(json.dumps({"reference": [pattern]})))
    assert status == 200, rows
    return sorted(t for r in rows for t in r["RepoTags"])


class _Server(http.server.BaseHTTPRequestHandler):
    """A source for ``fromSrc`` URLs and a registry that knows no repository."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.path == "/ok.tar":
            body, status = _tar({"hello.txt": b"hi\n"}), 200
        elif self.path == "/v2/":
            body, status = b"{}", 200
        elif self.path.startswith("/v2/"):
            body, status = json.dumps({"errors": [{"code": "NAME_UNKNOWN", "message": "repository name not known"}]}
                                      ).encode(), 404
        else:
            body, status = b"no such file", 404
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET  # noqa: N815

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def source() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def tagged(daemon: Daemon) -> Iterator[list[str]]:
    made: list[str] = []
    yield made
    for name in made:
        call(daemon, "DELETE", f"{V}/images/{quote(name, safe='')}?force=1")


def _tag(d: Daemon, made: list[str], source: str, repo: str, tag: str) -> None:
    status, answer = call(d, "POST", f"{V}/images/{quote(source, safe='')}/tag?repo={quote(repo, safe='')}&tag={tag}")
    assert status == 201, answer
    made.append(f"{repo}:{tag}")


def test_reference_filter_is_path_match_on_familiar_and_canonical_names(daemon: Daemon, tagged: list[str]) -> None:
    for repo, tag in (("mi-utest", "tag1"), ("mi-utest/docker", "tag2"), ("mi-utest:5000/docker", "tag3")):
        _tag(daemon, tagged, "busybox", repo, tag)
    assert _tags(daemon, "mi-utest*") == ["mi-utest:tag1"]  # '*' never crosses a '/'
    assert _tags(daemon, "mi-utest*/*") == ["mi-utest/docker:tag2", "mi-utest:5000/docker:tag3"]
    assert _tags(daemon, "*5000*/*") == ["mi-utest:5000/docker:tag3"]
    assert _tags(daemon, "docker.io/library/mi-utest") == ["mi-utest:tag1"]
    assert _tags(daemon, "docker.io/library/mi-utest:*") == ["mi-utest:tag1"]
    assert _tags(daemon, "docker.io/mi-utest/docker") == ["mi-utest/docker:tag2"]


def test_empty_import_for_a_platform_then_conflict_by_id_and_removal_by_digest(daemon: Daemon,
                                                                               tagged: list[str]) -> None:
    status, answer = _import(daemon, "repo=mi-imp&tag=one&platform=linux/sparc64", b"")
    assert status == 200, answer
    tagged.append("mi-imp:one")
    img = call(daemon, "GET", f"{V}/images/mi-imp:one/json")[1]
    assert (img["Os"], img["Architecture"]) == ("linux", "sparc64")
    _tag(daemon, tagged, "mi-imp:one", "mi-imp2", "two")
    status, answer = call(daemon, "DELETE", f"{V}/images/{img['Id']}")
    assert status == 409, answer
    assert f"unable to delete {img['Id'][7:19]} (must be forced)" in answer["message"]
    digests = call(daemon, "GET", f"{V}/images/mi-imp:one/json")[1]["RepoDigests"]
    by_digest = next(d for d in digests if d.startswith("mi-imp2@"))
    assert call(daemon, "GET", f"{V}/images/{quote(by_digest, safe='')}/json")[1]["Id"] == img["Id"]
    status, answer = call(daemon, "DELETE", f"{V}/images/{quote(by_digest, safe='')}")
    assert status == 200, answer
    assert call(daemon, "GET", f"{V}/images/mi-imp2:two/json")[0] == 404
    assert call(daemon, "GET", f"{V}/images/mi-imp:one/json")[0] == 200


def test_save_of_a_repository_without_tag_saves_every_tag(daemon: Daemon, tagged: list[str]) -> None:
    _tag(daemon, tagged, "busybox", "mi-save", "foo")
    _tag(daemon, tagged, "busybox", "mi-save", "bar")
    status, body = call(daemon, "GET", f"{V}/images/get?names=mi-save")
    assert status == 200, body
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert sorted(t for m in manifest for t in m["RepoTags"]) == ["mi-save:bar", "mi-save:foo"]


def test_commit_change_env_expands_against_the_container(daemon: Daemon, tagged: list[str]) -> None:
    status, made = call(daemon, "POST", f"{V}/containers/create", {"Image": "busybox", "Env": ["PATH=/bin"]})
    assert status == 201, made
    try:
        status, answer = call(daemon, "POST", f"{V}/commit?container={made['Id']}&repo=mi-commit&tag=env&changes="
                              + quote("ENV PATH=/usr/bin:$PATH"))
        assert status == 201, answer
        tagged.append("mi-commit:env")
        env = call(daemon, "GET", f"{V}/images/mi-commit:env/json")[1]["Config"]["Env"]
        assert [e for e in env if e.startswith("PATH=")] == ["PATH=/usr/bin:/bin"]
    finally:
        call(daemon, "DELETE", f"{V}/containers/{made['Id']}?force=1")


def test_import_from_a_url(daemon: Daemon, source: str, tagged: list[str]) -> None:
    status, answer = call(daemon, "POST", f"{V}/images/create?fromSrc={quote(source + '/ok.tar')}&repo=mi-url&tag=1")
    assert status == 200, answer
    tagged.append("mi-url:1")
    assert call(daemon, "GET", f"{V}/images/mi-url:1/json")[0] == 200
    status, answer = call(daemon, "POST", f"{V}/images/create?fromSrc={quote('http://' + source + '/nofile.tar')}")
    assert status == 404, answer
    status, answer = call(daemon, "POST", f"{V}/images/create?fromSrc={quote('%2Fdata%2Ffile.tar')}")
    assert status == 400, answer


def test_pull_errors_before_the_stream(daemon: Daemon, source: str) -> None:
    status, answer = call(daemon, "POST", f"{V}/images/create?fromImage=busybox&tag=latest&platform=foobar")
    assert status == 400, answer
    assert "unknown operating system or architecture" in answer["message"]
    status, answer = call(daemon, "POST", f"{V}/images/create?fromImage={source}/mi/nothere&tag=latest")
    assert status == 404, answer
    assert f"pull access denied for {source}/mi/nothere, repository does not exist" in answer["message"]


def test_identity_without_manifests_is_refused_from_api_1_54(daemon: Daemon) -> None:
    status, answer = call(daemon, "GET", "/v1.54/images/json?identity=1")
    assert status == 400 and "identity requires manifests=1" in answer["message"], answer
    assert call(daemon, "GET", "/v1.54/images/json?identity=1&manifests=1")[0] == 200


def test_build_with_an_invalid_platform_is_a_400(daemon: Daemon) -> None:
    status, answer = call(daemon, "POST", f"{V}/build?platform=foobar", raw=_tar({"Dockerfile": b"FROM busybox\n"}))
    assert status == 400, answer
    assert "unknown operating system or architecture" in answer["message"]
