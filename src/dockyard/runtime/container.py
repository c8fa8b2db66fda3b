"""Container state as persisted under ``--root/<id>/state.json``.

The status is *computed*, never trusted from disk (runc ``state_linux.go``):
init gone, a zombie, or a pid recycled by another process (its
``/proc/<pid>/stat`` start time differs from the recorded one) all mean
STOPPED; a live init still holding the exec fifo is CREATED; a frozen cgroup
is PAUSED; anything else RUNNING.
"""

from __future__ import annotations

import os

from dockyard.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound

from .fastjson import dumps, loads

OCI_VERSION = "1.0.2"
STATE_FILE = "state.json"
EXEC_FIFO = "exec.fifo"
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_ID_FIRST = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_ID_REST = _ID_FIRST | frozenset("_.+-")


class ContainerStatus:
    """The five OCI/runc statuses; singletons compared with ``is``.

    A plain class, not ``enum.Enum``: ``enum`` costs ~7 ms to import, on every
    ``state``/``start``/``kill``/``delete``.
    """

    CREATING: ContainerStatus
    CREATED: ContainerStatus
    RUNNING: ContainerStatus
    STOPPED: ContainerStatus
    PAUSED: ContainerStatus

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"<ContainerStatus.{self.value.upper()}>"

    @classmethod
    def from_value(cls, value: str) -> ContainerStatus:
        return _BY_VALUE[value]

    def can_start(self) -> bool:
        return self is ContainerStatus.CREATED

    def can_kill(self) -> bool:
        return self in (ContainerStatus.CREATED, ContainerStatus.RUNNING, ContainerStatus.PAUSED)

    def can_delete(self) -> bool:
        return self in (ContainerStatus.STOPPED, ContainerStatus.CREATED, ContainerStatus.CREATING)

    def can_pause(self) -> bool:
        return self in (ContainerStatus.RUNNING, ContainerStatus.CREATED)

    def can_resume(self) -> bool:
        return self is ContainerStatus.PAUSED

    def can_exec(self) -> bool:
        return self is ContainerStatus.RUNNING


ContainerStatus.CREATING = ContainerStatus("creating")
ContainerStatus.CREATED = ContainerStatus("created")
ContainerStatus.RUNNING = ContainerStatus("running")
ContainerStatus.STOPPED = ContainerStatus("stopped")
ContainerStatus.PAUSED = ContainerStatus("paused")
_BY_VALUE = {s.value: s for s in (ContainerStatus.CREATING, ContainerStatus.CREATED, ContainerStatus.RUNNING,
                                  ContainerStatus.STOPPED, ContainerStatus.PAUSED)}


class ContainerNotFound(NotFound):
    pass


class ContainerExists(AlreadyExists):
    pass


class WrongStatus(FailedPrecondition):
    pass


def validate_id(container_id: str) -> str:
    """IDs become directory and cgroup names: no slashes, no dot-dot, no empties."""
    ok = (0 < len(container_id) <= 1024 and container_id[0] in _ID_FIRST
          and all(c in _ID_REST for c in container_id))
    if not ok or container_id in (".", ".."):
        raise InvalidArgument(f"invalid container id format: {container_id!r}")
    return container_id


