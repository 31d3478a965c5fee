"""dnsmasq on Debian: the packaged service reads /etc/dnsmasq.d (CONFIG_DIR in /etc/default/dnsmasq).

A Debian admin writes ``dhcp-range`` in /etc/dnsmasq.d/lan.conf and leaves /etc/dnsmasq.conf all comments. With
the module's defaults the backend must read what dnsmasq.service reads — the same directory, with the
``.dpkg-dist``/``.dpkg-old`` leftovers left out — or it would report "no scope" for a range the router serves.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.collection import collection_path

sys.path.insert(0, str(collection_path()))
from ansible_collections.baremetal.lb.plugins.module_utils import backend_dnsmasq


@pytest.fixture
def debian_router(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A dnsmasq tree shaped like Debian 12's package: comments-only main file, drop-ins, a dpkg leftover."""
    (tmp_path / "dnsmasq.conf").write_text(
        "# Configuration file for dnsmasq.\n#dhcp-range=192.168.0.50,192.168.0.150,12h\n"
    )
    dropins = tmp_path / "dnsmasq.d"
    dropins.mkdir()
    (dropins / "README").write_text("# files in this directory are read by dnsmasq.service\n")
    (dropins / "lan.conf").write_text("interface=lan0\ndhcp-range=192.0.2.230,192.0.2.254,10m\n")
    (dropins / "lan.conf.dpkg-old").write_text("dhcp-range=192.0.2.10,192.0.2.20,10m\n")
    defaults = tmp_path / "default-dnsmasq"
    defaults.write_text(
        f"# Debian's /etc/default/dnsmasq\nENABLED=1\nCONFIG_DIR={dropins},.dpkg-dist,.dpkg-old,.dpkg-new\n"
    )
    monkeypatch.setattr(backend_dnsmasq, "DEFAULT_CONF_FILE", str(tmp_path / "dnsmasq.conf"))
    monkeypatch.setattr(backend_dnsmasq, "DEBIAN_DEFAULTS", str(defaults))
    return tmp_path


def _dhcp_ranges(backend: backend_dnsmasq.DnsmasqBackend) -> list[str]:
    return [line for _path, lines in backend._load() for line in lines if line.startswith("dhcp-range=")]


def test_packaged_service_reads_config_dir_without_dpkg_leftovers(debian_router: Path) -> None:
    backend = backend_dnsmasq.DnsmasqBackend.from_params({"service": "dnsmasq"}, run_command=None)
    assert _dhcp_ranges(backend) == ["dhcp-range=192.0.2.230,192.0.2.254,10m"]


@pytest.mark.parametrize(
    "params",
    [
        {"restart_command": ["/etc/init.d/dnsmasq", "restart"]},  # not the packaged unit: its own command line
        {"service": "dnsmasq@lan"},  # an instance unit with its own options
    ],
)
def test_other_ways_of_running_dnsmasq_read_only_what_they_are_told(debian_router: Path, params: dict) -> None:
    backend = backend_dnsmasq.DnsmasqBackend.from_params(params, run_command=None)
    assert _dhcp_ranges(backend) == []


def test_explicit_config_dir_wins_over_the_service_default(debian_router: Path, tmp_path: Path) -> None:
    own = tmp_path / "own.d"
    own.mkdir()
    (own / "scope.conf").write_text("dhcp-range=198.51.100.100,198.51.100.200,1h\n")
    (own / "notes.txt").write_text("dhcp-range=198.51.100.1,198.51.100.2,1h\n")
    backend = backend_dnsmasq.DnsmasqBackend.from_params({"config_dir": str(own)}, run_command=None)
    assert _dhcp_ranges(backend) == ["dhcp-range=198.51.100.100,198.51.100.200,1h"]
