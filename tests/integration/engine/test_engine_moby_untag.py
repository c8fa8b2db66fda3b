"""``DELETE /images/repo@digest`` of an image other names keep is an untag of that repository,
even while a container uses the image (moby's TestRemoveByDigest, issue 14, session 7); the
image's last names still refuse (409) while a container uses it."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import Daemon
from tests.httpcall import call

pytestmark = pytest.mark.root


def test_delete_by_digest_untags_that_repository_despite_a_user(daemon: Daemon) -> None:
    repo = f"untag-{uuid.uuid4().hex[:8]}"
    assert call(daemon, "POST", f"/v1.51/images/busybox/tag?repo={repo}&tag=latest")[0] == 201
    status, made = call(daemon, "POST", "/v1.51/containers/create", {"Image": "busybox", "Cmd": ["true"]})
    assert status == 201, made
    try:
        digests = call(daemon, "GET", f"/v1.51/images/{repo}/json")[1]["RepoDigests"]
        by_digest = next(d for d in digests if d.startswith(f"{repo}@"))
        status, answer = call(daemon, "DELETE", f"/v1.51/images/{by_digest}")
        assert status == 200, answer
        assert call(daemon, "GET", f"/v1.51/images/{repo}/json")[0] == 404
        assert call(daemon, "GET", "/v1.51/images/busybox/json")[0] == 200
        status, answer = call(daemon, "DELETE", "/v1.51/images/busybox")
        assert status == 409 and "being used by" in answer["message"], answer
    finally:
        call(daemon, "DELETE", f"/v1.51/containers/{made['Id']}?force=1")
        call(daemon, "DELETE", f"/v1.51/images/{repo}:latest")
