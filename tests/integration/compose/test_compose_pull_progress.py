"""``pull`` and ``up`` show each layer's pull progress as Compose v2 does, from the engine's
progress stream: plain lines (`` <layer> Downloading [==>   ]  1MB/2MB``), json objects with
``parent_id``, and in tty mode the service's line with a bar of its layers, counted in the
summary; ``up --quiet-pull`` leaves the layers out. Against the real v2 and a loopback registry."""

from __future__ import annotations

import io
import os
import re
import tarfile
from pathlib import Path

from tests.integration.compose.conftest import Project, ok


def _last_frame(stderr: str) -> list[str]:
    frame = stderr.rsplit("\x1b[0G\x1b[?25l", 1)[-1].split("\x1b[?25h", 1)[0]
    return [re.sub(r"\d+\.\ds $", "T", line) for line in re.sub(r"\x1b\[[0-9;]*m", "", frame).splitlines()]


def _forget(p: Project, ref: str) -> None:
    """The image and its layer gone from the daemon."""
    p.d.cli("rmi", "-f", ref)


def test_pull_progress_of_layers_as_v2(project: Project, compose_v2: str, registry: str, tmp_path: Path) -> None:
    p = project
    ref = f"{registry}/{p.name}/app:v1"
    layer = tmp_path / "layer.tar"
    with tarfile.open(layer, "w") as tar:  # a layer of this test's own, so that it is downloaded
        data = os.urandom(300_000)
        info = tarfile.TarInfo("made")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    r = p.d.cli("import", str(layer), ref, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    r = p.d.cli("push", ref, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    (p.dir / "compose.yaml").write_text(f"""
services:
  app:
    image: {ref}
    command: ["/made"]
networks:
  default:
    ipam:
      config: [{{subnet: "${{SUBNET}}"}}]
""")
    seen: dict[str, dict[str, object]] = {}
    try:
        for tool, run in (("dockyard", p.dy), ("v2", lambda *a: p.v2(compose_v2, *a))):
            out: dict[str, object] = {}
            _forget(p, ref)
            r = run("--progress", "plain", "pull")
            ok(r)
            out["plain"] = r.stderr.splitlines()
            _forget(p, ref)
            r = run("--progress", "json", "pull")
            ok(r)
            out["json"] = r.stderr.splitlines()
            _forget(p, ref)
            r = run("--progress", "tty", "pull")
            ok(r)
            out["tty"] = _last_frame(r.stderr)
            _forget(p, ref)
            r = run("--progress", "json", "up", "--no-start", "--quiet-pull")  # the layer runs nothing
            ok(r)
            out["quiet-pull"] = [line for line in r.stderr.splitlines() if '"app"' in line]
            ok(run("down", "-t", "0"))
            seen[tool] = out
    finally:
        _forget(p, ref)
    v2 = seen["v2"]
    assert any("Pull complete" in line for line in v2["plain"])  # type: ignore[union-attr]
    assert any('"parent_id":"app"' in line for line in v2["json"])  # type: ignore[union-attr]
    assert v2["tty"][0] == "[+] Pulling 2/2"  # the service and its layer
    assert v2["quiet-pull"] == ['{"id":"app","text":"Pulling"}', '{"id":"app","text":"Pulled"}']
    for key in ("plain", "json", "tty", "quiet-pull"):
        assert seen["dockyard"][key] == v2[key], key
    assert p.leftovers() == {}
