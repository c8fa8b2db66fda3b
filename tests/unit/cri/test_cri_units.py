"""dockyard-cri's pure parts: the CRI log format, per-registry mirrors, CNI results, specs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dockyard import errors
from dockyard.containerd.remotes.hosts import endpoints
from dockyard.cri import spec as specs
from dockyard.cri.api import api_pb2 as cri
from dockyard.cri.cni import pod_ip
from dockyard.cri.logs import MAX_LINE, format_lines
from dockyard.cri.main import mirrors_of

RECORD = re.compile(rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) ([FP]) (.*)$")


def _records(data: bytes) -> list[tuple[bytes, bytes, bytes]]:
    out = []
    for line in data.splitlines():
        m = RECORD.match(line)
        assert m, line
        out.append((m.group(1), m.group(2), m.group(3)))
    return out


def test_log_lines_full_and_partial() -> None:
    pending = bytearray()
    assert format_lines("stdout", pending, b"one\ntw") and pending == b"tw"
    assert _records(format_lines("stdout", pending, b"o\n")) == [(b"stdout", b"F", b"two")]
    long = b"x" * (MAX_LINE + 10)
    recs = _records(format_lines("stderr", pending, long + b"\n"))
    assert recs == [(b"stderr", b"P", b"x" * MAX_LINE), (b"stderr", b"F", b"x" * 10)]
    assert _records(format_lines("stdout", pending, b"tail", eof=True)) == [(b"stdout", b"F", b"tail")]
    assert pending == b""


def test_mirrors_are_per_registry_host() -> None:
    mirrors = ["registry.k8s.io=http://127.0.0.1:5000", "https://hub-mirror.example"]
    k8s = endpoints("registry.k8s.io", [], mirrors)
    assert [(e.base, e.mirror) for e in k8s] == [("http://127.0.0.1:5000", True), ("https://registry.k8s.io", False)]
    hub = endpoints("docker.io", [], mirrors)
    assert [e.base for e in hub] == ["https://hub-mirror.example", "https://registry-1.docker.io"]
    assert [e.base for e in endpoints("gcr.io", [], mirrors)] == ["https://gcr.io"]


def test_mirror_flags() -> None:
    assert mirrors_of(["a.io=http://x:1", "a.io=https://y"]) == {"a.io": ["http://x:1", "https://y"]}
    with pytest.raises(errors.InvalidArgument):
        mirrors_of(["http://no-host"])


def test_pod_ip_from_cni_results() -> None:
    assert pod_ip({"ips": [{"address": "10.1.0.5/24"}, {"address": "fd00::5/64"}]}) == ("10.1.0.5", ["fd00::5"])
    assert pod_ip({"ip4": {"ip": "10.2.0.3/16"}}) == ("10.2.0.3", [])
    assert pod_ip({}) == ("", [])


def _ns(spec: dict) -> dict[str, str]:  # type: ignore[type-arg]
    return {n["type"]: n.get("path", "") for n in spec["linux"]["namespaces"]}


def test_container_joins_the_pods_namespaces() -> None:
    pod = cri.PodSandboxConfig(hostname="p")
    config = cri.ContainerConfig(command=["sleep", "1"])
    spec = specs.container_spec("c" * 64, config, pod, {}, 42, "/run/x/netns/p", "/cg/c", {}, "/run/x/shm", {})
    assert _ns(spec) == {"pid": "/proc/42/ns/pid", "network": "/run/x/netns/p", "ipc": "/proc/42/ns/ipc",
                         "uts": "/proc/42/ns/uts", "mount": ""}
    assert "hostname" not in spec
    shm = next(m for m in spec["mounts"] if m["destination"] == "/dev/shm")
    assert shm["source"] == "/run/x/shm"
    config.linux.security_context.namespace_options.pid = cri.CONTAINER
    config.linux.security_context.namespace_options.network = cri.NODE
    spec = specs.container_spec("c" * 64, config, pod, {}, 42, "", "/cg/c", {}, "/run/x/shm", {})
    assert "network" not in _ns(spec) and "uts" not in _ns(spec) and _ns(spec)["pid"] == ""


def test_privileged_container_needs_a_privileged_pod() -> None:
    config = cri.ContainerConfig(command=["true"])
    config.linux.security_context.privileged = True
    with pytest.raises(errors.InvalidArgument):
        specs.container_spec("c" * 64, config, cri.PodSandboxConfig(), {}, 1, "/n", "/cg", {}, "/s", {})


def test_capabilities_and_seccomp() -> None:
    config = cri.ContainerConfig(command=["true"])
    sec = config.linux.security_context
    sec.capabilities.add_capabilities.append("SYS_ADMIN")
    sec.capabilities.drop_capabilities.append("CHOWN")
    sec.seccomp.profile_type = cri.SecurityProfile.RuntimeDefault
    spec = specs.container_spec("c" * 64, config, cri.PodSandboxConfig(), {}, 1, "/n", "/cg", {}, "/s", {})
    caps = spec["process"]["capabilities"]["effective"]
    assert "CAP_SYS_ADMIN" in caps and "CAP_CHOWN" not in caps
    assert spec["linux"]["seccomp"]["defaultAction"]
    sec.ClearField("seccomp")
    spec = specs.container_spec("c" * 64, config, cri.PodSandboxConfig(), {}, 1, "/n", "/cg", {}, "/s", {})
    assert "seccomp" not in spec["linux"]  # unconfined unless asked, as the CRI defines


def test_image_fs_info_before_the_first_snapshot(tmp_path: Path) -> None:
    """A fresh containerd has no snapshot directory yet: ImageFsInfo asks the filesystem it will be on."""
    from dockyard.cri.images import CriImages

    images = CriImages(None, {}, [], str(tmp_path / "containerd" / "snapshots"))  # type: ignore[arg-type]
    usage = images.fs_info()
    assert usage.fs_id.mountpoint == str(tmp_path / "containerd" / "snapshots") and usage.used_bytes.value > 0


def test_recursive_read_only_mounts() -> None:
    """rro needs readonly and private propagation (a propagating mount would bring rw submounts in)."""
    def spec_of(**mount: object) -> dict:  # type: ignore[type-arg]
        config = cri.ContainerConfig(command=["true"], mounts=[cri.Mount(container_path="/m", host_path="/tmp",
                                                                         **mount)])  # type: ignore[arg-type]
        return specs.container_spec("c" * 64, config, cri.PodSandboxConfig(), {}, 1, "/n", "/cg", {}, "/s", {})

    [m] = [m for m in spec_of(readonly=True, recursive_read_only=True)["mounts"] if m["destination"] == "/m"]
    assert "rro" in m["options"] and "ro" in m["options"]
    for bad in ({"recursive_read_only": True}, {"readonly": True, "recursive_read_only": True,
                                                 "propagation": cri.PROPAGATION_HOST_TO_CONTAINER}):
        with pytest.raises(errors.InvalidArgument):
            spec_of(**bad)


def test_supplemental_groups_policy() -> None:
    """Merge (the default) adds the groups the image's /etc/group gives the user; Strict does not."""
    rootfs = {"/etc/passwd": b"root:x:0:0::/root:/bin/sh\nu:x:1000:1000::/home/u:/bin/sh\n",
              "/etc/group": b"root:x:0:\nu:x:1000:\nextra:x:50000:u\n"}  # as containerd reads them

    def groups(policy: int) -> list[int]:
        sec = cri.LinuxContainerSecurityContext(run_as_user=cri.Int64Value(value=1000), supplemental_groups=[1234],
                                                supplemental_groups_policy=policy)  # type: ignore[arg-type]
        config = cri.ContainerConfig(command=["true"], linux=cri.LinuxContainerConfig(security_context=sec))
        spec = specs.container_spec("c" * 64, config, cri.PodSandboxConfig(), {}, 1, "/n", "/cg", {}, "/s", rootfs)
        return sorted(spec["process"]["user"]["additionalGids"])

    assert groups(cri.Merge) == [1000, 1234, 50000]
    assert groups(cri.Strict) == [1000, 1234]


