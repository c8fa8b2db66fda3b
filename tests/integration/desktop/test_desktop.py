"""``dockyard desktop`` against a private daemon, through HTTP as a browser would use it:
lists, actions, server push (SSE, WebSocket), and who may drive it."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import aiohttp
import pytest

from tests.conftest import Daemon, inspect
from tests.integration.desktop.conftest import Desktop, start_desktop, stop_desktop

pytestmark = pytest.mark.root


def run(d: Daemon, *args: str) -> str:
    r = d.cli("run", "-d", *args)
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout.decode().strip()


@pytest.fixture
def names(daemon: Daemon) -> Iterator[list[str]]:
    """Containers the test makes, removed afterwards whatever happened."""
    made: list[str] = []
    yield made
    if made:
        daemon.cli("rm", "-f", *made)


def new_name(names: list[str]) -> str:
    name = f"desk-{uuid.uuid4().hex[:8]}"
    names.append(name)
    return name


def sse_until(desk: Desktop, path: str, wanted: str, trigger: object, timeout: float = 45) -> list[dict]:  # type: ignore[type-arg]
    """Open an SSE stream, call ``trigger()``, read messages until one's data contains ``wanted``."""
    c = desk.conn(timeout=timeout)
    c.request("GET", path, headers={"Host": f"{desk.host}:{desk.port}", "Cookie": desk.cookie})
    r = c.getresponse()
    assert r.status == 200 and r.getheader("Content-Type") == "text/event-stream"
    trigger()  # type: ignore[operator]
    seen: list[dict] = []  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            line = r.fp.readline().decode()
            if line.startswith("data: "):
                seen.append(json.loads(line[6:]))
                if wanted in line:
                    return seen
        raise AssertionError(f"{wanted!r} never came: {seen[-5:]}")
    finally:
        c.close()


def test_the_token_is_required(desktop: Desktop) -> None:
    for path in ("/", "/api/containers", "/static/app.js", "/api/events"):
        status, _, body = desktop.request("GET", path, cookie=False)
        assert status == 403, (path, status)
        assert b"token" in body
    assert desktop.request("GET", "/?token=not-the-token", cookie=False)[0] == 403
    assert desktop.request("GET", "/api/containers", cookie=False,
                           headers={"Cookie": f"dockyard_desktop_{desktop.port}=wrong"})[0] == 403
    status, _, _ = desktop.request("GET", "/api/containers", cookie=False, headers={"X-Dockyard-Token": desktop.token})
    assert status == 200
    assert desktop.cookie == f"dockyard_desktop_{desktop.port}={desktop.token}"


def test_the_pages_are_served_with_the_cookie(desktop: Desktop) -> None:
    status, headers, body = desktop.request("GET", "/")
    assert status == 200 and b"Dockyard Desktop" in body
    assert "default-src 'self'" in headers["content-security-policy"]
    status, _, body = desktop.request("GET", "/static/app.js")
    assert status == 200 and b"containersView" in body


def test_a_foreign_host_is_refused(desktop: Desktop) -> None:
    """DNS rebinding: a page of evil.example resolved to 127.0.0.1 sends its own name as Host."""
    status, _, _ = desktop.request("GET", "/api/containers", headers={"Host": f"evil.example:{desktop.port}"})
    assert status == 403
    status, _, _ = desktop.request("GET", "/api/containers", headers={"Host": f"localhost:{desktop.port}"})
    assert status == 200


def test_containers_are_listed_by_compose_project(daemon: Daemon, desktop: Desktop, names: list[str]) -> None:
    project = f"proj{uuid.uuid4().hex[:6]}"
    in_project = new_name(names)
    alone = new_name(names)
    run(daemon, "--name", in_project, "--label", f"com.docker.compose.project={project}",
        "--label", "com.docker.compose.service=web", "busybox", "sleep", "1000")
    run(daemon, "--name", alone, "busybox", "sleep", "1000")
    groups = {g["project"]: g["containers"] for g in desktop.json("GET", "/api/containers")["projects"]}
    assert [c["name"] for c in groups[project]] == [in_project]
    row = groups[project][0]
    assert row["state"] == "running" and row["service"] == "web" and row["status"].startswith("Up")
    assert alone in [c["name"] for c in groups[""]]


