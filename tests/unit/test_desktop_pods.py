"""The pods view's protobuf reader against messages the real runtime.v1 classes encode."""

from __future__ import annotations

from dockyard.cri.api import api_pb2 as cri
from dockyard.desktop import pods


def test_a_pod_sandbox_is_read() -> None:
    msg = cri.PodSandbox(id="p" * 64, state=cri.SANDBOX_NOTREADY, created_at=1_700_000_000_123_456_789,
                         labels={"a": "1", "b": "é"}, annotations={"x": "y"}, runtime_handler="runc",
                         metadata=cri.PodSandboxMetadata(name="web", uid="u", namespace="ns", attempt=300))
    got = pods.pod(msg.SerializeToString())
    assert got == {"id": "p" * 64, "name": "web", "namespace": "ns", "uid": "u", "state": "notready",
                   "created": 1_700_000_000.123456789, "labels": {"a": "1", "b": "é"}, "containers": []}


def test_a_container_is_read_and_defaults_are_zero_values() -> None:
    msg = cri.Container(id="c", pod_sandbox_id="p", state=cri.CONTAINER_EXITED, created_at=5,
                        metadata=cri.ContainerMetadata(name="n", attempt=2), image=cri.ImageSpec(image="busybox"),
                        image_ref="sha256:abc", labels={"k": "v"})
    assert pods.container(msg.SerializeToString()) == {
        "id": "c", "pod": "p", "name": "n", "image": "busybox", "state": "exited", "created": 5e-9}
    # proto3 leaves zero values out: a created container, no metadata
    assert pods.container(cri.Container(id="d").SerializeToString())["state"] == "created"


def test_the_list_answers_are_read_item_by_item() -> None:
    answer = cri.ListPodSandboxResponse(items=[cri.PodSandbox(id="a"), cri.PodSandbox(id="b")]).SerializeToString()
    assert [pods.pod(v)["id"] for n, v in pods.fields(answer) if n == 1] == ["a", "b"]
