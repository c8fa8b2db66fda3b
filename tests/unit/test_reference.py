"""Image references are normalised as Docker's distribution/reference does."""

from __future__ import annotations

import pytest

from dockyard import errors
from dockyard.oci import reference

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("given", "full"),
    [
        ("busybox", "docker.io/library/busybox:latest"),
        ("busybox:1.36", "docker.io/library/busybox:1.36"),
        ("library/busybox", "docker.io/library/busybox:latest"),
        ("docker.io/busybox", "docker.io/library/busybox:latest"),
        ("index.docker.io/library/busybox", "docker.io/library/busybox:latest"),
        ("someone/tool", "docker.io/someone/tool:latest"),
        ("localhost/tool", "localhost/tool:latest"),
        ("localhost:5000/a/b:t", "localhost:5000/a/b:t"),
        ("localhost:5000/a", "localhost:5000/a:latest"),
        ("registry.example.com/team/app:v1.2-rc_3", "registry.example.com/team/app:v1.2-rc_3"),
        ("a__b/c-d.e", "docker.io/a__b/c-d.e:latest"),
    ],
)
def test_parse_normalises_to_the_full_name(given: str, full: str) -> None:
    assert str(reference.parse(given)) == full


def test_parts_of_a_registry_reference() -> None:
    ref = reference.parse("localhost:5000/a/b:t")
    assert (ref.domain, ref.path, ref.tag, ref.digest) == ("localhost:5000", "a/b", "t", "")
    assert ref.name == "localhost:5000/a/b"


def test_a_digest_reference_gets_no_default_tag() -> None:
    ref = reference.parse(f"busybox@{DIGEST}")
    assert ref.tag == ""
    assert ref.digest == DIGEST
    assert str(ref) == f"docker.io/library/busybox@{DIGEST}"


def test_tag_and_digest_together() -> None:
    ref = reference.parse(f"busybox:1.36@{DIGEST}")
    assert (ref.tag, ref.digest) == ("1.36", DIGEST)
    assert ref.familiar() == f"busybox:1.36@{DIGEST}"


def test_default_tag_can_be_changed_or_dropped() -> None:
    assert reference.parse("busybox", default_tag="edge").tag == "edge"
    assert str(reference.parse("busybox", default_tag="")) == "docker.io/library/busybox"


@pytest.mark.parametrize(
    ("given", "familiar"),
    [
        ("busybox", "busybox:latest"),
        ("docker.io/library/busybox:1", "busybox:1"),
        ("someone/tool:x", "someone/tool:x"),
        ("localhost:5000/a/b:t", "localhost:5000/a/b:t"),
        (f"busybox@{DIGEST}", f"busybox@{DIGEST}"),
    ],
)
def test_familiar_is_the_short_form_docker_prints(given: str, familiar: str) -> None:
    assert reference.parse(given).familiar() == familiar


def test_familiar_name_has_no_tag() -> None:
    assert reference.parse("busybox:1.36").familiar_name() == "busybox"
    assert reference.parse("quay.io/org/x:1").familiar_name() == "quay.io/org/x"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        " busybox",
        "busybox ",
        "Busybox",
        "library/BusyBox:latest",
        "busybox:-bad",
        "busybox:.bad",
        "busybox:",
        "busybox:" + "x" * 129,
        "a//b",
        "/busybox",
        "busybox/",
        "-busybox",
        "busy--box_",
        "busybox@sha256:short",
        "busybox@" + "a" * 64,
        "busybox@",
    ],
)
def test_invalid_references_raise_invalid_argument(bad: str) -> None:
    with pytest.raises(errors.InvalidArgument, match="invalid reference format"):
        reference.parse(bad)


def test_uppercase_repository_message_names_the_rule() -> None:
    with pytest.raises(errors.InvalidArgument, match="must be lowercase"):
        reference.parse("Busybox")


@pytest.mark.parametrize("bad", ["busybox\n:latest", "busybox:lat\n@" + DIGEST, "someone/tool\n:1"])
def test_an_embedded_newline_is_not_a_valid_reference(bad: str) -> None:
    # Go's `$` matches only at the end of the text; Python's also before a final "\n".
    with pytest.raises(errors.InvalidArgument):
        reference.parse(bad)


def test_tags_are_ascii_only() -> None:
    # The grammar's \w is [A-Za-z0-9_] (RE2); Python's str \w also matches "é".
    with pytest.raises(errors.InvalidArgument):
        reference.parse("busybox:t\u00e9st")


def test_a_registry_port_must_be_numeric() -> None:
    # The grammar's domain is host[:port] with port [0-9]+; "busybox:a" is no domain.
    with pytest.raises(errors.InvalidArgument):
        reference.parse("busybox:a/b")
