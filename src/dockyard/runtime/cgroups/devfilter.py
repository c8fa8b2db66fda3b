"""Device rules → a BPF_PROG_TYPE_CGROUP_DEVICE program (cgroup v2 has no devices.allow).

Two steps, with runc's semantics:

1. ``DeviceRules`` replays the OCI ``linux.resources.devices`` list the way the v1 devices
   controller would take it, starting from "deny all" as runc's emulator does: an ``a``
   rule resets to allow-all or deny-all, every other rule adds or removes an exception
   (access bits merged per (type, major, minor)). Removing part of a wildcard exception is
   refused, as runc refuses it (v1 would ignore it silently). ``exceptions()`` lists what
   is left in a fixed order: (major, minor, type), wildcards (-1) first.
2. ``build`` turns that into instructions: load the context into r2..r5, one block per
   exception (type, then access, major, minor: any mismatch jumps to the next block;
   a full match returns the exception's verdict), and the default verdict last.

The kernel calls the program with ``struct bpf_cgroup_dev_ctx``: ``u32 access_type``
(device type in the low 16 bits, access bits in the high 16), ``u32 major``, ``u32 minor``;
it returns 1 to allow, 0 to deny (EPERM).
"""

from __future__ import annotations

import errno
import struct

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# include/uapi/linux/bpf.h
DEV_BLOCK = 1  # BPF_DEVCG_DEV_BLOCK
DEV_CHAR = 2  # BPF_DEVCG_DEV_CHAR
ACC_MKNOD = 1  # BPF_DEVCG_ACC_MKNOD
ACC_READ = 2
ACC_WRITE = 4
ACC_ALL = ACC_MKNOD | ACC_READ | ACC_WRITE
WILDCARD = -1

_TYPES = {"b": DEV_BLOCK, "c": DEV_CHAR}
_ACCESS = {"r": ACC_READ, "w": ACC_WRITE, "m": ACC_MKNOD}

# opcodes: class | op | source (include/uapi/linux/bpf_common.h, bpf.h)
LDX_MEM_W = 0x61  # BPF_LDX | BPF_MEM | BPF_W
ALU32_AND_K = 0x54  # BPF_ALU | BPF_AND | BPF_K
ALU32_RSH_K = 0x74
ALU32_MOV_K = 0xB4
ALU32_MOV_X = 0xBC
JMP_JNE_K = 0x55  # BPF_JMP | BPF_JNE | BPF_K
JMP_JNE_X = 0x5D
JMP_EXIT = 0x95

Key = tuple[int, int, int]  # (device type, major, minor); -1 = any


def parse_access(access: str | None) -> int:
    """``"rwm"`` → access bits; other letters are dropped (runc's Permissions), empty means all
    (as the v1 path writes it)."""
    bits = 0
    for c in access or "rwm":
        bits |= _ACCESS.get(c, 0)
    return bits or ACC_ALL


def access_string(bits: int) -> str:
    return "".join(c for c, b in (("r", ACC_READ), ("w", ACC_WRITE), ("m", ACC_MKNOD)) if bits & b)


def _number(value: Any, what: str) -> int:
    """None or negative → wildcard; the program compares with a signed 32-bit immediate (the
    kernel's majors have 12 bits, minors 20)."""
    if value is None or (isinstance(value, int) and value < 0):
        return WILDCARD
    if not isinstance(value, int) or isinstance(value, bool) or value > 0x7FFFFFFF:
        raise OSError(errno.EINVAL, f"invalid device {what} {value!r}")
    return value


class DeviceRules:
    """The effective device policy after a list of OCI rules (runc's devices emulator)."""

    def __init__(self) -> None:
        self.default_allow = False
        self.table: dict[Key, int] = {}

    @classmethod
    def from_oci(cls, rules: list[dict[str, Any]]) -> DeviceRules:
        out = cls()
        for rule in rules:
            out.apply(rule)
        return out

    def apply(self, rule: dict[str, Any]) -> None:
        allow = bool(rule.get("allow"))
        kind = rule.get("type") or "a"
        if kind == "a":
            self.default_allow = allow
            self.table = {}
            return
        if kind not in _TYPES:
            raise OSError(errno.EINVAL, f"invalid device rule type {kind!r}")
        key = (_TYPES[kind], _number(rule.get("major"), "major"), _number(rule.get("minor"), "minor"))
        bits = parse_access(rule.get("access"))
        if allow == self.default_allow:
            self._remove(key, bits)
        else:
            self.table[key] = self.table.get(key, 0) | bits

    def _remove(self, key: Key, bits: int) -> None:
        kind, major, minor = key
        for wider in ((kind, WILDCARD, minor), (kind, major, WILDCARD), (kind, WILDCARD, WILDCARD)):
            if wider != key and self.table.get(wider, 0) & bits:
                raise OSError(errno.EINVAL, f"device rule {describe(key, bits)} cannot punch a hole in the "
                                            f"wildcard rule {describe(wider, self.table[wider])}")
        left = self.table.get(key, 0) & ~bits
        if left:
            self.table[key] = left
        else:
            self.table.pop(key, None)

    def exceptions(self) -> list[tuple[Key, int]]:
        """The exceptions to the default, ordered by (major, minor, type)."""
        return sorted(self.table.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][0]))


