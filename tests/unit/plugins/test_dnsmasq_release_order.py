"""dnsmasq: reservations given back in any order (the file, line for line, through the driver).

Each reservation replaces the ``dhcp-range`` line it cuts by a marker comment and the pieces, so a newer band cut
from an older band's piece nests its marker inside the older block. Giving back the older band first must leave
the file exactly as if only the newer band had been reserved, and giving back the rest the admin's file byte for
byte. (The real dnsmasq runs the same sequence in tests/integration/test_many_reservations.py.)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.collection import collection_path

sys.path.insert(0, str(collection_path()))
from ansible_collections.baremetal.lb.plugins.module_utils import backend_dnsmasq, dhcp_backend

ADMIN = "# LAN\ndhcp-range=set:lan,198.51.100.100,198.51.100.250,255.255.255.0,10m\n"
MARK = "# baremetal-lb: reserved {} (baremetal.lb.dhcp_reservation); was: dhcp-range=set:lan,{}"


def run_command(argv: list[str]) -> tuple[int, str, str]:
    if argv[:3] == ["ip", "-j", "addr"]:
        return (
            0,
            json.dumps(
                [
                    {
                        "ifname": "lan0",
                        "addr_info": [{"family": "inet", "local": "198.51.100.1", "prefixlen": 24, "scope": "global"}],
                    }
                ]
            ),
            "",
        )
    return 0, "", ""  # dnsmasq --test, the restart


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    path = tmp_path / "dnsmasq.conf"
    path.write_text(ADMIN)
    return path


def run(conf: Path, band: str, state: str) -> dict[str, Any]:
    backend = backend_dnsmasq.DnsmasqBackend(
        str(conf), run_command, lease_file=str(conf.parent / "leases"), restart_command=["true"]
    )
    return dhcp_backend.run(backend, band, state=state)


def test_the_older_band_is_given_back_first(conf: Path) -> None:
    run(conf, "198.51.100.240-198.51.100.250", "present")
    run(conf, "198.51.100.230-198.51.100.239", "present")
    assert conf.read_text() == (
        "# LAN\n"
        + MARK.format("198.51.100.240-198.51.100.250", "198.51.100.100,198.51.100.250,255.255.255.0,10m")
        + "\n"
        + MARK.format("198.51.100.230-198.51.100.239", "198.51.100.100,198.51.100.239,255.255.255.0,10m")
        + "\n"
        + "dhcp-range=set:lan,198.51.100.100,198.51.100.229,255.255.255.0,10m\n"
    )

    res = run(conf, "198.51.100.240-198.51.100.250", "absent")
    assert res["changed"] and res["ranges_after"] == ["198.51.100.100-198.51.100.229", "198.51.100.240-198.51.100.250"]
    assert conf.read_text() == (
        "# LAN\n"
        + MARK.format("198.51.100.230-198.51.100.239", "198.51.100.100,198.51.100.250,255.255.255.0,10m")
        + "\n"
        + "dhcp-range=set:lan,198.51.100.100,198.51.100.229,255.255.255.0,10m\n"
        + "dhcp-range=set:lan,198.51.100.240,198.51.100.250,255.255.255.0,10m\n"
    )
    assert not run(conf, "198.51.100.240-198.51.100.250", "absent")["changed"]

    run(conf, "198.51.100.230-198.51.100.239", "absent")
    assert conf.read_text() == ADMIN


def test_a_middle_band_of_a_split_range(conf: Path) -> None:
    """150-159 splits the range; 200-209 cuts the upper piece, 120-129 the lower; 150-159 goes back first."""
    for band in ("198.51.100.150-198.51.100.159", "198.51.100.200-198.51.100.209", "198.51.100.120-198.51.100.129"):
        run(conf, band, "present")
    res = run(conf, "198.51.100.150-198.51.100.159", "absent")
    assert res["ranges_after"] == [
        "198.51.100.100-198.51.100.119",
        "198.51.100.130-198.51.100.199",
        "198.51.100.210-198.51.100.250",
    ]
    for band in ("198.51.100.120-198.51.100.129", "198.51.100.200-198.51.100.209"):
        run(conf, band, "absent")
    assert conf.read_text() == ADMIN


def test_lines_changed_by_hand_below_a_marker_are_refused(conf: Path) -> None:
    run(conf, "198.51.100.240-198.51.100.250", "present")
    conf.write_text(conf.read_text().replace("198.51.100.239", "198.51.100.200"))
    before = conf.read_text()
    with pytest.raises(dhcp_backend.ReservationError, match="changed by hand"):
        run(conf, "198.51.100.240-198.51.100.250", "absent")
    assert conf.read_text() == before
