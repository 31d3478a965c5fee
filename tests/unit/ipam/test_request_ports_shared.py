"""Equal port sets are one object across ServiceRequests (10,000 Services exposing TCP/80 held ~5 MiB of identical
frozensets), and sharing them changes nothing a decision sees: the same value, whatever form the ports came in."""

from __future__ import annotations

from speaker.ipam import request
from speaker.ipam.request import ServiceRequest


def test_equal_port_sets_are_one_object_with_the_same_value():
    a = ServiceRequest("ns/a", ports=frozenset({("TCP", 80), ("UDP", 53)}))
    b = ServiceRequest("ns/b", ports=[("UDP", "53"), ("TCP", 80)])  # type: ignore[arg-type]  # as a caller may
    c = ServiceRequest("ns/c", ports=frozenset({("TCP", 443)}))
    assert a.ports is b.ports
    assert a.ports == b.ports == frozenset({("TCP", 80), ("UDP", 53)})
    assert c.ports == frozenset({("TCP", 443)}) and c.ports is not a.ports
    assert ServiceRequest("ns/d").ports == frozenset()


def test_the_shared_sets_are_bounded():
    request._PORTS.clear()
    for port in range(request._PORTS_MAX + 5):
        ServiceRequest("ns/x", ports=frozenset({("TCP", port)}))
    assert len(request._PORTS) <= request._PORTS_MAX + 1
    assert ServiceRequest("ns/y", ports=frozenset({("TCP", 1)})).ports == frozenset({("TCP", 1)})
