# -*- coding: utf-8 -*-
# Copyright: (c) 2026, baremetal-lb developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The backend options that read a router (dhcp_reservation and dhcp_scope_info); the write-side ones
    # (service, restart_command, dnsmasq_binary, subnet_cmds) stay in dhcp_reservation.
    DOCUMENTATION = r"""
options:
  opnsense_dhcp:
    description:
      - OPNsense only. Which DHCP server the OPNsense box runs. V(isc) is refused with an explanation, because
        OPNsense offers no API for ISC DHCP ranges.
      - V(kea) needs Kea's C(Manual config) off (OPNsense never writes C(kea-dhcp4.conf) with it on; the module
        refuses). V(dnsmasq) scopes are named by interface, DHCP tag or prefix. The API user's privileges are
        listed in the collection's C(docs/router.md), section C(OPNsense - prepare your router).
    type: str
    choices: [kea, dnsmasq, isc]
    default: kea
  conf_file:
    description: dnsmasq only. The main configuration file (its C(conf-dir) and C(conf-file) lines are followed).
    type: path
    default: /etc/dnsmasq.conf
  config_dir:
    description:
      - dnsmasq only. Another directory of C(*.conf) drop-ins to read, as with C(conf-dir).
      - When neither O(config_dir) nor O(conf_file) is set and the packaged C(dnsmasq) service is what runs (no
        other C(service) or C(restart_command) given to M(baremetal.lb.dhcp_reservation)), the C(CONFIG_DIR) of
        C(/etc/default/dnsmasq) is read as well, as Debian's C(dnsmasq.service) does (by default C(/etc/dnsmasq.d)
        without its C(.dpkg-*) files).
    type: path
  lease_file:
    description:
      - dnsmasq and OpenWrt. The lease database; dnsmasq default the C(dhcp-leasefile) of the configuration,
        else C(/var/lib/misc/dnsmasq.leases); OpenWrt default the C(leasefile) of the C(dnsmasq) section, else
        C(/tmp/dhcp.leases) (read through rpcd with O(openwrt_transport=rpcd); with C(dhcp.odhcpd.maindhcp) the
        leases come from odhcpd's C(ubus call dhcp ipv4leases)).
    type: path
  uci_command:
    description: OpenWrt only, O(openwrt_transport=uci). The C(uci) executable.
    type: path
    default: uci
  openwrt_transport:
    description:
      - OpenWrt only. How the module reaches the router.
      - "V(rpcd) runs on the controller and calls rpcd's JSON-RPC at O(api_url)C(/ubus) (present wherever LuCI is),
        logged in with O(api_username)/O(api_password); the router needs no Python. The section 'OpenWrt: prepare
        your router' of the collection's C(docs/router.md) says how to create the rpcd login and its ACL."
      - V(uci) runs the task on the router itself (an OpenWrt with Python) and calls C(uci).
      - Default V(rpcd) when O(api_url) is set, else V(uci).
    type: str
    choices: [rpcd, uci]
"""