def test_root_propagation_follows_the_mounts() -> None:
    """As containerd's CRI: a bidirectional mount makes the container's root rshared, host-to-container rslave."""
    def root_propagation(p: int) -> str | None:
        config = cri.ContainerConfig(command=["true"], mounts=[cri.Mount(container_path="/m", host_path="/tmp",
                                                                         propagation=p)])  # type: ignore[arg-type]
        spec = specs.container_spec("c" * 64, config, cri.PodSandboxConfig(), {}, 1, "/n", "/cg", {}, "/s", {})
        return spec["linux"].get("rootfsPropagation")  # type: ignore[no-any-return]

    assert root_propagation(cri.PROPAGATION_BIDIRECTIONAL) == "rshared"
    assert root_propagation(cri.PROPAGATION_HOST_TO_CONTAINER) == "rslave"
    assert root_propagation(cri.PROPAGATION_PRIVATE) is None


def test_user_namespace_options() -> None:
    """NODE (or none) is the host's; CONTAINER/TARGET, several mappings, one not from 0, or POD with a
    host namespace are bad input; a valid POD mapping gives the maps."""
    one = [cri.IDMapping(container_id=0, host_id=100000, length=65536)]
    assert specs.userns_maps(cri.NamespaceOption()) is None
    assert specs.userns_maps(cri.NamespaceOption(userns_options=cri.UserNamespace(mode=cri.NODE))) is None
    for bad in (cri.UserNamespace(mode=cri.CONTAINER), cri.UserNamespace(mode=cri.TARGET),
                cri.UserNamespace(mode=cri.POD, uids=one * 2, gids=one * 2),
                cri.UserNamespace(mode=cri.POD, uids=[cri.IDMapping(container_id=1, host_id=1, length=9)], gids=one)):
        with pytest.raises(errors.InvalidArgument):
            specs.userns_maps(cri.NamespaceOption(userns_options=bad))
    pod = cri.UserNamespace(mode=cri.POD, uids=one, gids=one)
    with pytest.raises(errors.InvalidArgument):
        specs.userns_maps(cri.NamespaceOption(userns_options=pod, network=cri.NODE))
    maps = specs.userns_maps(cri.NamespaceOption(userns_options=pod))
    assert maps == ([{"containerID": 0, "hostID": 100000, "size": 65536}],) * 2


