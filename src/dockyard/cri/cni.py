"""Pod networking: one network namespace per pod, set up by CNI plugins.

The namespace is made by ``unshare --net=<file>`` (util-linux): a bind mount of the new
namespace on a file under the CRI's run root, so it outlives every process of the pod, as
containerd's CRI plugin keeps it. The network is the first conflist (``*.conflist``, by
name) of the configured directory; its plugins run in order with ``CNI_COMMAND=ADD`` (each
given the previous one's result), in reverse with ``DEL``, as libcni does. The loopback
plugin brings the pod's ``lo`` up first. Plugins that declare the ``portMappings``
capability get the pod's hostPort mappings as ``runtimeConfig``. A pod in its own user
namespace gets a network namespace that user namespace owns (``create_userns_netns``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard import errors
from dockyard.network import sandbox

log = logging.getLogger("dockyard.cri.cni")

IFNAME = "eth0"


@dataclass
class Network:
    """The conflist in use, or None when the directory has none (the runtime's NetworkReady is false)."""

    conf_dir: Path
    bin_dirs: list[str] = field(default_factory=lambda: ["/usr/lib/cni", "/opt/cni/bin"])

    def conflist(self) -> dict[str, Any] | None:
        try:
            names = sorted(p for p in self.conf_dir.iterdir() if p.suffix in (".conflist", ".conf", ".json"))
        except OSError:
            return None
        for path in names:
            try:
                doc = json.loads(path.read_text())
            except (OSError, ValueError) as err:
                log.warning("cni: %s: %s", path, err)
                continue
            if path.suffix == ".conflist" or "plugins" in doc:
                return doc
            return {"cniVersion": doc.get("cniVersion", "0.4.0"), "name": doc.get("name", ""), "plugins": [doc]}
        return None

    def ready(self) -> tuple[bool, str]:
        if self.conflist() is None:
            return False, f"cni config not initialized: no network config in {self.conf_dir}"
        return True, ""

    async def add(self, pod_id: str, netns: str, port_mappings: list[dict[str, Any]]) -> dict[str, Any]:
        """Run the plugins' ADD; the last result (its ``ips``); loopback first."""
        await self._exec("loopback", "ADD", pod_id, netns, "lo",
                         {"cniVersion": "0.4.0", "name": "cni-loopback", "type": "loopback"})
        conf = self.conflist()
        if conf is None:
            raise errors.FailedPrecondition(self.ready()[1])
        result: dict[str, Any] = {}
        for plugin in conf.get("plugins") or []:
            netconf = self._netconf(conf, plugin, port_mappings)
            if result:
                netconf["prevResult"] = result
            result = await self._exec(plugin["type"], "ADD", pod_id, netns, IFNAME, netconf) or result
        return result

    async def delete(self, pod_id: str, netns: str, port_mappings: list[dict[str, Any]]) -> None:
        conf = self.conflist()
        if conf is None:
            return
        for plugin in reversed(conf.get("plugins") or []):
            await self._exec(plugin["type"], "DEL", pod_id, netns, IFNAME,
                             self._netconf(conf, plugin, port_mappings))

    @staticmethod
    def _netconf(conf: dict[str, Any], plugin: dict[str, Any], port_mappings: list[dict[str, Any]]
                 ) -> dict[str, Any]:
        netconf = {**plugin, "cniVersion": conf.get("cniVersion", "0.4.0"), "name": conf.get("name", "")}
        if (plugin.get("capabilities") or {}).get("portMappings") and port_mappings:
            netconf["runtimeConfig"] = {"portMappings": port_mappings}
        return netconf

    async def _exec(self, kind: str, command: str, pod_id: str, netns: str, ifname: str,
                    netconf: dict[str, Any]) -> dict[str, Any]:
        binary = next((Path(d) / kind for d in self.bin_dirs if (Path(d) / kind).is_file()), None)
        if binary is None:
            raise errors.FailedPrecondition(f"cni plugin {kind!r} not found in {':'.join(self.bin_dirs)}")
        env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "CNI_COMMAND": command,
               "CNI_CONTAINERID": pod_id, "CNI_NETNS": netns, "CNI_IFNAME": ifname,
               "CNI_PATH": ":".join(self.bin_dirs)}
        proc = await asyncio.create_subprocess_exec(str(binary), env=env, stdin=subprocess.PIPE,
                                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = await proc.communicate(json.dumps(netconf).encode())
        if proc.returncode != 0:
            try:
                msg = json.loads(out).get("msg") or out.decode()
            except ValueError:
                msg = (out or err).decode(errors="replace")
            raise errors.Internal(f"cni plugin {kind} {command} failed: {msg.strip()}")
        return json.loads(out) if out.strip() else {}


def pod_ip(result: dict[str, Any]) -> tuple[str, list[str]]:
    """The pod's first address and the others (CNI 0.3+ ``ips``; 0.2 ``ip4``/``ip6``)."""
    ips = [str(i.get("address", "")).split("/")[0] for i in result.get("ips") or []]
    for key in ("ip4", "ip6"):
        if (result.get(key) or {}).get("ip"):
            ips.append(str(result[key]["ip"]).split("/")[0])
    ips = [i for i in ips if i]
    return (ips[0] if ips else ""), ips[1:]


def create_netns(path: Path) -> None:
    """A new network namespace, bind-mounted on ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.touch(mode=0o600)
    r = subprocess.run(["unshare", f"--net={path}", "true"], capture_output=True, text=True, check=False)
    if r.returncode != 0:
        path.unlink(missing_ok=True)
        raise errors.Internal(f"cannot create the pod's network namespace: {r.stderr.strip()}")


def create_userns_netns(userns: Path, netns: Path, uid_map: list[dict[str, int]], gid_map: list[dict[str, int]]
                        ) -> None:
    """A user namespace with the pod's mappings and a network namespace it owns, bind-mounted on
    ``userns`` and ``netns``: a helper unshares both at once (so the user namespace owns the
    network one: the pod's processes join the user namespace first, and a network namespace of
    the host's would then be out of their reach, sysfs included); its maps are written from here.
    On failure nothing is left."""
    for path in (userns, netns):
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.touch(mode=0o600)
    helper = subprocess.Popen(["unshare", "--user", "--net", "--", "sh", "-c", "echo; exec cat"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert helper.stdin is not None and helper.stdout is not None
    try:
        if not helper.stdout.readline():  # its namespaces are made once it speaks
            raise errors.Internal(f"cannot create the pod's user namespace: {helper.communicate()[1].decode()}")
        for name, maps in (("uid_map", uid_map), ("gid_map", gid_map)):
            try:
                with open(f"/proc/{helper.pid}/{name}", "w") as f:
                    f.write("".join(f"{m['containerID']} {m['hostID']} {m['size']}\n" for m in maps))
            except OSError as err:
                raise errors.InvalidArgument(f"user namespace: the kernel refuses the {name}: {err}") from err
        for kind, path in (("user", userns), ("net", netns)):
            r = subprocess.run(["mount", "--bind", f"/proc/{helper.pid}/ns/{kind}", str(path)], capture_output=True,
                               text=True, check=False)
            if r.returncode != 0:
                raise errors.Internal(f"cannot keep the pod's {kind} namespace: {r.stderr.strip()}")
    except BaseException:
        remove_netns(netns)
        remove_netns(userns)
        raise
    finally:
        helper.stdin.close()
        helper.wait()


def remove_netns(path: Path) -> None:
    """Unmount and remove; nothing to do when it is gone already."""
    if not path.exists():
        return
    subprocess.run(["umount", str(path)], capture_output=True, check=False)
    try:
        path.unlink()
    except OSError as err:
        log.warning("netns %s: %s", path, err)


def is_mounted(path: Path) -> bool:
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == str(path) for line in f)


def socket_in_netns(netns: str) -> socket.socket:
    """A non-blocking TCP socket of the network namespace at ``netns`` (a socket stays in the
    namespace it was made in), made by a thread that joined it (network/sandbox.run_in)."""
    sock = sandbox.run_in(Path(netns), lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    sock.setblocking(False)
    return sock
