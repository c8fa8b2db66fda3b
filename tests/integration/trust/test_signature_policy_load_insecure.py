"""``load``'s signature check reads the signatures in plain HTTP from the daemon's ``--insecure-registry``
hosts, as the pull's check does (``trust.api.check_load`` with ``insecure``; the engine passes its list).
The registry is on this machine's own non-loopback address (the fixtures of
test_signature_policy_registries.py); before, the load's check spoke TLS to it and refused every image."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard import errors
from dockyard.trust import api
from tests.integration.trust.test_signature_policy_registries import (  # noqa: F401 (remote_registry: a fixture)
    key_pair,
    policy,
    policy_daemon,
    push_images,
    remote_registry,
)


def test_check_load_reads_insecure_registries_in_plain_http(remote_registry: tuple[str, str, Path]) -> None:  # noqa: F811
    host, loopback, work = remote_registry
    key, pub = key_pair(work)
    push_images(loopback, work, [])
    api.sign(f"{loopback}/demo/signed:v1", key, b"secret", identity=f"{host}/demo/signed:v1")
    digest = api.check_pull(policy(host, pub), host, "demo/signed", "v1", "", insecure=[host])
    with pytest.raises(errors.PermissionDenied, match=f"could not be read from {host}: .*(SSL|ssl)"):
        api.check_load(policy(host, pub), host, "demo/signed", "v1", digest)  # not listed: TLS
    api.check_load(policy(host, pub), host, "demo/signed", "v1", digest, insecure=[host])
    with pytest.raises(errors.PermissionDenied, match="no signatures"):
        api.check_load(policy(host, pub), host, "demo/unsigned", "v1", digest, insecure=[host])


@pytest.mark.root
def test_daemon_load_judged_through_its_insecure_registry(remote_registry: tuple[str, str, Path]) -> None:  # noqa: F811
    host, _, work = remote_registry
    with policy_daemon(remote_registry) as cli:
        signed, unsigned = f"{host}/demo/signed:v1", f"{host}/demo/unsigned:v1"
        assert cli("pull", signed).returncode == 0
        assert cli("tag", signed, unsigned).returncode == 0  # the same manifest, named where no signature is
        for name in (signed, unsigned):
            r = cli("save", "-o", str(work / f"{name.rsplit('/', 1)[1]}.tar"), name)
            assert r.returncode == 0, r.stderr
        assert cli("rmi", signed, unsigned).returncode == 0
        r = cli("load", "-i", str(work / "signed:v1.tar"))
        assert r.returncode == 0 and f"Loaded image: {signed}" in r.stdout, r.stdout + r.stderr
        r = cli("load", "-i", str(work / "unsigned:v1.tar"))
        assert r.returncode != 0 and "no signatures" in r.stderr, r.stdout + r.stderr
        assert cli("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split() == [signed]