def test_a_pod_in_its_own_user_namespace() -> None:
    """The pause joins the pod's user namespace file, a container the pause's; both carry the maps."""
    ns = cri.NamespaceOption(userns_options=cri.UserNamespace(
        mode=cri.POD, uids=[cri.IDMapping(host_id=1000, length=100000)],
        gids=[cri.IDMapping(host_id=1000, length=100000)]))
    pod = cri.PodSandboxConfig(hostname="p")
    pod.linux.security_context.namespace_options.CopyFrom(ns)
    spec = specs.sandbox_spec("p" * 64, pod, {}, "/run/x/netns/p", "/cg/p", "/run/x/shm", "/run/x/userns/p",
                              specs.userns_maps(ns))
    assert _ns(spec)["user"] == "/run/x/userns/p" and _ns(spec)["network"] == "/run/x/netns/p"
    assert spec["linux"]["uidMappings"] == [{"containerID": 0, "hostID": 1000, "size": 100000}]
    spec = specs.container_spec("c" * 64, cri.ContainerConfig(command=["true"]), pod, {}, 42, "/run/x/netns/p",
                                "/cg/c", {}, "/run/x/shm", {})
    assert _ns(spec)["user"] == "/proc/42/ns/user"
    assert spec["linux"]["gidMappings"] == [{"containerID": 0, "hostID": 1000, "size": 100000}]
    assert "user" not in _ns(specs.container_spec("c" * 64, cri.ContainerConfig(command=["true"]),
                                                  cri.PodSandboxConfig(), {}, 42, "/n", "/cg/c", {}, "/s", {}))
