"""The filter baremetal.lb.pool_overlaps (the pools role's inventory-wide overlap preflight), called directly and
through ansible-doc. The role run that it stops before any write is in tests/integration/test_address_pool.py."""

from __future__ import annotations

import sys

import pytest

from tests.collection import VENV_BIN, ansible_env, collection_path

sys.path.insert(0, str(collection_path()))
from ansible.errors import AnsibleFilterError
from ansible_collections.baremetal.lb.plugins.filter.pool_overlaps import FilterModule, pool_overlaps


def test_names_both_pools_both_entries_and_the_shared_addresses():
    pools = [
        {"name": "lan", "addresses": ["10.1.1.240-10.1.1.250"]},
        {"name": "dmz", "addresses": ["192.0.2.0/28", "10.1.1.248/29"], "mode": "bgp"},
        {"name": "one", "addresses": ["10.1.1.245"]},
    ]
    assert pool_overlaps(pools) == [
        "baremetal_lb_pools: pool lan addresses[0] 10.1.1.240-10.1.1.250 and pool dmz addresses[1] 10.1.1.248/29 "
        "share 10.1.1.248-10.1.1.250",
        "baremetal_lb_pools: pool lan addresses[0] 10.1.1.240-10.1.1.250 and pool one addresses[0] 10.1.1.245 "
        "share 10.1.1.245",
    ]


@pytest.mark.parametrize(
    "pools",
    [
        [],
        [{"name": "lan", "addresses": ["10.1.1.240-10.1.1.250"]}, {"name": "next", "addresses": ["10.1.1.251/32"]}],
        [{"name": "v4", "addresses": ["10.1.1.0/24"]}, {"name": "v6", "addresses": ["2001:db8::/120"]}],
        # a pool being removed is not compared; a bad entry is left to the module (it names field and value)
        [
            {"name": "lan", "addresses": ["10.1.1.240-10.1.1.250"]},
            {"name": "old", "addresses": ["10.1.1.240/29"], "state": "absent"},
            {"name": "bad", "addresses": ["10.1.1.250-10.1.1.240", "10.1.1.245/24", 7]},
            {"name": "noaddr", "state": "absent"},
        ],
    ],
)
def test_no_overlap(pools):
    assert pool_overlaps(pools) == []


def test_ipv6_overlap_and_the_filter_is_registered():
    pools = [{"name": "a", "addresses": ["2001:db8::/120"]}, {"name": "b", "addresses": ["2001:db8::80-2001:db8::1ff"]}]
    assert FilterModule().filters()["pool_overlaps"](pools) == [
        "baremetal_lb_pools: pool a addresses[0] 2001:db8::/120 and pool b addresses[0] 2001:db8::80-2001:db8::1ff "
        "share 2001:db8::80/121"
    ]
    with pytest.raises(AnsibleFilterError, match="expected the list baremetal_lb_pools, got str"):
        pool_overlaps("10.1.1.0/24")


def test_docs_render_with_ansible_doc():
    import subprocess

    proc = subprocess.run(
        [str(VENV_BIN / "ansible-doc"), "-t", "filter", "baremetal.lb.pool_overlaps"],
        env=ansible_env({"ANSIBLE_STDOUT_CALLBACK": "default"}),
        capture_output=True,
        text=True,
        cwd=collection_path(),
        timeout=60,
    )
    assert proc.returncode == 0 and "WARNING" not in proc.stderr, proc.stderr
    assert "share 10.1.1.248-10.1.1.250" in proc.stdout and "EXAMPLES" in proc.stdout