def describe(key: Key, bits: int) -> str:
    kind, major, minor = key
    name = {DEV_BLOCK: "b", DEV_CHAR: "c"}[kind]
    return f"{name} {'*' if major < 0 else major}:{'*' if minor < 0 else minor} {access_string(bits)}"


Insn = tuple[int, int, int, int, int]  # (opcode, dst, src, off, imm)


def _block(key: Key, bits: int, verdict: int) -> list[tuple[int, int, int, int | None, int]]:
    """One exception's test; ``None`` offsets jump to the next block (patched in ``build``)."""
    kind, major, minor = key
    out: list[tuple[int, int, int, int | None, int]] = [(JMP_JNE_K, 2, 0, None, kind)]
    if bits != ACC_ALL:  # (access & bits) != access → not covered
        out += [(ALU32_MOV_X, 1, 3, 0, 0), (ALU32_AND_K, 1, 0, 0, bits), (JMP_JNE_X, 1, 3, None, 0)]
    if major != WILDCARD:
        out.append((JMP_JNE_K, 4, 0, None, major))
    if minor != WILDCARD:
        out.append((JMP_JNE_K, 5, 0, None, minor))
    out += [(ALU32_MOV_K, 0, 0, 0, verdict), (JMP_EXIT, 0, 0, 0, 0)]
    return out


PROLOGUE: tuple[Insn, ...] = (
    (LDX_MEM_W, 2, 1, 0, 0),  # r2 = ctx->access_type
    (ALU32_AND_K, 2, 0, 0, 0xFFFF),  # r2 &= 0xffff: device type
    (LDX_MEM_W, 3, 1, 0, 0),  # r3 = ctx->access_type
    (ALU32_RSH_K, 3, 0, 0, 16),  # r3 >>= 16: access
    (LDX_MEM_W, 4, 1, 4, 0),  # r4 = ctx->major
    (LDX_MEM_W, 5, 1, 8, 0),  # r5 = ctx->minor
)


def build(policy: DeviceRules) -> list[Insn]:
    insns: list[Insn] = list(PROLOGUE)
    verdict = 0 if policy.default_allow else 1
    for key, bits in policy.exceptions():
        block = _block(key, bits, verdict)
        end = len(insns) + len(block)  # index of the next block's first instruction
        for op, dst, src, off, imm in block:
            here = len(insns)
            insns.append((op, dst, src, end - here - 1 if off is None else off, imm))
    insns += [(ALU32_MOV_K, 0, 0, 0, 1 if policy.default_allow else 0), (JMP_EXIT, 0, 0, 0, 0)]
    return insns


def device_filter(rules: list[dict[str, Any]]) -> list[Insn]:
    return build(DeviceRules.from_oci(rules))


def encode(insns: list[Insn]) -> bytes:
    """struct bpf_insn: u8 code, u8 dst:4 | src:4 (little-endian nibbles), s16 off, s32 imm."""
    return b"".join(struct.pack("<BBhi", op, (src << 4) | dst, off, imm) for op, dst, src, off, imm in insns)


_NAMES = {LDX_MEM_W: "ldxw", ALU32_AND_K: "and32", ALU32_RSH_K: "rsh32", ALU32_MOV_K: "mov32",
          ALU32_MOV_X: "mov32", JMP_JNE_K: "jne", JMP_JNE_X: "jne", JMP_EXIT: "exit"}


def disassemble(insns: list[Insn]) -> list[str]:
    """One line per instruction, e.g. ``ldxw r4 [r1+4]``, ``jne r2 2 +5``, ``mov32 r1 r3``."""
    out = []
    for op, dst, src, off, imm in insns:
        name = _NAMES[op]
        if op == JMP_EXIT:
            out.append(name)
        elif op == LDX_MEM_W:
            out.append(f"{name} r{dst} [r{src}+{off}]")
        elif op in (JMP_JNE_K, JMP_JNE_X):
            operand = f"r{src}" if op == JMP_JNE_X else str(imm)
            out.append(f"{name} r{dst} {operand} +{off}")
        else:
            operand = f"r{src}" if op == ALU32_MOV_X else str(imm)
            out.append(f"{name} r{dst} {operand}")
    return out