def test_stop_through_the_dashboard(daemon: Daemon, desktop: Desktop, names: list[str]) -> None:
    name = new_name(names)
    run(daemon, "--name", name, "busybox", "sleep", "1000")
    answer = desktop.json("POST", f"/api/containers/{name}/stop", headers={"Origin": desktop.origin})
    assert answer == {"done": "stop"}
    assert inspect(daemon, name)["State"]["Running"] is False
    rows = [c for g in desktop.json("GET", "/api/containers")["projects"] for c in g["containers"]]
    assert [r["state"] for r in rows if r["name"] == name] == ["exited"]


def test_a_foreign_origin_cannot_act(daemon: Daemon, desktop: Desktop, names: list[str]) -> None:
    name = new_name(names)
    run(daemon, "--name", name, "busybox", "sleep", "1000")
    for headers in ({"Origin": "http://evil.example"}, {"Origin": f"http://evil.example:{desktop.port}"},
                    {"Sec-Fetch-Site": "cross-site"}):
        status, _, body = desktop.request("POST", f"/api/containers/{name}/kill", headers=headers)
        assert status == 403, (headers, status)
        assert b"refused" in body
    status, _, _ = desktop.request("DELETE", f"/api/containers/{name}?force=1", headers={"Origin": "null"})
    assert status == 403
    assert inspect(daemon, name)["State"]["Running"] is True


def test_bad_input_is_a_message_not_a_traceback(desktop: Desktop) -> None:
    cases = [("POST", "/api/containers/no-such-container/start", None, 404),
             ("POST", "/api/containers/x/explode", None, 400),
             ("POST", "/api/prune/everything", None, 400),
             ("POST", "/api/pull", {"nope": 1}, 400)]
    for method, path, body, want in cases:
        status, headers, data = desktop.request(method, path, body, headers={"Origin": desktop.origin})
        assert status == want, (path, status, data)
        message = json.loads(data)["message"]
        assert message and "Traceback" not in message


def test_sse_delivers_the_start_of_a_container(daemon: Daemon, desktop: Desktop, names: list[str]) -> None:
    name = new_name(names)
    r = daemon.cli("create", "--name", name, "busybox", "sleep", "1000")
    assert r.returncode == 0, r.stderr.decode()
    cid = r.stdout.decode().strip()

    def start() -> None:
        assert daemon.cli("start", name).returncode == 0

    seen = sse_until(desktop, "/api/events", '"start"', start)
    assert any(e.get("Action") == "start" and e.get("id") == cid for e in seen), seen[-3:]


def test_logs_stream_a_line_printed_after_the_page_opened(daemon: Daemon, desktop: Desktop,
                                                          names: list[str]) -> None:
    name = new_name(names)
    run(daemon, "--name", name, "busybox", "sh", "-c",
        "echo before; while [ ! -e /tmp/go ]; do sleep 0.1; done; echo after-$((6*7)); exec sleep 1000")

    def go() -> None:
        assert daemon.cli("exec", name, "touch", "/tmp/go").returncode == 0

    seen = sse_until(desktop, f"/api/containers/{name}/logs", "after-42", go)
    text = "".join(m["text"] for m in seen)
    assert "before" in text and text.index("before") < text.index("after-42")


def test_stats_stream(daemon: Daemon, desktop: Desktop, names: list[str]) -> None:
    name = new_name(names)
    run(daemon, "--name", name, "busybox", "sleep", "1000")
    seen = sse_until(desktop, f"/api/containers/{name}/stats", '"mem"', lambda: None)
    assert seen[-1]["mem"] > 0 and seen[-1]["pids"] >= 1


