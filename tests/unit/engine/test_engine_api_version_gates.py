"""What the API version of a request changes in an answer (engine/api/versions.py), rule by rule."""

from __future__ import annotations

import json

from dockyard.engine.api import versions


def _row() -> dict:
    return {"Id": "c1", "HostConfig": {"NetworkMode": "default", "Annotations": {"a": "b"}},
            "ImageManifestDescriptor": {"digest": "sha256:x"}, "Health": {"Status": "none", "FailingStreak": 0}}


def test_container_summary_fields_appear_with_their_versions() -> None:
    assert versions.container_summary(_row(), (1, 56)) == _row()
    at_151 = versions.container_summary(_row(), (1, 51))
    assert "Health" not in at_151 and at_151["ImageManifestDescriptor"] and at_151["HostConfig"]["Annotations"]
    at_147 = versions.container_summary(_row(), (1, 47))
    assert "ImageManifestDescriptor" not in at_147 and at_147["HostConfig"]["Annotations"] == {"a": "b"}
    assert "Annotations" not in versions.container_summary(_row(), (1, 45))["HostConfig"]


def _inspect() -> dict:
    return {"Id": "c1", "Driver": "overlayfs", "GraphDriver": {"Name": "overlayfs", "Data": None},
            "Config": {"Image": "busybox", "MacAddress": "02:42:ac:11:00:02", "OnBuild": None},
            "NetworkSettings": {"Bridge": "", "SandboxID": "s", "Ports": {}, "Networks": {"bridge": {}},
                                "SandboxKey": "/k", "Gateway": "10.0.0.1", "IPAddress": "10.0.0.2",
                                "IPPrefixLen": 24, "MacAddress": "02:42:ac:11:00:02", "EndpointID": "e"}}


def test_container_inspect_from_152_drops_the_legacy_fields() -> None:
    doc = versions.container_inspect(_inspect(), (1, 52))
    assert set(doc["NetworkSettings"]) == {"SandboxID", "Ports", "Networks", "SandboxKey"}
    assert doc["Config"] == {"Image": "busybox"}
    assert "GraphDriver" not in doc
    assert doc["Storage"] == {"RootFS": {"Snapshot": {"Name": "overlayfs"}}}


def test_container_inspect_before_152_is_unchanged_and_the_record_untouched() -> None:
    record = _inspect()
    assert versions.container_inspect(record, (1, 51)) == _inspect()
    versions.container_inspect(record, (1, 56))
    assert record == _inspect()  # the stored container is never edited by an answer


def test_image_inspect_omits_unset_fields_from_152_and_descriptor_before_148() -> None:
    doc = {"Id": "i", "Parent": "", "Comment": "", "DockerVersion": "", "Author": "me",
           "Config": {"Cmd": ["sh"], "Entrypoint": None, "Env": [], "Labels": {}, "User": "", "WorkingDir": "",
                      "ExposedPorts": {}},
           "Descriptor": {"digest": "sha256:m"}, "Manifests": []}
    new = versions.image_inspect(doc, (1, 56))
    assert {"Parent", "Comment", "DockerVersion"}.isdisjoint(new) and new["Author"] == "me"
    assert new["Config"] == {"Cmd": ["sh"], "ExposedPorts": {}}
    old = versions.image_inspect(doc, (1, 51))
    assert old["Parent"] == "" and old["Config"] == doc["Config"] and old["Descriptor"]
    assert "Descriptor" not in versions.image_inspect(doc, (1, 47))
    assert "Manifests" not in versions.image_inspect(doc, (1, 47))


def test_events_legacy_fields_and_image_create_by_version() -> None:
    ev = {"Type": "container", "Action": "start", "Actor": {"ID": "c1", "Attributes": {}},
          "status": "start", "id": "c1", "from": "busybox", "time": 1, "timeNano": 1}
    assert versions.event(ev, (1, 51)) == ev
    assert versions.event(ev, (1, 52)) == {k: v for k, v in ev.items() if k not in ("status", "id", "from")}
    created = {"Type": "image", "Action": "create", "Actor": {"ID": "i"}}
    assert versions.event(created, (1, 45)) is None
    assert versions.event(created, (1, 46)) == created


def test_events_content_type_negotiation() -> None:
    ct = versions.events_content_type
    assert ct("", (1, 51)) == "application/json"
    assert ct("", (1, 56)) == "application/jsonl"
    assert ct("*/*", (1, 56)) == "application/jsonl"  # strict: wildcards choose nothing
    assert ct("application/jsonl, application/x-ndjson;q=0.9, application/json-seq;q=0.5", (1, 56)) == \
        "application/jsonl"
    assert ct("application/json-seq;q=0.5, application/x-ndjson;q=0.9", (1, 51)) == "application/x-ndjson"
    assert ct("application/json-seq", (1, 56)) == "application/json-seq"
    assert ct("application/x-ndjson;q=0", (1, 56)) == "application/jsonl"


def test_encode_event_json_seq_has_record_separators() -> None:
    ev = {"Type": "container"}
    assert versions.encode_event(ev, "application/json-seq") == b"\x1e" + json.dumps(ev).encode() + b"\n"
    assert versions.encode_event(ev, "application/jsonl") == json.dumps(ev).encode() + b"\n"
