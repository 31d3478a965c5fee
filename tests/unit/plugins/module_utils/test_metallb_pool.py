"""The pure parts of baremetal.lb.address_pool (plugins/module_utils/metallb_pool.py): options -> objects,
compare/plan/diff, apply with rollback.

Runs under both ``pytest`` and ``ansible-test units`` (see tests/unit/plugins/conftest.py). The module against an
API server is tests/integration/test_address_pool.py; that the speaker accepts what the module builds is
tests/unit/plugins/test_address_pool_speaker.py.
"""

from __future__ import annotations

import copy

import pytest
from ansible_collections.baremetal.lb.plugins.module_utils import metallb_pool as mp


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


# ------------------------------------------------------------------------------------------------ desired objects


def test_layer2_pool_is_what_a_person_would_write():
    d = mp.build_desired(params())
    assert d.pool == {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {
            "name": "lan",
            "namespace": "metallb-system",
            "labels": {"app.kubernetes.io/managed-by": "baremetal-lb"},
        },
        "spec": {"addresses": ["10.1.1.240-10.1.1.250"], "autoAssign": True, "avoidBuggyIPs": False},
    }
    assert d.advertisement["kind"] == "L2Advertisement"
    assert d.advertisement["spec"] == {"ipAddressPools": ["lan"]}


def test_bgp_pool_with_every_option():
    d = mp.build_desired(
        params(
            name="public",
            addresses=["203.0.113.16/28", "2001:db8:1::/124"],
            mode="bgp",
            auto_assign=False,
            service_allocation={
                "priority": 10,
                "namespaces": ["web"],
                "namespace_selectors": None,
                "service_selectors": [{"matchLabels": {"tier": "edge"}}],
            },
            bgp={
                "aggregation_length": 28,
                "aggregation_length_v6": 124,
                "local_pref": 100,
                "communities": ["64512:100", "large:64512:1:2", "no-advertise"],
                "peers": ["pfsense"],
                "node_selectors": [{"matchExpressions": [{"key": "role", "operator": "In", "values": ["edge"]}]}],
            },
        )
    )
    assert d.pool["spec"] == {
        "addresses": ["203.0.113.16/28", "2001:db8:1::/124"],
        "autoAssign": False,
        "avoidBuggyIPs": False,
        "serviceAllocation": {
            "priority": 10,
            "namespaces": ["web"],
            "serviceSelectors": [{"matchLabels": {"tier": "edge"}}],
        },
    }
    assert d.advertisement["kind"] == "BGPAdvertisement"
    assert d.advertisement["spec"] == {
        "ipAddressPools": ["public"],
        "aggregationLength": 28,
        "aggregationLengthV6": 124,
        "localPref": 100,
        "communities": ["64512:100", "large:64512:1:2", "no-advertise"],
        "peers": ["pfsense"],
        "nodeSelectors": [{"matchExpressions": [{"key": "role", "operator": "In", "values": ["edge"]}]}],
    }