def test_terminal_runs_echo(daemon: Daemon, desktop: Desktop, names: list[str]) -> None:
    name = new_name(names)
    run(daemon, "--name", name, "busybox", "sleep", "1000")

    async def session(origin: str) -> str:
        headers = {"Cookie": desktop.cookie, "Origin": origin}
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(f"{desktop.origin}/api/containers/{name}/terminal?cols=100&rows=30",
                                    headers=headers) as ws:
                await ws.send_str(json.dumps({"resize": [90, 25]}))
                await ws.send_str(json.dumps({"input": "echo hi-$((6*7)); stty size\n"}))
                out = ""
                deadline = time.monotonic() + 15
                while "hi-42" not in out or "25 90" not in out:
                    assert time.monotonic() < deadline, out
                    msg = await ws.receive(timeout=15)
                    assert msg.type == aiohttp.WSMsgType.BINARY, msg
                    out += msg.data.decode(errors="replace")
                await ws.send_str(json.dumps({"input": "exit\n"}))
                return out

    assert "hi-42" in asyncio.run(session(desktop.origin))
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        asyncio.run(session("http://evil.example"))
    assert err.value.status == 403


def test_images_volumes_networks_disk(daemon: Daemon, desktop: Desktop) -> None:
    images = desktop.json("GET", "/api/images")["images"]
    busybox = [i for i in images if "busybox:latest" in i["tags"]]
    assert busybox and busybox[0]["size"] > 0
    assert isinstance(desktop.json("GET", "/api/volumes")["volumes"], list)
    assert isinstance(desktop.json("GET", "/api/networks")["networks"], list)
    assert "Images" in desktop.json("GET", "/api/df")
    assert desktop.json("GET", "/api/settings")["version"]["ApiVersion"]


def test_no_daemon_is_a_message(tmp_path: Path) -> None:
    desk = start_desktop(SimpleNamespace(host=f"unix://{tmp_path}/nothing.sock"), "--addr", "127.0.0.1:0")  # type: ignore[arg-type]
    try:
        headers = {"X-Dockyard-Token": desk.token}
        status, _, data = desk.request("GET", "/api/containers", headers=headers)
        assert status == 503, (status, data)
        assert "cannot reach the daemon" in json.loads(data)["message"]
        # a stream has started when the engine fails: the message comes as its `error` event
        status, _, data = desk.request("GET", "/api/containers/x/logs", headers=headers)
        assert status == 200 and data.startswith(b"event: error\ndata: "), data
        assert "cannot reach the daemon" in json.loads(data.split(b"data: ", 1)[1])["message"]
    finally:
        stop_desktop(desk)


def test_tag_push_pull_through_the_dashboard(daemon: Daemon, desktop: Desktop) -> None:
    from tests.integration.images.conftest import REGISTRY_BIN, Registry

    if not os.path.exists(REGISTRY_BIN):
        pytest.skip("needs Debian's docker-registry")
    base = Path(tempfile.mkdtemp(prefix="dy-reg-"))
    registry = Registry(base)
    ref = f"{registry.host}/desk/tagged:{uuid.uuid4().hex[:6]}"
    origin = {"Origin": desktop.origin}
    try:
        assert desktop.json("POST", "/api/images/busybox/tag", {"ref": ref}, headers=origin)["ref"] == ref
        status, headers, body = desktop.request("POST", "/api/push", {"ref": ref}, headers=origin)
        assert status == 200 and headers["content-type"].startswith("application/x-ndjson"), body
        pushed = [json.loads(line) for line in body.splitlines()]
        assert not [m for m in pushed if "error" in m], pushed
        assert any("digest: sha256:" in m.get("status", "") for m in pushed), pushed
        assert daemon.cli("rmi", ref).returncode == 0
        status, _, body = desktop.request("POST", "/api/pull", {"ref": ref}, headers=origin)
        assert status == 200 and b"Status: Downloaded newer image" in body, body
        tags = [t for i in desktop.json("GET", "/api/images")["images"] for t in i["tags"]]
        assert ref in tags
        status, _, body = desktop.request("POST", "/api/pull", {"ref": "UPPER/case"}, headers=origin)
        assert status == 400 and json.loads(body)["message"], body
    finally:
        daemon.cli("rmi", ref)
        registry.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_one_stream_carries_the_stats_of_several_containers(daemon: Daemon, desktop: Desktop,
                                                           names: list[str]) -> None:
    ids = [run(daemon, "--name", new_name(names), "busybox", "sleep", "1000") for _ in range(2)]
    c = desktop.conn(timeout=20)
    c.request("GET", f"/api/stats?id={ids[0]}&id={ids[1]}",
              headers={"Host": f"{desktop.host}:{desktop.port}", "Cookie": desktop.cookie})
    r = c.getresponse()
    seen: set[str] = set()
    try:
        while seen != set(ids):
            line = r.fp.readline().decode()
            assert line, "stream ended"
            if line.startswith("data: "):
                point = json.loads(line[6:])
                assert "gone" not in point and point["mem"] > 0, point
                seen.add(point["id"])
    finally:
        c.close()
    assert desktop.request("GET", "/api/stats")[0] == 400


