"""Classic BPF programs attached with SO_ATTACH_FILTER, so that only the frames we answer reach Python.

The responder's programs accept, on an interface:
- ARP: ethertype 0x0806, operation request, optionally only for the VIPs announced there;
- NDP: IPv6 with next header ICMPv6, hop limit 255, type 135 (NS), optionally only for those targets;
and reject in both cases frames we sent ourselves (pkttype OUTGOING) and frames that carried a VLAN tag
(the kernel strips an offloaded tag into metadata: without this check, a request from VLAN 100 would be
answered untagged on the parent interface).

Classic BPF allows at most 4096 instructions and 255-instruction conditional jumps; an address costs 3 (IPv4)
or 9 (IPv6) instructions, so above ``VIP_FILTER_LIMIT_*`` addresses on one interface the program keeps only the
type checks and Python does the address match (a dict lookup: still flat up to 10,000 VIPs).
"""

from __future__ import annotations

import ctypes
import socket
import struct
from collections.abc import Iterable, Sequence

SO_ATTACH_FILTER = 26
SO_LOCK_FILTER = 44

# instruction classes / modes
BPF_LD, BPF_LDX, BPF_ALU, BPF_JMP, BPF_RET = 0x00, 0x01, 0x04, 0x05, 0x06
BPF_W, BPF_H, BPF_B = 0x00, 0x08, 0x10
BPF_ABS = 0x20
BPF_JA, BPF_JEQ, BPF_JGT = 0x00, 0x10, 0x20
BPF_K = 0x00

SKF_AD_OFF = -0x1000
SKF_AD_PKTTYPE = 4
SKF_AD_VLAN_TAG_PRESENT = 48
PACKET_OUTGOING = 4

ACCEPT = 0x40000  # snap length: whole frame
VIP_FILTER_LIMIT_V4 = 1000
VIP_FILTER_LIMIT_V6 = 400

Insn = tuple[int, int, int, int]


def _ld_abs(size: int, off: int) -> Insn:
    return (BPF_LD | size | BPF_ABS, 0, 0, off & 0xFFFFFFFF)


def _ret(k: int) -> Insn:
    return (BPF_RET | BPF_K, 0, 0, k)


class _Asm:
    """A tiny assembler: jump targets are labels (str) or 0 (next instruction), resolved at the end."""

    def __init__(self) -> None:
        self.insns: list[tuple[int, int | str, int | str, int | str]] = []
        self.labels: dict[str, int] = {}

    def ld(self, size: int, off: int) -> None:
        self.insns.append(_ld_abs(size, off))

    def jeq(self, k: int, jt: int | str = 0, jf: int | str = 0) -> None:
        self.insns.append((BPF_JMP | BPF_JEQ | BPF_K, jt, jf, k))

    def ja(self, target: str) -> None:
        self.insns.append((BPF_JMP | BPF_JA, 0, 0, target))

    def ret(self, k: int) -> None:
        self.insns.append(_ret(k))

    def label(self, name: str) -> None:
        self.labels[name] = len(self.insns)

    def assemble(self) -> list[Insn]:
        out: list[Insn] = []
        for i, (code, jt, jf, k) in enumerate(self.insns):

            def rel(t: int | str, i: int = i) -> int:  # bound now: called within this iteration only
                return t if isinstance(t, int) else self.labels[t] - i - 1

            if isinstance(k, str):
                out.append((code, 0, 0, rel(k)))
                continue
            jt_, jf_ = rel(jt), rel(jf)
            if not (0 <= jt_ <= 255 and 0 <= jf_ <= 255):
                raise ValueError(f"BPF jump out of range at {i}")
            out.append((code, jt_, jf_, k))
        return out


def _prologue(a: _Asm) -> None:
    """Reject our own outgoing frames and frames that had a VLAN tag."""
    a.ld(BPF_W, SKF_AD_OFF + SKF_AD_PKTTYPE)
    a.jeq(PACKET_OUTGOING, "reject", 0)
    a.ld(BPF_W, SKF_AD_OFF + SKF_AD_VLAN_TAG_PRESENT)
    a.jeq(1, "reject", 0)


