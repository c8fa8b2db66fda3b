"""The cgroup v2 device filter: rule semantics (runc's emulator) and the eBPF program built from them.

The expected listings are runc's own (libcontainer/cgroups/ebpf/devicefilter tests, v1.1.5),
written in our disassembler's notation; a small interpreter then checks every program
against the rule table it was built from.
"""

from __future__ import annotations

import random
import struct
import subprocess
import sys

import pytest

from dockyard.runtime.cgroups import devfilter as df
from dockyard.runtime.lifecycle.create import DEFAULT_ALLOWED_DEVICES, with_default_device_rules

PROLOGUE = ["ldxw r2 [r1+0]", "and32 r2 65535", "ldxw r3 [r1+0]", "rsh32 r3 16", "ldxw r4 [r1+4]", "ldxw r5 [r1+8]"]
ALL = {"allow": True, "type": "a", "access": "rwm"}
DENY_ALL = {"allow": False, "access": "rwm"}


def dev(kind: str, major: int | None, minor: int | None, access: str = "rwm", allow: bool = True) -> dict[str, object]:
    rule: dict[str, object] = {"allow": allow, "type": kind, "access": access}
    if major is not None:
        rule["major"] = major
    if minor is not None:
        rule["minor"] = minor
    return rule


def listing(rules: list[dict[str, object]]) -> list[str]:
    return df.disassemble(df.device_filter(rules))


def test_no_rules_denies_everything() -> None:
    assert listing([]) == [*PROLOGUE, "mov32 r0 0", "exit"]


def test_allow_all_is_a_bare_accept() -> None:
    assert listing([ALL]) == [*PROLOGUE, "mov32 r0 1", "exit"]


def test_runc_builtin_allow_list() -> None:
    """Sorted by (major, minor, type), wildcards first; an access check only where it is not rwm."""
    def exact(major: int, minor: int) -> list[str]:
        return ["jne r2 2 +4", f"jne r4 {major} +3", f"jne r5 {minor} +2", "mov32 r0 1", "exit"]

    expected = [
        *PROLOGUE,
        "jne r2 1 +5", "mov32 r1 r3", "and32 r1 1", "jne r1 r3 +2", "mov32 r0 1", "exit",  # b *:* m
        "jne r2 2 +5", "mov32 r1 r3", "and32 r1 1", "jne r1 r3 +2", "mov32 r0 1", "exit",  # c *:* m
        *exact(1, 3), *exact(1, 5), *exact(1, 7), *exact(1, 8), *exact(1, 9), *exact(5, 0), *exact(5, 2),
        *exact(10, 200),
        "jne r2 2 +3", "jne r4 136 +2", "mov32 r0 1", "exit",  # c 136:* rwm
        "mov32 r0 0", "exit",
    ]
    assert listing(list(DEFAULT_ALLOWED_DEVICES)) == expected
    assert len(expected) == 64  # runc's listing ends at instruction 63


def test_blocks_ordered_by_major_minor_then_type() -> None:
    """runc's order, whatever the spec's: c 1:3 before b 8:0, b 8:0 before c 8:0."""
    rules = [DENY_ALL, dev("c", 8, 0), dev("b", 8, 0), dev("c", 1, 3)]
    heads = [line for line in listing(rules) if line.startswith("jne r2")]
    assert heads == ["jne r2 2 +4", "jne r2 1 +4", "jne r2 2 +4"]
    assert [line for line in listing(rules) if line.startswith("jne r4")] == ["jne r4 1 +3", "jne r4 8 +3", "jne r4 8 +3"]


def test_privileged_except_one_block_device() -> None:
    expected = [*PROLOGUE, "jne r2 1 +4", "jne r4 8 +3", "jne r5 0 +2", "mov32 r0 0", "exit", "mov32 r0 1", "exit"]
    assert listing([ALL, dev("b", 8, 0, allow=False)]) == expected


def test_rules_before_an_a_rule_are_forgotten() -> None:
    """runc's "weird" case: b 8:1 denied, then allow all, then b 8:2 denied → only 8:2 denied."""
    rules = [dev("b", 8, 1, allow=False), ALL, dev("b", 8, 2, allow=False)]
    expected = [*PROLOGUE, "jne r2 1 +4", "jne r4 8 +3", "jne r5 2 +2", "mov32 r0 0", "exit", "mov32 r0 1", "exit"]
    assert listing(rules) == expected


def test_access_bits_merge_and_subtract_per_device() -> None:
    rules = [DENY_ALL, dev("c", 1, 5, "r"), dev("c", 1, 5, "w"), dev("c", 1, 5, "m"), dev("c", 1, 5, "m", allow=False)]
    policy = df.DeviceRules.from_oci(rules)
    assert policy.exceptions() == [((df.DEV_CHAR, 1, 5), df.ACC_READ | df.ACC_WRITE)]
    assert listing(rules)[6:11] == ["jne r2 2 +7", "mov32 r1 r3", f"and32 r1 {df.ACC_READ | df.ACC_WRITE}",
                                    "jne r1 r3 +4", "jne r4 1 +3"]


def test_a_deny_inside_a_wildcard_allow_is_refused() -> None:
    """v1 would ignore it silently (a false sense of security); runc refuses, so do we."""
    with pytest.raises(OSError, match="cannot punch a hole"):
        df.device_filter([DENY_ALL, dev("c", None, None, "rwm"), dev("c", 1, 3, "r", allow=False)])
    # a deny that does not overlap the wildcard's access is fine
    assert df.device_filter([DENY_ALL, dev("c", None, None, "m"), dev("c", 1, 3, "r", allow=False)])


