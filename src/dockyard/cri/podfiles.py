"""A pod's files on the host: the hostname, hosts and resolv.conf its containers bind-mount, its
/dev/shm, and the host port mappings handed to CNI."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from dockyard import errors
from dockyard.cri import cni
from dockyard.cri.api import api_pb2 as cri


def port_mappings(config: cri.PodSandboxConfig) -> list[dict[str, Any]]:
    names = {cri.TCP: "tcp", cri.UDP: "udp", cri.SCTP: "sctp"}
    return [{"hostPort": p.host_port, "containerPort": p.container_port, "protocol": names.get(p.protocol, "tcp"),
             **({"hostIP": p.host_ip} if p.host_ip else {})}
            for p in config.port_mappings if p.host_port]


def write_pod_files(pod_dir: Path, config: cri.PodSandboxConfig, ip: str, host_net: bool) -> None:
    hostname = os.uname().nodename if host_net else (config.hostname or "localhost")
    (pod_dir / "hostname").write_text(hostname + "\n")
    if host_net:
        shutil.copyfile("/etc/hosts", pod_dir / "hosts")
    else:
        lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback",
                 "fe00::0\tip6-localnet", "fe00::0\tip6-mcastprefix", "fe00::1\tip6-allnodes",
                 "fe00::2\tip6-allrouters"]
        if ip:
            lines.append(f"{ip}\t{hostname}")
        (pod_dir / "hosts").write_text("\n".join(lines) + "\n")
    dns = config.dns_config
    if dns.servers or dns.searches or dns.options:
        text = "".join(f"nameserver {s}\n" for s in dns.servers)
        if dns.searches:
            text += "search " + " ".join(dns.searches) + "\n"
        if dns.options:
            text += "options " + " ".join(dns.options) + "\n"
        (pod_dir / "resolv.conf").write_text(text)
    else:
        try:
            shutil.copyfile("/etc/resolv.conf", pod_dir / "resolv.conf")
        except OSError:
            (pod_dir / "resolv.conf").write_text("")
    for name in ("hostname", "hosts", "resolv.conf"):
        os.chmod(pod_dir / name, 0o644)


def pod_files(pod_dir: Path) -> dict[str, str]:
    return {"/etc/hostname": str(pod_dir / "hostname"), "/etc/hosts": str(pod_dir / "hosts"),
            "/etc/resolv.conf": str(pod_dir / "resolv.conf")}


def mount_shm(path: Path) -> None:
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "nosuid,nodev,noexec,mode=1777,size=65536k", "shm", str(path)],
                       capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise errors.Internal(f"cannot mount the pod's /dev/shm: {r.stderr.strip()}")


def remove_pod_dir(pod_dir: Path) -> None:
    shm = pod_dir / "shm"
    if cni.is_mounted(shm):
        subprocess.run(["umount", str(shm)], capture_output=True, check=False)
    shutil.rmtree(pod_dir, ignore_errors=True)