@pytest.mark.parametrize(
    "kw, field, value",
    [
        ({"addresses": ["10.1.1.250-10.1.1.240"]}, "addresses[0]", "10.1.1.250-10.1.1.240"),
        ({"addresses": ["10.1.1.240-10.1.1.250", "10.1.1.5/24"]}, "addresses[1]", "10.1.1.5/24"),
        ({"addresses": ["10.1.1.0/33"]}, "addresses[0]", "10.1.1.0/33"),
        ({"addresses": ["10.1.1.240/29", "10.1.1.244"]}, "addresses[1]", "10.1.1.244"),
        ({"addresses": ["127.0.0.1"]}, "addresses[0]", "127.0.0.1"),
        ({"addresses": []}, "addresses", "empty"),
        ({"name": "Lan_1"}, "name", "Lan_1"),
        ({"namespace": "metallb system"}, "namespace", "metallb system"),
        ({"mode": "bgp", "bgp": {"aggregation_length": 24}}, "bgp.aggregation_length", "24"),
        ({"mode": "bgp", "bgp": {"aggregation_length": 33}}, "bgp.aggregation_length", "33"),
        ({"mode": "bgp", "bgp": {"communities": ["64512:70000"]}}, "bgp.communities[0]", "64512:70000"),
        ({"mode": "bgp", "bgp": {"communities": ["big:1:2:3"]}}, "bgp.communities[0]", "big:1:2:3"),
        ({"mode": "bgp", "bgp": {"peers": ["a", "a"]}}, "bgp.peers[1]", "'a'"),
        ({"mode": "bgp", "l2": {"interfaces": ["eth0"]}}, "l2", "eth0"),
        ({"bgp": {"local_pref": 5}}, "bgp", "local_pref"),
        ({"l2": {"interfaces": ["a-very-long-interface-name"]}}, "l2.interfaces[0]", "a-very-long-interface-name"),
        (
            {"l2": {"node_selectors": [{"matchExpressions": [{"key": "k", "operator": "Is", "values": []}]}]}},
            "l2.node_selectors[0].matchExpressions[0].operator",
            "Is",
        ),
        ({"l2": {"node_selectors": [{"labels": {"a": "b"}}]}}, "l2.node_selectors[0]", "labels"),
        ({"service_allocation": {"priority": -1}}, "service_allocation.priority", "-1"),
        ({"service_allocation": {"namespaces": ["web", "web"]}}, "service_allocation.namespaces[1]", "web"),
    ],
)
def test_bad_options_are_refused_naming_field_and_value(kw, field, value):
    with pytest.raises(mp.AddressPoolError) as info:
        mp.build_desired(params(**kw))
    message = str(info.value)
    assert message.startswith(field + ":"), message
    assert value in message


def test_absent_needs_only_name_and_namespace():
    d = mp.build_desired(params(state="absent", addresses=None, bgp={"aggregation_length": 1}))
    assert d.pool is None and d.advertisement is None


# ------------------------------------------------------------------------------------------------ compare and plan


def _live(d, **extra):
    return {
        "missing_crds": [],
        "namespace_exists": True,
        "IPAddressPool": None,
        "L2Advertisement": None,
        "BGPAdvertisement": None,
        **extra,
    }


def test_plan_create_lists_commands_and_diff():
    d = mp.build_desired(params())
    steps, diff, warnings = mp.plan(
        d, _live(d, namespace_exists=False, missing_crds=mp.CRDS[:2]), "lan", "metallb-system", "present"
    )
    assert [s.command for s in steps] == [
        "install CustomResourceDefinition ipaddresspools.metallb.io",
        "install CustomResourceDefinition l2advertisements.metallb.io",
        "create Namespace metallb-system",
        "create IPAddressPool metallb-system/lan 10.1.1.240-10.1.1.250",
        "create L2Advertisement metallb-system/lan for pool lan",
    ]
    assert diff == {
        "before": {},
        "after": {
            "IPAddressPool metallb-system/lan": {
                "addresses": ["10.1.1.240-10.1.1.250"],
                "autoAssign": True,
                "avoidBuggyIPs": False,
            },
            "L2Advertisement metallb-system/lan": {"ipAddressPools": ["lan"]},
        },
    }
    assert warnings == []


def test_server_defaults_status_and_metadata_do_not_count_as_changes():
    d = mp.build_desired(params(mode="bgp", bgp={"peers": ["r1"]}))
    pool = live_copy(d.pool)
    pool["metadata"]["labels"] = {"team": "net"}  # someone relabelled it: not ours to compare
    pool["metadata"]["annotations"] = {"note": "hi"}
    adv = live_copy(d.advertisement, aggregationLength=32, aggregationLengthV6=128)  # CRD defaults
    adv["spec"]["ipAddressPoolSelectors"] = []
    steps, diff = mp.plan(d, _live(d, IPAddressPool=pool, BGPAdvertisement=adv), "lan", "metallb-system", "present")[:2]
    assert steps == []
    assert diff["before"]["IPAddressPool metallb-system/lan"] == diff["after"]["IPAddressPool metallb-system/lan"]