@pytest.mark.parametrize("rule", [dev("p", 1, 3), dev("c", 1 << 31, 0), dev("c", "1", 3)])
def test_invalid_rules_are_refused(rule: dict[str, object]) -> None:
    with pytest.raises(OSError) as info:
        df.device_filter([DENY_ALL, rule])
    assert info.value.errno == 22


def test_instruction_encoding_is_the_kernels_bpf_insn() -> None:
    insns = df.device_filter([DENY_ALL, dev("c", 1, 3, "r")])
    raw = df.encode(insns)
    assert len(raw) == 8 * len(insns)
    words = [raw[i:i + 8].hex() for i in range(0, len(raw), 8)]
    assert words[0] == "6112000000000000"  # ldxw r2, [r1+0]: dst in the low nibble
    assert words[4] == "6114040000000000"  # ldxw r4, [r1+4]
    assert words[6] == "5502070002000000"  # jne r2, 2 (char), +7: past the 8-insn block
    assert words[7] == "bc31000000000000"  # mov32 r1, r3: src in the high nibble
    assert words[-2:] == ["b400000000000000", "9500000000000000"]  # r0 = 0; exit


def run(insns: list[df.Insn], kind: int, access: int, major: int, minor: int) -> int:
    """Interpret the instructions the builder uses, on a struct bpf_cgroup_dev_ctx."""
    ctx = struct.pack("<III", kind | access << 16, major, minor)
    regs = [0] * 11
    pc = 0
    while True:
        op, dst, src, off, imm = insns[pc]
        pc += 1
        if op == df.LDX_MEM_W:
            assert src == 1
            regs[dst] = struct.unpack_from("<I", ctx, off)[0]
        elif op == df.ALU32_AND_K:
            regs[dst] &= imm & 0xFFFFFFFF
        elif op == df.ALU32_RSH_K:
            regs[dst] = (regs[dst] & 0xFFFFFFFF) >> imm
        elif op == df.ALU32_MOV_K:
            regs[dst] = imm & 0xFFFFFFFF
        elif op == df.ALU32_MOV_X:
            regs[dst] = regs[src] & 0xFFFFFFFF
        elif op == df.JMP_JNE_K:
            pc += off if regs[dst] != imm else 0
        elif op == df.JMP_JNE_X:
            pc += off if regs[dst] != regs[src] else 0
        elif op == df.JMP_EXIT:
            return regs[0]
        else:
            raise AssertionError(f"unexpected opcode {op:#x}")


def table_verdict(policy: df.DeviceRules, kind: int, access: int, major: int, minor: int) -> int:
    for (k, ma, mi), bits in policy.exceptions():
        if k == kind and ma in (-1, major) and mi in (-1, minor) and access & bits == access:
            return 0 if policy.default_allow else 1
    return 1 if policy.default_allow else 0


def random_rules(rng: random.Random) -> list[dict[str, object]]:
    rules: list[dict[str, object]] = []
    for _ in range(rng.randint(0, 7)):
        kind = rng.choice("abcc")
        access = "".join(c for c in "rwm" if rng.random() < 0.6) or "m"
        rules.append(dev(kind, rng.choice([None, 1, 5]), rng.choice([None, 3, 5]), access, rng.random() < 0.6))
    return rules


def test_programs_decide_as_their_rule_tables() -> None:
    rng = random.Random(8)
    checked = 0
    for _ in range(400):
        rules = random_rules(rng)
        try:
            policy = df.DeviceRules.from_oci(rules)
        except OSError:
            continue  # a hole punched in a wildcard: refused, tested above
        insns = df.build(policy)
        for kind in (df.DEV_BLOCK, df.DEV_CHAR):
            for major in (1, 5, 7):
                for minor in (3, 5, 9):
                    for access in range(1, 8):
                        assert run(insns, kind, access, major, minor) == table_verdict(policy, kind, access, major, minor), rules
                        checked += 1
    assert checked > 40_000  # most of the 400 rule sets are valid


def test_the_null_only_policy_by_interpretation() -> None:
    insns = df.device_filter([DENY_ALL, dev("c", 1, 3, "rwm")])
    assert run(insns, df.DEV_CHAR, df.ACC_READ, 1, 3) == 1
    assert run(insns, df.DEV_CHAR, df.ACC_READ, 1, 5) == 0
    assert run(insns, df.DEV_BLOCK, df.ACC_READ, 1, 3) == 0


def test_v2_always_appends_runcs_default_allow_list() -> None:
    assert with_default_device_rules({}) == {}  # v1: no rules, nothing written (the kernel's allow-all)
    v2 = with_default_device_rules({}, always=True)["devices"]
    assert v2 == list(DEFAULT_ALLOWED_DEVICES)
    allow_only = [dev("c", 1, 11, "r")]
    assert with_default_device_rules({"devices": allow_only}, always=True)["devices"][0] == allow_only[0]


def test_the_v1_path_never_imports_the_bpf_modules(tmp_path) -> None:
    """ctypes and the program builder stay off v1's create: a v1 manager applies device rules."""
    for name in ("devices.allow", "devices.deny"):
        (tmp_path / name).write_text("")
    code = ("import sys\n"
            "from dockyard.runtime.lifecycle import create, update\n"
            "from dockyard.runtime.cgroups.v1 import CgroupV1\n"
            "from dockyard.runtime.cgroups import v2\n"
            f"CgroupV1.from_paths({{'devices': {str(tmp_path)!r}}}).apply("
            "create.with_default_device_rules({'devices': [{'allow': False, 'access': 'rwm'}]}))\n"
            "print(sorted(m for m in sys.modules if m.endswith(('.ebpf', '.devfilter')) or m == 'ctypes'))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    assert (tmp_path / "devices.allow").read_text() == "c 10:200 rwm"  # the v1 path ran: the last allow
