"""Parse OCI mount ``options`` into mount(2) flags, propagation flags and fs data.

Pure functions (unit-tested): every option the kernel understands as a flag is
turned into bits; everything else (``mode=755``, ``size=64k``, ``newinstance``)
is handed to the filesystem as data, as runc does.
"""

from __future__ import annotations

from . import syscalls as sc

# option -> (clear?, flag)
_FLAGS: dict[str, tuple[bool, int]] = {
    "async": (True, sc.MS_SYNCHRONOUS),
    "atime": (True, sc.MS_NOATIME),
    "bind": (False, sc.MS_BIND),
    "defaults": (False, 0),
    "dev": (True, sc.MS_NODEV),
    "diratime": (True, sc.MS_NODIRATIME),
    "dirsync": (False, sc.MS_DIRSYNC),
    "exec": (True, sc.MS_NOEXEC),
    "mand": (False, sc.MS_MANDLOCK),
    "noatime": (False, sc.MS_NOATIME),
    "nodev": (False, sc.MS_NODEV),
    "nodiratime": (False, sc.MS_NODIRATIME),
    "noexec": (False, sc.MS_NOEXEC),
    "nomand": (True, sc.MS_MANDLOCK),
    "norelatime": (True, sc.MS_RELATIME),
    "nostrictatime": (True, sc.MS_STRICTATIME),
    "nosuid": (False, sc.MS_NOSUID),
    "nosymfollow": (False, sc.MS_NOSYMFOLLOW),
    "rbind": (False, sc.MS_BIND | sc.MS_REC),
    "relatime": (False, sc.MS_RELATIME),
    "remount": (False, sc.MS_REMOUNT),
    "ro": (False, sc.MS_RDONLY),
    "rw": (True, sc.MS_RDONLY),
    "strictatime": (False, sc.MS_STRICTATIME),
    "suid": (True, sc.MS_NOSUID),
    "sync": (False, sc.MS_SYNCHRONOUS),
}

PROPAGATION: dict[str, int] = {
    "private": sc.MS_PRIVATE,
    "rprivate": sc.MS_PRIVATE | sc.MS_REC,
    "shared": sc.MS_SHARED,
    "rshared": sc.MS_SHARED | sc.MS_REC,
    "slave": sc.MS_SLAVE,
    "rslave": sc.MS_SLAVE | sc.MS_REC,
    "unbindable": sc.MS_UNBINDABLE,
    "runbindable": sc.MS_UNBINDABLE | sc.MS_REC,
}


class MountOptions:
    """flags: mount(2) bits; propagation: MS_* to apply after mounting; data: fs options string.

    A plain class (``collections.namedtuple`` costs an import on create's path).
    """

    __slots__ = ("flags", "propagation", "data")

    def __init__(self, flags: int, propagation: tuple[int, ...], data: str) -> None:
        self.flags = flags
        self.propagation = propagation
        self.data = data

    def _replace(self, **kw: object) -> MountOptions:
        values = {"flags": self.flags, "propagation": self.propagation, "data": self.data}
        values.update(kw)
        return MountOptions(values["flags"], values["propagation"], values["data"])  # type: ignore[arg-type]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, tuple):
            return (self.flags, self.propagation, self.data) == other
        if isinstance(other, MountOptions):
            return (self.flags, self.propagation, self.data) == (other.flags, other.propagation, other.data)
        return NotImplemented

    def __iter__(self):  # type: ignore[no-untyped-def] - unpacking, as the namedtuple allowed
        return iter((self.flags, self.propagation, self.data))

    @property
    def is_bind(self) -> bool:
        return bool(self.flags & sc.MS_BIND)

    @property
    def recursive(self) -> bool:
        return bool(self.flags & sc.MS_REC)


def parse_options(options: list[str] | None) -> MountOptions:
    flags = 0
    prop: list[int] = []
    data: list[str] = []
    for opt in options or []:
        if opt in _FLAGS:
            clear, bit = _FLAGS[opt]
            flags = flags & ~bit if clear else flags | bit
        elif opt in PROPAGATION:
            prop.append(PROPAGATION[opt])
        elif opt in ("tmpcopyup", "idmap", "ridmap"):
            continue  # runc extensions we do not implement; harmless to ignore
        else:
            data.append(opt)
    return MountOptions(flags, tuple(prop), ",".join(data))
