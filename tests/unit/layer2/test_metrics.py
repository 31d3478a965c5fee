"""MetalLB's exact metric names on /metrics."""

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from speaker.layer2.metrics import Layer2Metrics
from speaker.metrics import Announced


def test_exposition_uses_metallb_names():
    m = Layer2Metrics()
    reg = CollectorRegistry()
    reg.register(m)
    m.inc(m.requests, "198.51.100.240")
    m.inc(m.responses, "198.51.100.240")
    m.inc(m.gratuitous, "198.51.100.240", 2)
    m.inc(m.dropped, "from-us")
    m.set_announced("198.51.100.240", "node-1", "default/web", True)
    text = generate_latest(reg).decode()
    assert 'metallb_layer2_requests_received{ip="198.51.100.240"} 1.0' in text
    assert 'metallb_layer2_responses_sent{ip="198.51.100.240"} 1.0' in text
    assert 'metallb_layer2_gratuitous_sent{ip="198.51.100.240"} 2.0' in text
    assert 'baremetal_lb_layer2_dropped_total{reason="from-us"} 1.0' in text
    assert "metallb_speaker_announced" not in text  # one family for both protocols: speaker.metrics.ANNOUNCED
    assert m.announced() == [("198.51.100.240", "node-1", "default/web")]
    m.set_announced("198.51.100.240", "node-1", "default/web", False)
    assert m.announced() == []


def test_speaker_announced_is_one_family_with_a_series_per_protocol():
    """MetalLB's ``metallb_speaker_announced{ip,node,protocol,service}`` (speaker/main.go), for Layer 2 and BGP, in
    one family (Prometheus refuses a family written twice)."""
    l2 = Layer2Metrics()
    l2.set_announced("198.51.100.240", "node-1", "default/web", True)
    bgp: list[tuple[str, str, str]] = [("198.51.100.241", "node-1", "default/api")]
    announced = Announced()
    announced.set_source("layer2", l2.announced)
    announced.set_source("bgp", lambda: bgp)
    reg = CollectorRegistry()
    reg.register(announced)
    text = generate_latest(reg).decode()
    assert text.count("# TYPE metallb_speaker_announced gauge") == 1
    assert [line for line in text.splitlines() if line.startswith("metallb_speaker_announced{")] == [
        'metallb_speaker_announced{ip="198.51.100.241",node="node-1",protocol="bgp",service="default/api"} 1.0',
        'metallb_speaker_announced{ip="198.51.100.240",node="node-1",protocol="layer2",service="default/web"} 1.0',
    ]
    bgp.clear()  # read at scrape time: a withdrawn route is gone from the next scrape
    assert 'protocol="bgp"' not in generate_latest(reg).decode()
    with pytest.raises(ValueError, match="Duplicated"):  # a second collector of the family is refused
        reg.register(Announced())
