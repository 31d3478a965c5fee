"""AS_PATH (RFC 4271 §4.3 type 2) and AS4_PATH (RFC 6793 type 17).

In a 2-octet session (the peer did not send the 4-octet AS capability) AS_PATH carries AS_TRANS for every ASN
above 65535 and the real path goes in AS4_PATH (RFC 6793 §4.2.2); :func:`merge_as4_path` rebuilds the real path
on receipt (§4.2.3). The model always holds real (4-octet) ASNs.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar

from speaker.bgp.attribute.base import OPTIONAL_TRANSITIVE, WELL_KNOWN, Attribute, attribute_error, register
from speaker.bgp.context import AS_TRANS, Context
from speaker.bgp.errors import MALFORMED_AS_PATH, OPTIONAL_ATTRIBUTE_ERROR

AS_SET, AS_SEQUENCE, AS_CONFED_SEQUENCE, AS_CONFED_SET = 1, 2, 3, 4
Segment = tuple[int, tuple[int, ...]]


def _pack_segments(segments: tuple[Segment, ...], four: bool) -> bytes:
    out = bytearray()
    for kind, asns in segments:
        if not asns:
            continue
        for start in range(0, len(asns), 255):  # a segment holds at most 255 ASNs
            chunk = asns[start : start + 255]
            out += bytes((kind, len(chunk)))
            if four:
                out += struct.pack(f"!{len(chunk)}I", *chunk)
            else:
                out += struct.pack(f"!{len(chunk)}H", *(a if a <= 0xFFFF else AS_TRANS for a in chunk))
    return bytes(out)


def _unpack_segments(cls: type[Attribute], data: bytes, four: bool, flags: int, subcode: int) -> tuple[Segment, ...]:
    size = 4 if four else 2
    segs: list[Segment] = []
    i = 0
    while i < len(data):
        if i + 2 > len(data):
            raise attribute_error(
                subcode, flags, cls.TYPE, data, f"{cls.__name__}: truncated segment header (RFC 4271 §6.3)"
            )
        kind, count = data[i], data[i + 1]
        if kind not in (AS_SET, AS_SEQUENCE, AS_CONFED_SEQUENCE, AS_CONFED_SET) or count == 0:
            raise attribute_error(
                subcode,
                flags,
                cls.TYPE,
                data,
                f"{cls.__name__}: segment type {kind} with {count} ASNs (RFC 4271 §6.3, RFC 7606 §7.2)",
            )
        end = i + 2 + count * size
        if end > len(data):
            raise attribute_error(
                subcode,
                flags,
                cls.TYPE,
                data,
                f"{cls.__name__}: segment of {count} ASNs overruns the attribute (RFC 4271 §6.3)",
            )
        asns = struct.unpack_from(f"!{count}{'I' if four else 'H'}", data, i + 2)
        if segs and segs[-1][0] == kind and kind in (AS_SEQUENCE, AS_CONFED_SEQUENCE):
            segs[-1] = (kind, segs[-1][1] + asns)  # a long sequence split in 255-ASN segments is one sequence
        else:
            segs.append((kind, asns))
        i = end
    return tuple(segs)


@register
@dataclass(frozen=True)
class AsPath:
    TYPE: ClassVar[int] = 2
    FLAGS: ClassVar[int] = WELL_KNOWN

    segments: tuple[Segment, ...] = ()

    @classmethod
    def sequence(cls, *asns: int) -> AsPath:
        return cls(((AS_SEQUENCE, tuple(asns)),) if asns else ())

    @property
    def needs_as4(self) -> bool:
        return any(a > 0xFFFF for _, asns in self.segments for a in asns)

    def pack(self, ctx: Context) -> bytes:
        return _pack_segments(self.segments, ctx.asn4)

    @classmethod
    def unpack(cls, data: bytes, ctx: Context, flags: int = FLAGS) -> AsPath:
        return cls(_unpack_segments(cls, data, ctx.asn4, flags, MALFORMED_AS_PATH))


@register
@dataclass(frozen=True)
class As4Path:
    TYPE: ClassVar[int] = 17
    FLAGS: ClassVar[int] = OPTIONAL_TRANSITIVE

    segments: tuple[Segment, ...] = ()

    def pack(self, ctx: Context) -> bytes:
        return _pack_segments(self.segments, True)

    @classmethod
    def unpack(cls, data: bytes, ctx: Context, flags: int = FLAGS) -> As4Path:
        return cls(_unpack_segments(cls, data, True, flags, OPTIONAL_ATTRIBUTE_ERROR))


def _count(segments: tuple[Segment, ...]) -> int:
    # RFC 4271 §9.1.2.2: an AS_SET counts as 1; confederation segments do not count.
    return sum(len(a) if k == AS_SEQUENCE else 1 if k == AS_SET else 0 for k, a in segments)


def merge_as4_path(as_path: AsPath, as4: As4Path) -> AsPath:
    """RFC 6793 §4.2.3: keep the leading ASNs of AS_PATH that AS4_PATH does not cover, then AS4_PATH."""
    n, n4 = _count(as_path.segments), _count(as4.segments)
    if n4 > n:  # "the AS4_PATH attribute ... MUST be ignored"
        return as_path
    keep = n - n4
    out: list[Segment] = []
    for kind, asns in as_path.segments:
        if keep <= 0:
            break
        if kind == AS_SEQUENCE:
            take = asns[:keep]
            out.append((kind, take))
            keep -= len(take)
        elif kind == AS_SET:
            out.append((kind, asns))
            keep -= 1
        else:
            out.append((kind, asns))
    merged = out + list(as4.segments)
    # Re-join sequences that the split left adjacent.
    joined: list[Segment] = []
    for kind, asns in merged:
        if joined and joined[-1][0] == kind == AS_SEQUENCE:
            joined[-1] = (kind, joined[-1][1] + asns)
        else:
            joined.append((kind, asns))
    return AsPath(tuple(joined))


def as4_path_for(as_path: AsPath) -> As4Path:
    """The AS4_PATH a 2-octet session needs next to ``as_path`` (RFC 6793 §4.2.2)."""
    return As4Path(tuple((k, a) for k, a in as_path.segments if k in (AS_SET, AS_SEQUENCE)))
