"""The socket filters, run through a small classic-BPF interpreter (the kernel runs them in
tests/integration/test_layer2_responder.py::test_bpf_filters_in_the_kernel)."""

import pytest

from speaker.layer2 import bpf
from speaker.layer2.frames import ip_bytes
from tests.unit.layer2.crafted import VIP4, VIP6, arp_req, ns


def accepts(prog, frame, **kw) -> bool:
    return bpf.run(prog, frame, **kw) > 0


def test_arp_type_filter():
    prog = bpf.arp_program()
    assert accepts(prog, arp_req())
    assert not accepts(prog, arp_req(op=2))
    assert not accepts(prog, ns())
    assert not accepts(prog, arp_req(), pkttype=bpf.PACKET_OUTGOING)
    assert not accepts(prog, arp_req(), vlan_tag_present=1)


def test_arp_replies_too_for_probes():
    prog = bpf.arp_program(requests_only=False)
    assert accepts(prog, arp_req(op=2)) and accepts(prog, arp_req())


def test_arp_vip_filter():
    vips = [ip_bytes(f"198.51.100.{i}") for i in range(1, 250)] + [ip_bytes(VIP4)]
    prog = bpf.arp_program(vips)
    assert accepts(prog, arp_req(VIP4))
    assert accepts(prog, arp_req("198.51.100.1"))
    assert not accepts(prog, arp_req("198.51.100.250"))
    assert not accepts(prog, arp_req("192.0.2.1"))


def test_vip_filter_falls_back_above_the_limit():
    vips = [ip_bytes(f"198.51.{i // 250}.{i % 250}") for i in range(bpf.VIP_FILTER_LIMIT_V4 + 1)]
    prog = bpf.arp_program(vips)
    assert len(prog) < 20
    assert accepts(prog, arp_req("192.0.2.1"))  # Python does the address match
    at_limit = bpf.arp_program(vips[: bpf.VIP_FILTER_LIMIT_V4])
    assert len(at_limit) <= 4096


def test_ndp_filter():
    prog = bpf.ndp_program()
    assert accepts(prog, ns())
    assert not accepts(prog, ns(hlim=64))
    assert not accepts(prog, arp_req())
    assert not accepts(prog, ns(), vlan_tag_present=1)


def test_ndp_target_filter():
    targets = [ip_bytes(f"2001:db8:100::{i:x}") for i in range(1, 100)] + [ip_bytes(VIP6)]
    prog = bpf.ndp_program(targets)
    assert accepts(prog, ns(VIP6))
    assert accepts(prog, ns("2001:db8:100::1"))
    assert not accepts(prog, ns("2001:db8:100::1000"))
    assert not accepts(prog, ns("2001:db8:200::240"))  # same low word, other prefix
    assert len(bpf.ndp_program([ip_bytes(VIP6)] * bpf.VIP_FILTER_LIMIT_V6)) <= 4096


def test_ndp_several_types():
    from scapy.layers.inet6 import ICMPv6ND_NA, IPv6
    from scapy.layers.l2 import Ether

    prog = bpf.ndp_program(types=(135, 136))
    na = bytes(Ether() / IPv6(hlim=255) / ICMPv6ND_NA(tgt=VIP6))
    assert accepts(prog, na) and accepts(prog, ns())
    assert not accepts(bpf.ndp_program(), na)


def test_program_packing():
    raw = bpf.pack(bpf.arp_program())
    assert len(raw) == 8 * len(bpf.arp_program())


def test_jump_range_is_checked():
    a = bpf._Asm()
    a.ld(bpf.BPF_H, 12)
    a.jeq(1, "far", 0)
    for _ in range(300):
        a.ret(0)
    a.label("far")
    a.ret(1)
    with pytest.raises(ValueError):
        a.assemble()