def test_omitted_optional_fields_on_the_pool_defaults_compare_equal():
    d = mp.build_desired(params())
    pool = live_copy(d.pool)
    del pool["spec"]["autoAssign"], pool["spec"]["avoidBuggyIPs"]  # a hand-written object, server defaults
    steps = mp.plan(
        d, _live(d, IPAddressPool=pool, L2Advertisement=live_copy(d.advertisement)), "lan", "metallb-system", "present"
    )[0]
    assert steps == []


def test_update_replaces_only_managed_fields_and_says_what_changed():
    old = mp.build_desired(params(addresses=["10.1.1.240-10.1.1.245"], auto_assign=False))
    new = mp.build_desired(params())
    pool = live_copy(old.pool)
    pool["spec"]["someFutureField"] = "kept"
    pool["metadata"]["labels"] = {"team": "net"}
    steps, diff = mp.plan(
        new,
        _live(new, IPAddressPool=pool, L2Advertisement=live_copy(new.advertisement)),
        "lan",
        "metallb-system",
        "present",
    )[:2]
    assert [s.command for s in steps] == [
        "update IPAddressPool metallb-system/lan: addresses 10.1.1.240-10.1.1.245 -> 10.1.1.240-10.1.1.250; "
        "autoAssign false -> true"
    ]
    body = steps[0].obj
    assert body["spec"] == {
        "addresses": ["10.1.1.240-10.1.1.250"],
        "autoAssign": True,
        "avoidBuggyIPs": False,
        "someFutureField": "kept",
    }
    assert body["metadata"]["resourceVersion"] == "42"
    assert body["metadata"]["labels"] == {"team": "net", "app.kubernetes.io/managed-by": "baremetal-lb"}
    assert "status" not in body
    assert steps[0].previous is pool
    assert diff["before"]["IPAddressPool metallb-system/lan"]["addresses"] == ["10.1.1.240-10.1.1.245"]


def test_mode_switch_creates_the_new_advertisement_before_deleting_the_old():
    l2 = mp.build_desired(params())
    bgp = mp.build_desired(params(mode="bgp"))
    live = _live(bgp, IPAddressPool=live_copy(l2.pool), L2Advertisement=live_copy(l2.advertisement))
    steps, diff = mp.plan(bgp, live, "lan", "metallb-system", "present")[:2]
    assert [s.command for s in steps] == [
        "create BGPAdvertisement metallb-system/lan for pool lan",
        "delete L2Advertisement metallb-system/lan (pool lan is now announced by BGPAdvertisement)",
    ]
    assert "L2Advertisement metallb-system/lan" in diff["before"]
    assert "L2Advertisement metallb-system/lan" not in diff["after"]


def test_absent_deletes_advertisements_then_pool_and_keeps_shared_ones():
    d = mp.build_desired(params())
    shared = live_copy(mp.build_desired(params(mode="bgp")).advertisement)
    shared["spec"]["ipAddressPools"] = ["lan", "other"]
    live = _live(
        d, IPAddressPool=live_copy(d.pool), L2Advertisement=live_copy(d.advertisement), BGPAdvertisement=shared
    )
    steps, diff, warnings = mp.plan(mp.build_desired(params(state="absent")), live, "lan", "metallb-system", "absent")
    assert [s.command for s in steps] == [
        "delete L2Advertisement metallb-system/lan",
        "delete IPAddressPool metallb-system/lan",
    ]
    assert warnings == ["BGPAdvertisement metallb-system/lan is left in place: it also selects pools other than lan"]
    assert list(diff["after"]) == ["BGPAdvertisement metallb-system/lan"]


def test_overlap_message_names_both_pools():
    d = mp.build_desired(params())
    other = {"kind": "IPAddressPool", "metadata": {"name": "dmz"}, "spec": {"addresses": ["bogus", "10.1.1.248/29"]}}
    me = {"kind": "IPAddressPool", "metadata": {"name": "lan"}, "spec": {"addresses": ["10.1.1.240/28"]}}
    message = mp.find_overlap(d.entries, "lan", "metallb-system", [me, other])
    assert message == (
        "addresses[0] 10.1.1.240-10.1.1.250 of IPAddressPool metallb-system/lan overlaps "
        "IPAddressPool metallb-system/dmz spec.addresses[1] (10.1.1.248/29) at 10.1.1.248-10.1.1.250: "
        "two pools must not share addresses; nothing was changed"
    )
    assert mp.find_overlap(d.entries, "lan", "metallb-system", [me]) is None