def _epilogue(a: _Asm, vips: Sequence[bytes] | None, offset: int) -> list[Insn]:
    """The type checks jump to a nearby ``reject``; then either accept, or accept only listed addresses."""
    a.ja("body")
    a.label("reject")
    a.ret(0)
    a.label("body")
    if vips is None:
        a.ret(ACCEPT)
        return a.assemble()
    for vip in vips:
        words = struct.unpack(f"!{len(vip) // 4}I", vip)
        n = len(words)
        # per address: (ld, jeq) * n, ret ACCEPT; a mismatch skips to the next address
        for j, w in enumerate(words):
            a.ld(BPF_W, offset + 4 * j)
            a.jeq(w, 0, 2 * (n - j - 1) + 1)
        a.ret(ACCEPT)
    a.ret(0)
    return a.assemble()


def arp_program(vips: Iterable[bytes] | None = None, *, requests_only: bool = True) -> list[Insn]:
    """ARP frames (requests only unless ``requests_only=False``), optionally only for target IPs in ``vips``
    (ignored above ``VIP_FILTER_LIMIT_V4`` addresses)."""
    a = _Asm()
    _prologue(a)
    a.ld(BPF_H, 12)
    a.jeq(0x0806, 0, "reject")
    if requests_only:
        a.ld(BPF_H, 20)
        a.jeq(1, 0, "reject")
    listed = list(vips) if vips is not None else None
    if listed is not None and len(listed) > VIP_FILTER_LIMIT_V4:
        listed = None
    return _epilogue(a, listed, 38)


def ndp_program(targets: Iterable[bytes] | None = None, *, types: Sequence[int] = (135,)) -> list[Insn]:
    """IPv6 + ICMPv6 (no extension headers) with hop limit 255 and a type in ``types``, optionally only
    for NS/NA targets in ``targets`` (ignored above ``VIP_FILTER_LIMIT_V6`` addresses)."""
    a = _Asm()
    _prologue(a)
    a.ld(BPF_H, 12)
    a.jeq(0x86DD, 0, "reject")
    a.ld(BPF_B, 20)
    a.jeq(58, 0, "reject")
    a.ld(BPF_B, 21)
    a.jeq(255, 0, "reject")
    a.ld(BPF_B, 54)
    for t in types[:-1]:
        a.jeq(t, "type_ok", 0)
    a.jeq(types[-1], 0, "reject")
    a.label("type_ok")
    listed = list(targets) if targets is not None else None
    if listed is not None and len(listed) > VIP_FILTER_LIMIT_V6:
        listed = None
    return _epilogue(a, listed, 62)


def accept_all() -> list[Insn]:
    return [_ret(ACCEPT)]


def reject_all() -> list[Insn]:
    return [_ret(0)]


def pack(program: Sequence[Insn]) -> bytes:
    return b"".join(struct.pack("HBBI", *insn) for insn in program)


def attach(sock: socket.socket, program: Sequence[Insn]) -> None:
    """SO_ATTACH_FILTER (replaces any previous filter atomically)."""
    if len(program) > 4096:
        raise ValueError(f"BPF program too long ({len(program)} instructions)")
    raw = pack(program)
    buf = ctypes.create_string_buffer(raw, len(raw))
    fprog = struct.pack("HL", len(program), ctypes.addressof(buf))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


def run(program: Sequence[Insn], frame: bytes, *, pkttype: int = 0, vlan_tag_present: int = 0) -> int:
    """A tiny classic-BPF interpreter for the instructions these programs use (tests, documentation)."""
    pc = 0
    a = 0
    while pc < len(program):
        code, jt, jf, k = program[pc]
        cls = code & 0x07
        if cls == BPF_RET:
            return k
        if cls == BPF_LD:
            off = k - (1 << 32) if k & 0x80000000 else k
            if off < 0:
                a = {SKF_AD_OFF + SKF_AD_PKTTYPE: pkttype, SKF_AD_OFF + SKF_AD_VLAN_TAG_PRESENT: vlan_tag_present}[off]
            else:
                size = {BPF_W: 4, BPF_H: 2, BPF_B: 1}[code & 0x18]
                if off + size > len(frame):
                    return 0
                a = int.from_bytes(frame[off : off + size], "big")
            pc += 1
        elif cls == BPF_JMP:
            op = code & 0xF0
            if op == BPF_JA:
                pc += 1 + k
            elif op == BPF_JEQ:
                pc += 1 + (jt if a == k else jf)
            elif op == BPF_JGT:
                pc += 1 + (jt if a > k else jf)
            else:
                raise ValueError(f"unsupported jump {code:#x}")
        else:
            raise ValueError(f"unsupported instruction {code:#x}")
    raise ValueError("program fell off the end")
