"""Layer 2 metrics under MetalLB's exact names (dashboards keep working).

MetalLB (Go client) exposes the counters ``metallb_layer2_requests_received{ip}`` etc. without a ``_total``
suffix. prometheus_client always writes a counter family as ``NAME_total`` in the text format, so these three
are built as *unknown* families with MetalLB's exact sample names, and ``speaker.metrics.exposition`` writes
their ``# TYPE`` line as ``counter`` (Prometheus types them as MetalLB's). Our own counters are proper counters
with ``_total``. The hot path increments plain dicts owned by the responder thread (no lock per packet); a scrape
copies them (a dict copy is atomic under the GIL).

With the responder in its own process (the default, docs/design/0011) the requests/responses/gratuitous/
dropped counts are made there and added here by the Announcer's loop thread from the child's reports (at
most 0.2 s late; a crash loses at most that much). ``baremetal_lb_layer2_responder_up`` and
``baremetal_lb_layer2_responder_restarts_total`` say whether that process answers and how often it had to be
restarted (both absent with ``responder: thread``).

``metallb_speaker_announced`` is one family for both protocols, so it is served by ``speaker.metrics.ANNOUNCED``;
the Layer 2 rows come from :meth:`Layer2Metrics.announced` (the daemon connects the two).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from prometheus_client.core import REGISTRY, GaugeMetricFamily, Metric


def _counter(
    name: str, doc: str, labels: list[str], values: dict[tuple[str, ...], int], *, typed: bool = False
) -> Metric:
    """``typed``: a counter family ``name`` with samples ``name_total``; else untyped samples named ``name``."""
    m = Metric(name, doc, "counter" if typed else "unknown")
    sample = f"{name}_total" if typed else name
    for key, v in values.items():
        m.add_sample(sample, dict(zip(labels, key, strict=False)), float(v))
    return m


class Layer2Metrics:
    """Counters written by the responder thread; the announced gauge written under a lock."""

    def __init__(self) -> None:
        self.requests: dict[str, int] = {}  # ip -> requests received for an address we announce
        self.responses: dict[str, int] = {}  # ip -> replies sent
        self.gratuitous: dict[str, int] = {}  # ip -> gratuitous ARP / unsolicited NA frames sent
        self.conflicts: dict[str, int] = {}  # ip -> probes that found another host using the address
        self.dropped: dict[str, int] = {}  # drop reason -> frames that reached Python and got no answer
        self.responder_up: int | None = None  # the responder process answers (1) or not (0); None: thread mode
        self.responder_restarts = 0  # times the responder process died and was restarted
        self._lock = threading.Lock()
        self._announced: dict[tuple[str, str, str], int] = {}  # (ip, node, service) -> 1

    @staticmethod
    def inc(counter: dict[str, int], key: str, n: int = 1) -> None:
        counter[key] = counter.get(key, 0) + n

    def set_announced(self, ip: str, node: str, service: str, on: bool) -> None:
        with self._lock:
            if on:
                self._announced[(ip, node, service)] = 1
            else:
                for key in [k for k in self._announced if k[0] == ip and k[1] == node]:
                    del self._announced[key]

    def announced(self) -> list[tuple[str, str, str]]:
        """(ip, node, service) of every address the announcer answers for: the Layer 2 rows of
        ``metallb_speaker_announced``."""
        with self._lock:
            return list(self._announced)

    def collect(self) -> Iterator[Metric]:
        yield _counter(
            "metallb_layer2_requests_received",
            "Number of layer2 requests received for owned IPs",
            ["ip"],
            {(k,): v for k, v in dict(self.requests).items()},
        )
        yield _counter(
            "metallb_layer2_responses_sent",
            "Number of layer2 responses sent for owned IPs",
            ["ip"],
            {(k,): v for k, v in dict(self.responses).items()},
        )
        yield _counter(
            "metallb_layer2_gratuitous_sent",
            "Number of gratuitous layer2 packets sent for owned IPs",
            ["ip"],
            {(k,): v for k, v in dict(self.gratuitous).items()},
        )
        yield _counter(
            "baremetal_lb_layer2_conflicts",
            "Address probes answered by another host (address not announced)",
            ["ip"],
            {(k,): v for k, v in dict(self.conflicts).items()},
            typed=True,
        )
        yield _counter(
            "baremetal_lb_layer2_dropped",
            "Frames that reached the responder and were not answered",
            ["reason"],
            {(k,): v for k, v in dict(self.dropped).items()},
            typed=True,
        )
        if self.responder_up is not None:
            yield GaugeMetricFamily(
                "baremetal_lb_layer2_responder_up",
                "The ARP/NDP responder process is running and answering",
                value=self.responder_up,
            )
            yield _counter(
                "baremetal_lb_layer2_responder_restarts",
                "Times the ARP/NDP responder process died and was restarted",
                [],
                {(): self.responder_restarts},
                typed=True,
            )

    def describe(self) -> list[Metric]:
        return []  # collected lazily; names are fixed above


METRICS = Layer2Metrics()
REGISTRY.register(METRICS)
