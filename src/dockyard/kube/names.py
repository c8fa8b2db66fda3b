"""What ``generate`` and ``play`` share: object names, the labels ``play`` marks its containers
with, and Kubernetes resource quantities."""

from __future__ import annotations

import re

from dockyard import errors

# Labels of what ``kube play`` made (containers, volumes, the network): ``kube down`` finds them by these.
POD = "io.dockyard.kube.pod"  # the pod's name
OWNER = "io.dockyard.kube.owner"  # "Pod/<name>" or "Deployment/<name>": the object of the YAML
CONTAINER = "io.dockyard.kube.container"  # the container's name in the pod
MANAGED = "io.dockyard.kube"  # on the network and volumes play created
ROLE = "io.dockyard.kube.role"  # "infra" (holds the pod's namespaces), "init" or "app"
INDEX = "io.dockyard.kube.index"  # the container's place among the pod's init or app containers
PORTS = "io.dockyard.kube.ports"  # the container's ``ports`` (JSON): they are published on the infra
# On a PersistentVolumeClaim ``generate`` wrote: the engine volume it stands for (its name need not
# be a DNS name), so that ``play`` mounts that very volume again.
VOLUME_ANNOTATION = "dockyard.io/volume-name"

_BINARY = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40, "Pi": 1 << 50, "Ei": 1 << 60}
_DECIMAL = {"k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$")


def dns_label(name: str, limit: int = 63) -> str:
    """``name`` as an RFC 1123 label (what Kubernetes names most objects with): lower case,
    ``[a-z0-9-]``, starting and ending with an alphanumeric."""
    out = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:limit].rstrip("-")
    if not out:
        raise errors.InvalidArgument(f"{name!r} cannot be made a Kubernetes name")
    return out


def quantity(text: str | int | float) -> float:
    """A Kubernetes quantity (``128Mi``, ``1G``, ``500m``, ``2``) as a number of units."""
    m = _QUANTITY.match(str(text).strip())
    if not m:
        raise errors.InvalidArgument(f"invalid quantity {text!r}")
    number, suffix = float(m.group(1)), m.group(2) or ""
    if suffix == "m":
        return number / 1000
    return number * (_BINARY.get(suffix) or _DECIMAL.get(suffix) or 1)


def memory_quantity(nbytes: int) -> str:
    """Bytes as the shortest exact binary quantity (``64Mi``), else plain bytes."""
    for suffix, size in sorted(_BINARY.items(), key=lambda kv: -kv[1]):
        if nbytes >= size and nbytes % size == 0:
            return f"{nbytes // size}{suffix}"
    return str(nbytes)


def cpu_quantity(nano_cpus: int) -> str:
    """``NanoCpus`` as CPUs (``2``) or millicores (``500m``)."""
    if nano_cpus % 10**9 == 0:
        return str(nano_cpus // 10**9)
    return f"{max(1, nano_cpus // 10**6)}m"
