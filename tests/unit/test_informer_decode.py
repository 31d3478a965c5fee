"""The informer's cache keeps objects compactly without changing what consumers read."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from speaker.kube.informer import decode

SERVICE = """{"apiVersion": "v1", "kind": "Service",
  "metadata": {"name": "web", "namespace": "default", "resourceVersion": "12", "uid": "c6f53a77",
               "annotations": {"metallb.io/ip-allocated-from-pool": "lan"},
               "managedFields": [{"manager": "kubectl", "operation": "Apply", "fieldsV1": {"f:spec": {}}}]},
  "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "protocol": "TCP"}], "ipFamilies": ["IPv4"]},
  "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}}}"""

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=24),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=30,
)


@given(json_values)
def test_any_json_document_decodes_as_json_loads_does(value: object) -> None:
    text = json.dumps(value)
    assert decode(text) == json.loads(text)
    assert decode(text.encode()) == json.loads(text)


def test_what_the_informer_caches_is_the_object_without_managed_fields() -> None:
    from speaker.kube.informer import _slim

    got = _slim(decode(SERVICE))
    expected = json.loads(SERVICE)
    del expected["metadata"]["managedFields"]
    assert got == expected


def test_two_objects_decoded_apart_share_their_field_names_and_short_values() -> None:
    """Two Services from two watch events hold one copy of "spec", "LoadBalancer", "TCP", "IPv4"."""
    a, b = decode(SERVICE), decode(SERVICE)
    assert next(k for k in a if k == "spec") is next(k for k in b if k == "spec")
    assert a["spec"]["type"] is b["spec"]["type"]
    assert a["spec"]["ports"][0]["protocol"] is b["spec"]["ports"][0]["protocol"]
    assert a["spec"]["ipFamilies"][0] is b["spec"]["ipFamilies"][0]
