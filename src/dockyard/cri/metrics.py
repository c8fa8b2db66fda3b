"""CRI metrics (``ListMetricDescriptors``, ``ListPodSandboxMetrics``): cAdvisor's container
metrics, as the kubelet's CRI stats provider expects them, from what the shim reads of the
container's cgroup (``Tasks.Stats``), the container's processes under /proc (threads, open files,
sockets), the filesystem its root is on (statvfs of ``/proc/<pid>/root``), the writable layer's
usage (``Snapshots.Usage``) and, per pod, the network interfaces of the pod's netns
(``/proc/<pause>/net/dev``).

Not measured (descriptors listed, no values, as critest allows on hosts without per-device I/O
accounting): block I/O (``container_blkio_device_usage_total``, ``container_fs_{reads,writes}*``).
Not listed at all (critest's "not implemented by all runtimes"): hugetlb, PSI pressure,
``container_spec_cpu_quota``, memory reservation, ulimits."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from dockyard.cri.api import api_pb2 as cri

BASE = ("container", "id", "image", "name", "namespace", "pod")
C, G = cri.COUNTER, cri.GAUGE

# name -> (help, extra label keys, type)
DESCRIPTORS: dict[str, tuple[str, tuple[str, ...], cri.MetricType]] = {
    "container_blkio_device_usage_total": ("Blkio device bytes usage", ("device", "major", "minor", "operation"), C),
    "container_cpu_cfs_periods_total": ("Number of elapsed enforcement period intervals.", (), C),
    "container_cpu_cfs_throttled_periods_total": ("Number of throttled period intervals.", (), C),
    "container_cpu_cfs_throttled_seconds_total": ("Total time duration the container has been throttled.", (), C),
    "container_cpu_system_seconds_total": ("Cumulative system cpu time consumed in seconds.", (), C),
    "container_cpu_usage_seconds_total": ("Cumulative cpu time consumed in seconds.", ("cpu",), C),
    "container_cpu_user_seconds_total": ("Cumulative user cpu time consumed in seconds.", (), C),
    "container_file_descriptors": ("Number of open file descriptors for the container.", (), G),
    "container_fs_inodes_free": ("Number of available Inodes", ("device",), G),
    "container_fs_inodes_total": ("Number of Inodes", ("device",), G),
    "container_fs_limit_bytes": ("Number of bytes that can be consumed by the container on this filesystem.",
                                 ("device",), G),
    "container_fs_reads_bytes_total": ("Cumulative count of bytes read", ("device",), C),
    "container_fs_reads_total": ("Cumulative count of reads completed", ("device",), C),
    "container_fs_usage_bytes": ("Number of bytes that are consumed by the container on this filesystem.",
                                 ("device",), G),
    "container_fs_writes_bytes_total": ("Cumulative count of bytes written", ("device",), C),
    "container_fs_writes_total": ("Cumulative count of writes completed", ("device",), C),
    "container_last_seen": ("Last time a container was seen by the exporter", (), G),
    "container_memory_cache": ("Number of bytes of page cache memory.", (), G),
    "container_memory_failcnt": ("Number of memory usage hits limits", (), C),
    "container_memory_failures_total": ("Cumulative count of memory allocation failures.", ("failure_type", "scope"), C),
    "container_memory_kernel_usage": ("Size of kernel memory allocated in bytes.", (), G),
    "container_memory_mapped_file": ("Size of memory mapped files in bytes.", (), G),
    "container_memory_max_usage_bytes": ("Maximum memory usage recorded in bytes", (), G),
    "container_memory_rss": ("Size of RSS in bytes.", (), G),
    "container_memory_swap": ("Container swap usage in bytes.", (), G),
    "container_memory_usage_bytes": ("Current memory usage in bytes, including all memory regardless of when it "
                                     "was accessed", (), G),
    "container_memory_working_set_bytes": ("Current working set in bytes.", (), G),
    "container_network_receive_bytes_total": ("Cumulative count of bytes received", ("interface",), C),
    "container_network_receive_errors_total": ("Cumulative count of errors encountered while receiving",
                                               ("interface",), C),
    "container_network_receive_packets_dropped_total": ("Cumulative count of packets dropped while receiving",
                                                        ("interface",), C),
    "container_network_receive_packets_total": ("Cumulative count of packets received", ("interface",), C),
    "container_network_transmit_bytes_total": ("Cumulative count of bytes transmitted", ("interface",), C),
    "container_network_transmit_errors_total": ("Cumulative count of errors encountered while transmitting",
                                                ("interface",), C),
    "container_network_transmit_packets_dropped_total": ("Cumulative count of packets dropped while transmitting",
                                                         ("interface",), C),
    "container_network_transmit_packets_total": ("Cumulative count of packets transmitted", ("interface",), C),
    "container_oom_events_total": ("Count of out of memory events observed for the container", (), C),
    "container_processes": ("Number of processes running inside the container.", (), G),
    "container_sockets": ("Number of open sockets for the container.", (), G),
    "container_spec_cpu_period": ("CPU period of the container.", (), G),
    "container_spec_cpu_shares": ("CPU share of the container.", (), G),
    "container_spec_memory_limit_bytes": ("Memory limit for the container.", (), G),
    "container_spec_memory_swap_limit_bytes": ("Memory swap limit for the container.", (), G),
    "container_start_time_seconds": ("Start time of the container since unix epoch in seconds.", (), G),
    "container_threads": ("Number of threads running inside the container", (), G),
    "container_threads_max": ("Maximum number of threads allowed inside the container, infinity if value is zero",
                              (), G),
}
# /proc/net/dev columns after the interface name
_RX = {"bytes": 0, "packets": 1, "errors": 2, "packets_dropped": 3}
_TX = {"bytes": 8, "packets": 9, "errors": 10, "packets_dropped": 11}


def descriptors() -> list[cri.MetricDescriptor]:
    return [cri.MetricDescriptor(name=name, help=help, label_keys=[*BASE, *extra])
            for name, (help, extra, _kind) in DESCRIPTORS.items()]


@dataclass
class Labels:
    container: str
    id: str
    image: str
    namespace: str
    pod: str

    def values(self, *extra: str) -> list[str]:
        return [self.container, self.id, self.image, self.id, self.namespace, self.pod, *extra]


def metric(name: str, labels: Labels, value: float, *extra: str) -> cri.Metric:
    return cri.Metric(name=name, metric_type=DESCRIPTORS[name][2], label_values=labels.values(*extra),
                      value=cri.UInt64Value(value=max(0, int(value))))


def network(labels: Labels, pause_pid: int) -> Iterator[cri.Metric]:
    """The pod's interfaces but loopback, read in its netns through the pause's /proc."""
    try:
        with open(f"/proc/{pause_pid}/net/dev") as f:
            rows = f.read().splitlines()[2:]
    except OSError:
        return
    for row in rows:
        name, _, rest = row.partition(":")
        name, cols = name.strip(), rest.split()
        if name == "lo" or len(cols) < 12:
            continue
        for direction, columns in (("receive", _RX), ("transmit", _TX)):
            for what, col in columns.items():
                yield metric(f"container_network_{direction}_{what}_total", labels, int(cols[col]), name)


def container(labels: Labels, stats: dict[str, Any], pids: list[int], resources: cri.LinuxContainerResources,
              started_at: int, layer: tuple[int, int] | None) -> Iterator[cri.Metric]:
    cpu = stats.get("cpu") or {}
    usage, thr = cpu.get("usage") or {}, cpu.get("throttling") or {}
    yield metric("container_cpu_usage_seconds_total", labels, int(usage.get("total") or 0) / 1e9, "total")
    yield metric("container_cpu_system_seconds_total", labels, int(usage.get("kernel") or 0) / 1e9)
    yield metric("container_cpu_user_seconds_total", labels, int(usage.get("user") or 0) / 1e9)
    yield metric("container_cpu_cfs_periods_total", labels, thr.get("periods") or 0)
    yield metric("container_cpu_cfs_throttled_periods_total", labels, thr.get("throttledPeriods") or 0)
    yield metric("container_cpu_cfs_throttled_seconds_total", labels, int(thr.get("throttledTime") or 0) / 1e9)
    yield from _memory(labels, stats.get("memory") or {})
    pid_stats = stats.get("pids") or {}
    yield metric("container_processes", labels, pid_stats.get("current") or len(pids))
    yield metric("container_threads_max", labels, pid_stats.get("limit") or 0)
    threads, fds, sockets = _processes(pids)
    yield metric("container_threads", labels, threads)
    yield metric("container_file_descriptors", labels, fds)
    yield metric("container_sockets", labels, sockets)
    yield metric("container_spec_cpu_period", labels, resources.cpu_period or 100000)
    yield metric("container_spec_cpu_shares", labels, resources.cpu_shares or 1024)
    yield metric("container_spec_memory_limit_bytes", labels, resources.memory_limit_in_bytes)
    yield metric("container_spec_memory_swap_limit_bytes", labels, resources.memory_swap_limit_in_bytes)
    yield metric("container_start_time_seconds", labels, started_at / 1e9)
    yield metric("container_last_seen", labels, time.time())
    yield from _filesystem(labels, pids, layer)


def _memory(labels: Labels, mem: dict[str, Any]) -> Iterator[cri.Metric]:
    usage = mem.get("usage") or {}
    raw = mem.get("raw") or {}
    used = int(usage.get("usage") or 0)
    inactive = int(raw.get("total_inactive_file", raw.get("inactive_file", 0)))
    yield metric("container_memory_usage_bytes", labels, used)
    yield metric("container_memory_working_set_bytes", labels, used - inactive)
    yield metric("container_memory_max_usage_bytes", labels, usage.get("max") or 0)
    yield metric("container_memory_failcnt", labels, usage.get("failcnt") or 0)
    yield metric("container_memory_cache", labels, raw.get("total_cache", raw.get("file", 0)))
    yield metric("container_memory_rss", labels, raw.get("total_rss", raw.get("anon", 0)))
    yield metric("container_memory_mapped_file", labels, raw.get("total_mapped_file", raw.get("file_mapped", 0)))
    yield metric("container_memory_swap", labels, raw.get("total_swap", 0))
    yield metric("container_memory_kernel_usage", labels, (mem.get("kernel") or {}).get("usage") or 0)
    yield metric("container_oom_events_total", labels, mem.get("oom_kill") or 0)
    for kind, key in (("pgfault", "pgfault"), ("pgmajfault", "pgmajfault")):
        yield metric("container_memory_failures_total", labels, raw.get(key, 0), kind, "container")
        yield metric("container_memory_failures_total", labels, raw.get(f"total_{key}", raw.get(key, 0)),
                     kind, "hierarchy")


def _processes(pids: list[int]) -> tuple[int, int, int]:
    threads = fds = sockets = 0
    for pid in pids:
        try:
            threads += len(os.listdir(f"/proc/{pid}/task"))
            links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        except OSError:  # the process is gone
            continue
        fds += len(links)
        sockets += sum(1 for link in links if link.startswith("socket:"))
    return threads, fds, sockets


def _filesystem(labels: Labels, pids: list[int], layer: tuple[int, int] | None) -> Iterator[cri.Metric]:
    for pid in pids:
        try:
            st = os.statvfs(f"/proc/{pid}/root/")
            device = str(os.stat(f"/proc/{pid}/root/").st_dev)
        except OSError:
            continue
        yield metric("container_fs_limit_bytes", labels, st.f_blocks * st.f_frsize, device)
        yield metric("container_fs_inodes_total", labels, st.f_files, device)
        yield metric("container_fs_inodes_free", labels, st.f_ffree, device)
        if layer is not None:
            yield metric("container_fs_usage_bytes", labels, layer[0], device)
        return