# ------------------------------------------------------------------------------------------------ apply / rollback


class FakeApiException(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status, self.reason = status, "Internal Server Error"
        self.body = f'{{"kind": "Status", "message": "{message}"}}'


class FakeCluster:
    def __init__(self, fail_on=None):
        self.calls, self.fail_on = [], fail_on

    def _do(self, verb, obj):
        self.calls.append((verb, obj["kind"], obj["metadata"]["name"]))
        if self.fail_on == (verb, obj["kind"]):
            from kubernetes.client.exceptions import ApiException

            exc = ApiException(status=500, reason="Internal Server Error")
            exc.body = '{"kind": "Status", "message": "injected"}'
            raise exc
        out = copy.deepcopy(obj)
        out["metadata"]["resourceVersion"] = "99"
        return out

    def create(self, obj, retry_not_found=0.0):
        return self._do("create", obj)

    def replace(self, obj):
        return self._do("replace", obj)

    def delete(self, obj):
        return self._do("delete", obj)


def test_check_mode_writes_nothing():
    d = mp.build_desired(params())
    steps = mp.plan(d, _live(d), "lan", "metallb-system", "present")[0]
    cluster = FakeCluster()
    assert mp.apply(cluster, steps, check_mode=True) == {}
    assert cluster.calls == []


def test_failed_advertisement_create_deletes_the_pool_it_created():
    d = mp.build_desired(params())
    steps = mp.plan(d, _live(d), "lan", "metallb-system", "present")[0]
    cluster = FakeCluster(fail_on=("create", "L2Advertisement"))
    with pytest.raises(mp.AddressPoolError) as info:
        mp.apply(cluster, steps, check_mode=False)
    assert cluster.calls[-1] == ("delete", "IPAddressPool", "lan")
    assert str(info.value) == (
        "create L2Advertisement metallb-system/lan for pool lan failed: 500 Internal Server Error: injected; "
        "rolled back: deleted IPAddressPool metallb-system/lan, which this run had created"
    )


def test_failed_advertisement_update_restores_the_previous_pool_spec():
    old = mp.build_desired(params(addresses=["10.1.1.240-10.1.1.245"]))
    new = mp.build_desired(params(l2={"interfaces": ["eth1"]}))
    live = _live(new, IPAddressPool=live_copy(old.pool), L2Advertisement=live_copy(old.advertisement))
    steps = mp.plan(new, live, "lan", "metallb-system", "present")[0]
    cluster = FakeCluster(fail_on=("replace", "L2Advertisement"))
    restored = []
    cluster.replace = lambda obj, _orig=cluster.replace: (restored.append(copy.deepcopy(obj)), _orig(obj))[1]
    with pytest.raises(mp.AddressPoolError) as info:
        mp.apply(cluster, steps, check_mode=False)
    assert "rolled back: restored the previous spec of IPAddressPool metallb-system/lan" in str(info.value)
    assert restored[-1]["spec"]["addresses"] == ["10.1.1.240-10.1.1.245"]
    assert restored[-1]["metadata"]["resourceVersion"] == "99"  # the version the failed run left


def test_rollback_failure_is_reported():
    d = mp.build_desired(params())
    steps = mp.plan(d, _live(d), "lan", "metallb-system", "present")[0]
    cluster = FakeCluster(fail_on=("create", "L2Advertisement"))

    def etcd_is_away(_obj):
        raise FakeApiException(503, "etcd is away")

    cluster.delete = etcd_is_away
    with pytest.raises(mp.AddressPoolError) as info:
        mp.apply(cluster, steps, check_mode=False)
    assert "ROLLBACK INCOMPLETE" in str(info.value) and "etcd is away" in str(info.value)
    assert info.value.changed is True
