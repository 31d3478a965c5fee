"""The informer's cache keeps objects compactly without changing what consumers read."""

from __future__ import annotations

import copy
import json

from hypothesis import given
from hypothesis import strategies as st

from speaker.kube.informer import compact

SERVICE = json.loads("""{"apiVersion": "v1", "kind": "Service",
  "metadata": {"name": "web", "namespace": "default", "resourceVersion": "12", "uid": "c6f53a77",
               "annotations": {"metallb.io/ip-allocated-from-pool": "lan"},
               "managedFields": [{"manager": "kubectl", "operation": "Apply", "fieldsV1": {"f:spec": {}}}]},
  "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "protocol": "TCP"}], "ipFamilies": ["IPv4"]},
  "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}}}""")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=24),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=30,
)


@given(json_values)
def test_any_json_value_is_kept_as_it_was(value: object) -> None:
    before = copy.deepcopy(value)
    assert compact(value) == before
    assert value == before, "compact() changed its input"


def test_managed_fields_are_dropped_and_nothing_else() -> None:
    got = compact(SERVICE)
    assert "managedFields" not in got["metadata"]
    expected = copy.deepcopy(SERVICE)
    del expected["metadata"]["managedFields"]
    assert got == expected
    assert "managedFields" in SERVICE["metadata"], "the input was modified"


def test_two_objects_share_their_field_names_and_short_values() -> None:
    """Two Services parsed separately (two watch events) hold one copy of "spec", "LoadBalancer", "TCP"."""
    a, b = compact(json.loads(json.dumps(SERVICE))), compact(json.loads(json.dumps(SERVICE)))
    key_a = next(k for k in a if k == "spec")
    key_b = next(k for k in b if k == "spec")
    assert key_a is key_b
    assert a["spec"]["type"] is b["spec"]["type"]
    assert a["spec"]["ports"][0]["protocol"] is b["spec"]["ports"][0]["protocol"]
