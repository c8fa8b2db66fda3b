"""The build context made one way for ``dockyard build``, ``dockyard compose build`` and the
buildx plugin (``dockyard.buildcontext``): ``.dockerignore`` with ``!`` exceptions, the Dockerfile
and ``.dockerignore`` kept, a Dockerfile outside the context sent under a random name."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import pytest

from dockyard.buildcontext.send import dockerfile_in_context, make_context
from dockyard.compose import loader
from dockyard.compose.ops import Compose


def members(plan: Any) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(bytes(plan.finish()))) as tf:
        return {m.name: (tf.extractfile(m).read() if m.isfile() else b"") for m in tf}  # type: ignore[union-attr]


def context(tmp_path: Path) -> Path:
    root = tmp_path / "app"
    for name, text in {"Dockerfile": "FROM busybox\nCOPY . /ctx/\n", "a.txt": "a", "secret.txt": "s",
                       "logs/x.log": "x", "logs/keep.log": "k", "docker/Dockerfile.dev": "FROM busybox\n",
                       ".dockerignore": "secret.txt\nlogs/*.log\n!logs/keep.log\ndocker\nDockerfile\n"}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_dockerignore_applied_with_exceptions_and_the_build_files_kept(tmp_path: Path) -> None:
    root = context(tmp_path)
    plan, name = make_context(root)
    assert name == "Dockerfile"
    assert sorted(members(plan)) == [".dockerignore", "Dockerfile", "a.txt", "logs", "logs/keep.log"]


def test_a_dockerfile_in_an_ignored_directory_is_still_sent(tmp_path: Path) -> None:
    root = context(tmp_path)
    plan, name = make_context(root, Path("docker/Dockerfile.dev"))
    assert name == "docker/Dockerfile.dev"
    got = members(plan)
    assert got["docker/Dockerfile.dev"] == b"FROM busybox\n"
    assert "docker" not in got and "Dockerfile" not in got  # the ignored directory itself stays out


def test_a_dockerfile_outside_the_context_travels_under_a_random_name(tmp_path: Path) -> None:
    root = context(tmp_path)
    outside = tmp_path / "Dockerfile.out"
    outside.write_text("FROM busybox\nRUN true\n")
    plan, name = make_context(root, outside)
    assert name.startswith(".dockerfile.") and len(name) == len(".dockerfile.") + 12
    assert members(plan)[name] == b"FROM busybox\nRUN true\n"
    assert dockerfile_in_context(root, root / "docker" / "Dockerfile.dev") == ("docker/Dockerfile.dev", None)
    with pytest.raises(Exception, match="failed to read dockerfile"):
        dockerfile_in_context(root, tmp_path / "missing")


class FakeClient:
    """Records the ``POST /build`` a compose build sends; has no context cache (as Docker's)."""

    def __init__(self) -> None:
        self.params: dict[str, Any] = {}
        self.body: Any = None

    def json(self, method: str, path: str, *args: Any, **kwargs: Any) -> Any:
        from dockyard import errors

        raise errors.NotFound(f"{method} {path}")

    def json_stream(self, method: str, path: str, params: dict[str, Any], body: Any = None,
                    headers: dict[str, str] | None = None) -> Any:
        self.params, self.body = params, body
        return iter([{"aux": {"ID": "sha256:" + "0" * 64}}])


@pytest.mark.parametrize("dockerfile", [None, "docker/Dockerfile.dev", "../Dockerfile.out"])
def test_compose_build_sends_the_context_dockyard_build_sends(tmp_path: Path, dockerfile: str | None) -> None:
    root = context(tmp_path)
    (tmp_path / "Dockerfile.out").write_text("FROM busybox\n")
    build = "context: ./app" + (f", dockerfile: {dockerfile}" if dockerfile else "")
    (tmp_path / "compose.yaml").write_text(f"services:\n  web:\n    build: {{{build}}}\n")
    project = loader.load(loader.Options(workdir=str(tmp_path), environ={}))
    c = FakeClient()
    Compose(c, "p", project, out=lambda *a, **k: None).build("web")
    sent = members(c.body)
    plan, name = make_context(root, root / (dockerfile or "Dockerfile"))
    expected = members(plan)
    if name.startswith(".dockerfile."):  # the random name differs between the two
        assert c.params["dockerfile"].startswith(".dockerfile.")
        assert sent.pop(c.params["dockerfile"]) == expected.pop(name)
    else:
        assert c.params["dockerfile"] == name
        assert bytes(c.body.finish()) == bytes(plan.finish())  # the same tar, byte for byte
    assert sent == expected


def test_compose_build_sends_an_inline_dockerfile(tmp_path: Path) -> None:
    context(tmp_path)
    (tmp_path / "compose.yaml").write_text(
        "services:\n  web:\n    build:\n      context: ./app\n      dockerfile_inline: |\n        FROM busybox\n")
    c = FakeClient()
    Compose(c, "p", loader.load(loader.Options(workdir=str(tmp_path), environ={})), out=lambda *a, **k: None
            ).build("web")
    assert members(c.body)[c.params["dockerfile"]] == b"FROM busybox\n"
