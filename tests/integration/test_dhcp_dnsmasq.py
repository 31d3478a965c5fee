"""baremetal.lb.dhcp_reservation against a real dnsmasq in a namespace (the "Linux router" backend).

dnsmasq runs as a daemon inside the router namespace with its configuration in a temp dir: a main file with
``conf-dir=`` and a drop-in ``lan.conf`` holding the ``dhcp-range`` (as people write it). The module runs inside
that namespace (tests/collection.py ``netns_inventory``) and restarts dnsmasq with a small script — the test's
stand-in for ``systemctl restart dnsmasq`` (dnsmasq needs a restart to re-read ``dhcp-range``). DHCP clients are
busybox ``udhcpc`` in a client namespace with distinct client-ids, bounded in number and time.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.collection import PYTHON, netns_inventory, run_playbook, task_result
from tests.dhcpclient import dhcp_leases
from tests.integration.dhcpservers import Dnsmasq, dnsmasq_lan
from tests.netlab import require_binaries

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def _dnsmasq_installed() -> None:
    require_binaries("dnsmasq", "udhcpc")


@pytest.fixture
def lan() -> Iterator[tuple[Any, Any, Path]]:
    with dnsmasq_lan() as parts:
        yield parts


def reserve(
    router: Any, d: Dnsmasq, check: bool = False, inventory: dict | None = None, **args: Any
) -> tuple[int, dict[str, Any]]:
    params = {"backend": "dnsmasq", "conf_file": str(d.conf), "restart_command": [str(d.restart)], **args}
    play = [
        {
            "hosts": "router",
            "gather_facts": False,
            "tasks": [{"name": "reserve", "baremetal.lb.dhcp_reservation": params}],
        }
    ]
    rc, out = run_playbook(play, inventory=inventory or netns_inventory(router.ns, d.tmp), check=check, diff=True)
    return rc, task_result(out, "reserve")


def last_octet_in(address: str, first: int, last: int) -> bool:
    return address.startswith("198.51.100.") and first <= int(address.rsplit(".", 1)[1]) <= last


def test_reserve_rewrites_the_dropin_clients_stay_outside_and_release_restores(lan):
    router, client, tmp = lan
    d = Dnsmasq(router, tmp, ["set:lan,198.51.100.100,198.51.100.109,255.255.255.0,10m"])
    original = d.snapshot()

    rc, res = reserve(router, d, range="198.51.100.103-198.51.100.106")
    assert rc == 0 and res["changed"] is True, res
    assert res["scope"] == {"name": "lan", "subnet": "198.51.100.0/24", "backend": "dnsmasq"}
    assert res["ranges_after"] == ["198.51.100.100-198.51.100.102", "198.51.100.107-198.51.100.109"]
    text = d.dropin.read_text()
    assert (
        "# baremetal-lb: reserved 198.51.100.103-198.51.100.106 (baremetal.lb.dhcp_reservation); "
        "was: dhcp-range=set:lan,198.51.100.100,198.51.100.109,255.255.255.0,10m"
    ) in text
    assert "dhcp-range=set:lan,198.51.100.100,198.51.100.102,255.255.255.0,10m\n" in text
    assert "dhcp-range=set:lan,198.51.100.107,198.51.100.109,255.255.255.0,10m\n" in text
    assert d.conf.read_bytes() == original[0]  # only the file holding the range is touched
    assert d.running()

    rc, again = reserve(router, d, range="198.51.100.103-198.51.100.106")
    assert rc == 0 and again["changed"] is False, again

    got = dhcp_leases(client, tmp, 7)
    leased = [a for a in got if a]
    assert len(leased) == 6, got
    assert not [a for a in leased if last_octet_in(a, 103, 106)], got
    assert got[-1] is None, got

    rc, res = reserve(router, d, range="198.51.100.103-198.51.100.106", state="absent")
    assert rc == 0 and res["changed"] is True, res
    assert d.snapshot() == original  # byte for byte what the person wrote
    rc, res = reserve(router, d, range="198.51.100.103-198.51.100.106", state="absent")
    assert rc == 0 and res["changed"] is False, res


def test_check_mode_changes_nothing_and_absent_never_widens(lan):
    router, client, tmp = lan
    d = Dnsmasq(router, tmp, ["set:lan,198.51.100.100,198.51.100.199,255.255.255.0,10m"])
    before, pid = d.snapshot(), d.pid()
    rc, res = reserve(router, d, check=True, range="198.51.100.190-198.51.100.199")
    assert rc == 0 and res["changed"] is True, res
    assert res["ranges_after"] == ["198.51.100.100-198.51.100.189"]
    assert "dhcp-range=198.51.100.100,198.51.100.199" in res["diff"]["before"]
    assert d.snapshot() == before and d.pid() == pid  # not even restarted

    rc, res = reserve(router, d, range="198.51.100.200-198.51.100.250", state="absent")
    assert rc == 0 and res["changed"] is False and "not reserved by this module" in res["msg"], res
    assert d.snapshot() == before


def test_refusals_name_the_address_and_leave_dnsmasq_unchanged(lan):
    router, client, tmp = lan
    d = Dnsmasq(router, tmp, ["set:lan,198.51.100.50,198.51.100.199,255.255.255.0,10m"])
    before, pid = d.snapshot(), d.pid()
    for rng, address, what in [
        ("198.51.100.55-198.51.100.65", "198.51.100.60", "static mapping dhcp-host=02:00:5e:00:53:99,nas"),
        ("198.51.100.1-198.51.100.9", "198.51.100.1", "gateway"),
        ("198.51.100.250-198.51.101.5", "198.51.101.5", "outside scope lan's subnet 198.51.100.0/24"),
    ]:
        rc, res = reserve(router, d, range=rng)
        assert rc != 0, (rng, res)
        assert address in res["msg"] and what in res["msg"], (rng, res["msg"])
        assert "the router was not changed" in res["msg"]
    assert d.snapshot() == before and d.pid() == pid

    got = dhcp_leases(client, tmp, 1)
    assert got[0] is not None, got
    lease = got[0]
    rc, res = reserve(router, d, range=f"{lease}-{lease}")
    assert rc != 0 and lease in res["msg"] and "active lease" in res["msg"], res
    assert d.snapshot() == before and d.pid() == pid


def test_failure_between_validate_and_apply_leaves_dnsmasq_as_it_was(lan):
    router, client, tmp = lan
    d = Dnsmasq(router, tmp, ["set:lan,198.51.100.100,198.51.100.199,255.255.255.0,10m"])
    before = d.snapshot()

    # 1. The drop-in directory is read-only (a read-only bind mount in a private mount namespace that exists only
    #    for the module's process): `dnsmasq --test` passes on the candidate, writing the file fails.
    wrapper = tmp / "python-ro"
    wrapper.write_text(
        "#!/bin/sh\n"
        f"exec ip netns exec {router.ns} unshare -m --propagation private "
        f'sh -c \'mount --bind -o ro "$0" "$0" && exec {PYTHON} "$@"\' {d.dropdir} "$@"\n'
    )
    wrapper.chmod(0o755)
    inventory = {
        "all": {"hosts": {"router": {"ansible_connection": "local", "ansible_python_interpreter": str(wrapper)}}}
    }
    pid = d.pid()
    rc, res = reserve(router, d, inventory=inventory, range="198.51.100.190-198.51.100.199")
    assert rc != 0, res
    assert "could not write" in res["msg"] and "nothing was changed" in res["msg"], res["msg"]
    assert res["router_restored"] is True
    assert d.snapshot() == before and d.pid() == pid

    # 2. The restart fails once (after the new files are written): files put back, dnsmasq restarted with them.
    flag = tmp / "fail-once"
    flag.write_text("")
    failing = tmp / "restart-fails-once"
    failing.write_text(
        f"#!/bin/sh\nif [ -e {flag} ]; then rm -f {flag}; echo 'injected restart failure' >&2; "
        f"exit 1; fi\nexec {d.restart}\n"
    )
    failing.chmod(0o755)
    rc, res = reserve(router, d, range="198.51.100.190-198.51.100.199", restart_command=[str(failing)])
    assert rc != 0, res
    assert "injected restart failure" in res["msg"] and "the router is as it was" in res["msg"], res["msg"]
    assert d.snapshot() == before and d.running()


def test_ipv6_range_is_split_and_given_back(lan):
    router, client, tmp = lan
    d = Dnsmasq(
        router,
        tmp,
        [
            "set:lan,198.51.100.100,198.51.100.199,255.255.255.0,10m",
            "set:lan6,2001:db8:100::1000,2001:db8:100::1fff,64,10m",
        ],
    )
    before = d.snapshot()
    rc, res = reserve(router, d, range="2001:db8:100::1800-2001:db8:100::18ff")
    assert rc == 0 and res["changed"] is True, res
    assert res["scope"]["subnet"] == "2001:db8:100::/64"
    assert res["ranges_after"] == ["2001:db8:100::1000-2001:db8:100::17ff", "2001:db8:100::1900-2001:db8:100::1fff"]
    assert "dhcp-range=set:lan6,2001:db8:100::1900,2001:db8:100::1fff,64,10m" in d.dropin.read_text()
    assert d.running()
    rc, res = reserve(router, d, range="2001:db8:100::1800-2001:db8:100::18ff")
    assert rc == 0 and res["changed"] is False, res
    rc, res = reserve(router, d, range="2001:db8:100::1800-2001:db8:100::18ff", state="absent")
    assert rc == 0 and res["changed"] is True, res
    assert d.snapshot() == before
