"""The speaker accepts the objects baremetal.lb.address_pool builds (speaker.config.cluster.build_config).

Repo pytest only: it imports the ``speaker`` package, which ``ansible-test units`` (a copy of the collection)
does not have. The module's own unit tests are in modules/ and module_utils/.
"""

from __future__ import annotations

import copy

import pytest
from ansible_collections.baremetal.lb.plugins.module_utils import metallb_pool as mp

from speaker.config.cluster import build_config


def params(**kw):
    base = {
        "name": "lan",
        "namespace": "metallb-system",
        "state": "present",
        "addresses": ["10.1.1.240-10.1.1.250"],
        "mode": "layer2",
        "auto_assign": True,
        "avoid_buggy_ips": False,
        "service_allocation": None,
        "l2": None,
        "bgp": None,
        "install_crds": True,
    }
    base.update(kw)
    return base


def live_copy(obj, **spec_extra):
    """``obj`` as the API server returns it: defaults filled, metadata and status added."""
    out = copy.deepcopy(obj)
    out["metadata"].update(
        uid="u-" + obj["metadata"]["name"], resourceVersion="42", generation=1, creationTimestamp="2024-01-01T00:00:00Z"
    )
    out["spec"].update(spec_extra)
    out["status"] = {"assignedIPv4": 1}
    return out


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"l2": {"interfaces": ["eth0", "enp1s0.20"], "node_selectors": [{"matchLabels": {"lb": "true"}}]}},
        {"mode": "bgp", "bgp": {"aggregation_length": 29, "communities": ["65000:1"], "peers": ["r1"]}},
        {
            "addresses": ["10.1.1.240/29", "2001:db8::/120"],
            "avoid_buggy_ips": True,
            "service_allocation": {"priority": 5, "namespaces": ["a", "b"]},
        },
    ],
)
def test_the_speaker_accepts_what_the_module_builds(kw):
    d = mp.build_desired(params(**kw))
    objs = []
    for obj in (d.pool, d.advertisement):
        o = live_copy(obj)
        objs.append(o)
    pools = [objs[0]]
    l2 = [objs[1]] if objs[1]["kind"] == "L2Advertisement" else []
    bgp = [objs[1]] if objs[1]["kind"] == "BGPAdvertisement" else []
    peers = [
        {
            "apiVersion": "metallb.io/v1beta2",
            "kind": "BGPPeer",
            "metadata": {
                "name": "r1",
                "namespace": "metallb-system",
                "uid": "p",
                "creationTimestamp": "2024-01-01T00:00:00Z",
            },
            "spec": {"myASN": 64512, "peerASN": 64513, "peerAddress": "10.1.1.1"},
        }
    ]
    config = build_config(pools=pools, l2_advertisements=l2, bgp_advertisements=bgp, bgp_peers=peers)
    assert config.errors == ()
    assert "lan" in config.pools