def test_files_are_listed_and_downloaded(daemon: Daemon, desktop: Desktop, names: list[str]) -> None:
    name = new_name(names)
    run(daemon, "--name", name, "busybox", "sh", "-c",
        "mkdir -p /srv/d/sub && echo '<script>x</script>' > /srv/d/page.html && ln -s page.html /srv/d/l && "
        "exec sleep 1000")
    deadline = time.monotonic() + 10
    while True:
        status, _, body = desktop.request("GET", f"/api/containers/{name}/files?path=/srv/d")
        if status == 200 and len(json.loads(body)["entries"]) == 3 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert status == 200, body
    rows = {e["name"]: e for e in json.loads(body)["entries"]}
    assert rows["sub"]["type"] == "dir" and rows["page.html"]["type"] == "file" and rows["l"]["link"] == "page.html"
    status, headers, data = desktop.request("GET", f"/api/containers/{name}/file?path=/srv/d/page.html")
    assert status == 200 and data == b"<script>x</script>\n"
    assert headers["content-type"] == "application/octet-stream"
    assert headers["content-disposition"].startswith("attachment")
    for path, want in (("relative", 400), ("/srv/d/page.html", 400), ("/no/such", 404)):
        assert desktop.request("GET", f"/api/containers/{name}/files?path={path}")[0] == want, path
    assert desktop.request("GET", f"/api/containers/{name}/file?path=/srv/d")[0] == 400


def test_the_terminal_websocket_is_guarded_like_the_rest(daemon: Daemon, desktop: Desktop, names: list[str]) -> None:
    """No token, a foreign Host, a foreign Origin, a cross-site fetch: no WebSocket, and no exec made."""
    name = new_name(names)
    run(daemon, "--name", name, "busybox", "sleep", "1000")
    good = {"Host": f"{desktop.host}:{desktop.port}", "Cookie": desktop.cookie, "Origin": desktop.origin}
    upgrade = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
    refused = [{**good, "Cookie": ""}, {**good, "Cookie": f"dockyard_desktop_{desktop.port}=wrong"},
               {**good, "Host": f"evil.example:{desktop.port}"}, {**good, "Origin": "http://evil.example"},
               {**good, "Origin": f"http://127.0.0.2:{desktop.port}"}, {**good, "Sec-Fetch-Site": "cross-site"}]
    path = f"/api/containers/{name}/terminal?cols=80&rows=24"
    for headers in refused:
        status, _, body = desktop.request("GET", path, headers={**upgrade, **headers}, cookie=False)
        assert status == 403, (headers, status, body)
    assert inspect(daemon, name)["ExecIDs"] in (None, [])
    status, _, _ = desktop.request("GET", path, headers={**upgrade, **good}, cookie=False)
    assert status == 101
