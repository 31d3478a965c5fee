"""MetalLB's exact metric names on /metrics."""

from prometheus_client import CollectorRegistry, generate_latest

from speaker.layer2.metrics import Layer2Metrics


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
    assert ('metallb_speaker_announced{ip="198.51.100.240",node="node-1",protocol="layer2",service="default/web"} 1.0'
            in text)
    m.set_announced("198.51.100.240", "node-1", "default/web", False)
    assert "metallb_speaker_announced{" not in generate_latest(reg).decode()