def proc_starttime(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat (clock ticks since boot), or None if gone/zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    # comm may contain spaces and parentheses: split after the last ')'
    rest = raw[raw.rindex(b")") + 2 :].split()
    if rest[0] in (b"Z", b"X"):
        return None
    return int(rest[19])


class State:
    """What ``create`` records; enough for every later verb to find the container.

    A plain class rather than a dataclass: ``dataclasses`` pulls in ``inspect``
    (~10 ms), and ``state``/``kill`` run on the shim's hot path.
    """

    FIELDS = (
        "id", "bundle", "pid", "pid_starttime", "rootfs", "created", "owner",
        "annotations", "cgroup_paths", "cgroup_version", "config_hooks", "status_hint",
    )

    def __init__(
        self,
        id: str,
        bundle: str,
        pid: int = 0,
        pid_starttime: int = 0,
        rootfs: str = "",
        created: str = "",
        owner: str = "root",
        annotations: dict[str, str] | None = None,
        cgroup_paths: dict[str, str] | None = None,
        cgroup_version: int = 1,
        config_hooks: dict[str, Any] | None = None,
        status_hint: str = ContainerStatus.CREATED.value,
    ) -> None:
        self.id = id
        self.bundle = bundle
        self.pid = pid
        self.pid_starttime = pid_starttime
        self.rootfs = rootfs
        self.created = created
        self.owner = owner
        self.annotations = dict(annotations or {})
        self.cgroup_paths = dict(cgroup_paths or {})
        self.cgroup_version = cgroup_version
        self.config_hooks = dict(config_hooks or {})
        self.status_hint = status_hint

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.FIELDS}

    # -- persistence -------------------------------------------------------
    @staticmethod
    def dir_for(root: str, container_id: str) -> str:
        return os.path.join(root, validate_id(container_id))

    @classmethod
    def load(cls, root: str, container_id: str) -> State:
        path = os.path.join(cls.dir_for(root, container_id), STATE_FILE)
        try:
            with open(path) as f:
                raw = loads(f.read())
        except FileNotFoundError as err:
            raise ContainerNotFound(f"container {container_id!r} does not exist") from err
        known = {k: v for k, v in raw.items() if k in cls.FIELDS}
        return cls(**known)

    def save(self, root: str) -> None:
        """Write atomically (tmp + rename) so a concurrent ``state`` never sees half a file."""
        d = self.dir_for(root, self.id)
        tmp = os.path.join(d, f".{STATE_FILE}.tmp")
        with open(tmp, "w") as f:
            f.write(dumps(self.to_dict()))
        os.rename(tmp, os.path.join(d, STATE_FILE))

    # -- status ------------------------------------------------------------
    def init_alive(self) -> bool:
        if self.pid <= 0:
            return False
        st = proc_starttime(self.pid)
        return st is not None and (self.pid_starttime == 0 or st == self.pid_starttime)

    def status(self, root: str) -> ContainerStatus:
        if self.status_hint == ContainerStatus.CREATING.value:
            return ContainerStatus.CREATING
        if not self.init_alive():
            return ContainerStatus.STOPPED
        if os.path.exists(os.path.join(self.dir_for(root, self.id), EXEC_FIFO)):
            return ContainerStatus.CREATED
        freezer = self.cgroup_paths.get("freezer")
        if freezer and _read(os.path.join(freezer, "freezer.state")) in ("FROZEN", "FREEZING"):
            return ContainerStatus.PAUSED
        unified = self.cgroup_paths.get("")
        if self.cgroup_version == 2 and unified and _frozen_v2(unified):
            return ContainerStatus.PAUSED
        return ContainerStatus.RUNNING

    def oci_state(self, root: str) -> dict[str, Any]:
        """The runtime-spec ``state`` object (plus runc's extra ``rootfs``/``created``)."""
        status = self.status(root)
        return {
            "ociVersion": OCI_VERSION,
            "id": self.id,
            "pid": self.pid if status is not ContainerStatus.STOPPED else 0,
            "status": status.value,
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created,
            "owner": self.owner,
            "annotations": dict(self.annotations),
        }


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def _frozen_v2(path: str) -> bool:
    for line in _read(os.path.join(path, "cgroup.events")).splitlines():
        if line.startswith("frozen "):
            return line.split()[1] == "1"
    return False


def list_ids(root: str) -> list[str]:
    try:
        names = sorted(os.listdir(root))
    except FileNotFoundError:
        return []
    return [n for n in names if os.path.exists(os.path.join(root, n, STATE_FILE))]


def remove_state_dir(path: str) -> None:
    """The state dir holds only flat files (state.json, exec.fifo): no shutil import needed."""
    try:
        names = os.listdir(path)
    except FileNotFoundError:
        return
    for name in names:
        try:
            os.unlink(os.path.join(path, name))
        except FileNotFoundError:
            pass
    try:
        os.rmdir(path)
    except FileNotFoundError:
        pass
