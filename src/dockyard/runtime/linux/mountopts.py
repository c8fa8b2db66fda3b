"""Parse OCI mount ``options`` into mount(2) flags, propagation flags and fs data.

Pure functions (unit-tested): every option the kernel understands as a flag is
turned into bits; everything else (``mode=755``, ``size=64k``, ``newinstance``)
is handed to the filesystem as data, as runc does.
"""

from __future__ import annotations

from . import syscalls as sc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

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

# recursive options (runc's "rro" & co): option -> (clear?, MOUNT_ATTR_* bits), applied with
# mount_setattr(2) AT_RECURSIVE to the mount and every mount below it
_RECURSIVE: dict[str, tuple[bool, int]] = {
    "rro": (False, sc.MOUNT_ATTR_RDONLY),
    "rrw": (True, sc.MOUNT_ATTR_RDONLY),
    "rnosuid": (False, sc.MOUNT_ATTR_NOSUID),
    "rsuid": (True, sc.MOUNT_ATTR_NOSUID),
    "rnodev": (False, sc.MOUNT_ATTR_NODEV),
    "rdev": (True, sc.MOUNT_ATTR_NODEV),
    "rnoexec": (False, sc.MOUNT_ATTR_NOEXEC),
    "rexec": (True, sc.MOUNT_ATTR_NOEXEC),
    "rnodiratime": (False, sc.MOUNT_ATTR_NODIRATIME),
    "rdiratime": (True, sc.MOUNT_ATTR_NODIRATIME),
    "rnosymfollow": (False, sc.MOUNT_ATTR_NOSYMFOLLOW),
    "rsymfollow": (True, sc.MOUNT_ATTR_NOSYMFOLLOW),
}
# the atime mode is one field: setting one clears the others
_RECURSIVE_ATIME: dict[str, int] = {
    "rnoatime": sc.MOUNT_ATTR_NOATIME,
    "rrelatime": sc.MOUNT_ATTR_RELATIME,
    "rstrictatime": sc.MOUNT_ATTR_STRICTATIME,
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
    """flags: mount(2) bits; propagation: MS_* to apply after mounting; data: fs options string;
    attr_set/attr_clr: MOUNT_ATTR_* bits of the recursive options (``rro``), for mount_setattr(2).

    A plain class (``collections.namedtuple`` costs an import on create's path).
    """

    __slots__ = ("flags", "propagation", "data", "attr_set", "attr_clr")

    def __init__(self, flags: int, propagation: tuple[int, ...], data: str, attr_set: int = 0,
                 attr_clr: int = 0) -> None:
        self.flags = flags
        self.propagation = propagation
        self.data = data
        self.attr_set = attr_set
        self.attr_clr = attr_clr

    def _replace(self, **kw: object) -> MountOptions:
        values = {"flags": self.flags, "propagation": self.propagation, "data": self.data,
                  "attr_set": self.attr_set, "attr_clr": self.attr_clr}
        values.update(kw)
        return MountOptions(**values)  # type: ignore[arg-type]

    @property
    def recursive_attrs(self) -> bool:
        return bool(self.attr_set or self.attr_clr)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, tuple):
            return (self.flags, self.propagation, self.data) == other
        if isinstance(other, MountOptions):
            return (self.flags, self.propagation, self.data, self.attr_set, self.attr_clr) == \
                (other.flags, other.propagation, other.data, other.attr_set, other.attr_clr)
        return NotImplemented

    def __iter__(self) -> Iterator[object]:  # unpacking, as the namedtuple allowed
        return iter((self.flags, self.propagation, self.data))

    @property
    def is_bind(self) -> bool:
        return bool(self.flags & sc.MS_BIND)

    @property
    def recursive(self) -> bool:
        return bool(self.flags & sc.MS_REC)


def parse_options(options: list[str] | None) -> MountOptions:
    flags = attr_set = attr_clr = 0
    prop: list[int] = []
    data: list[str] = []
    for opt in options or []:
        if opt in _FLAGS:
            clear, bit = _FLAGS[opt]
            flags = flags & ~bit if clear else flags | bit
        elif opt in _RECURSIVE:
            clear, bit = _RECURSIVE[opt]
            attr_set, attr_clr = (attr_set & ~bit, attr_clr | bit) if clear else (attr_set | bit, attr_clr & ~bit)
        elif opt in _RECURSIVE_ATIME:
            attr_set = (attr_set & ~sc.MOUNT_ATTR__ATIME) | _RECURSIVE_ATIME[opt]
            attr_clr |= sc.MOUNT_ATTR__ATIME
        elif opt in PROPAGATION:
            prop.append(PROPAGATION[opt])
        elif opt in ("tmpcopyup", "idmap", "ridmap"):
            continue  # runc extensions we do not implement; harmless to ignore
        else:
            data.append(opt)
    return MountOptions(flags, tuple(prop), ",".join(data), attr_set, attr_clr)
