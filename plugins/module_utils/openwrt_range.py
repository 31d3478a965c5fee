# -*- coding: utf-8 -*-
# Copyright: (c) 2026, baremetal-lb developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""OpenWrt's own DHCPv4 range arithmetic, as pure functions (no I/O).

OpenWrt never stores a range: ``/etc/config/dhcp`` holds ``start`` and ``limit`` per section, and the range is
computed at every service start. Which range a client really gets is therefore whatever these scripts compute, with
all their quirks, so the module computes it the same way instead of ``network + start``:

* dnsmasq (the default DHCPv4 server): ``dhcp_add`` in ``/etc/init.d/dnsmasq`` → ``ipcalc.sh``. Modelled on
  openwrt/openwrt v24.10.4 (78b23a26c4) ``package/network/services/dnsmasq/files/dnsmasq.init`` lines 4 (``START=19``,
  the boot order, which a failed calculation leaves in ``$START``), 95-106 (``dhcp_calc``: a dotted ``start`` becomes
  an integer), 521-606 (``dhcp_add``), ``package/base-files/files/bin/ipcalc.sh`` lines 98-138 (clamping and the
  router-address shift) and ``lib/functions.sh`` line 413 (the ``ipcalc`` wrapper whose ``set --`` hides the exit
  status); and on v23.05.4 (b9510660ce): ``dnsmasq.init`` lines 544 (``netmask`` default) 585-590 (``limit-1``,
  ``eval "$(ipcalc.sh ...)"``), ``bin/ipcalc.sh`` (awk) lines 61-87.
* odhcpd (when ``dhcp.odhcpd.maindhcp`` is set): openwrt/odhcpd 68f3826 ``src/config.c`` lines 1232-1245 (``start``,
  ``limit``) and ``src/dhcpv4.c`` lines 1362-1437 (``dhcpv4_setup_addresses``: the pool must lie inside the host part,
  else the per-prefix default pool).
* netifd (what the scripts see as the interface address): openwrt/netifd e97e36f ``proto.c`` lines 423-461 (the
  ``netmask`` option applies to an ``ipaddr`` without a prefix, default /32) and ``interface-ip.c`` line 578 (addresses
  keep their configuration order, so ``network_get_subnet`` answers the first ``ipaddr``).

``tests/data/openwrt/ipcalc.jsonl`` holds the scripts' real output for 29 cases on both releases; the unit tests
replay every record through :func:`dnsmasq_ranges`.
"""

from __future__ import annotations

import ipaddress
import typing as t

if t.TYPE_CHECKING:
    # A UCI option as read: a string, or a list for ``list`` options (None when unset).
    UciValue = t.Union[str, t.List[str], t.Tuple[str, ...], None]
    UciOptions = t.Mapping[str, t.Any]

RELEASES = ("23.05", "24.10")
UINT32_MAX = 0xFFFFFFFF
BOOT_ORDER_START = "19"  # dnsmasq.init line 4: `START=19`; a failed ipcalc leaves it in $START
_TRUE = ("1", "on", "true", "yes", "enabled")  # lib/functions.sh get_bool (line 153)
_FALSE = ("0", "off", "false", "no", "disabled")

_STDOUT_ORDER = {
    "24.10": ("IP", "NETMASK", "BROADCAST", "NETWORK", "PREFIX", "COUNT", "START", "END"),
    "23.05": ("IP", "NETMASK", "BROADCAST", "NETWORK", "PREFIX", "START", "END"),
}


class IpcalcResult(t.NamedTuple):
    """One ``ipcalc.sh`` run: exit status, the ``NAME=value`` lines it printed (as a dict) and its stderr."""

    rc: int
    values: dict[str, str]
    stderr: str
    release: str

    @property
    def stdout(self) -> str:
        return "".join(f"{k}={self.values[k]}\n" for k in _STDOUT_ORDER[self.release] if k in self.values)


class Range(t.NamedTuple):
    """What one ``dhcp`` section gives, as OpenWrt computes it.

    ``kind``: ``dynamic`` (``start``-``end`` handed out), ``static`` (``dynamicdhcp 0``: only static hosts),
    ``broken`` (a ``dhcp-range`` line is written but its START/END are not this section's own: the 24.10 failure mode,
    or another section's range reused), ``ignored`` (``ignore 1``: ``no-dhcp-interface``), ``disabled``
    (``dhcpv4 disabled``), ``skipped`` (``dhcp_add`` returned early: no ``interface``, interface down or not static),
    ``odhcpd-off`` (odhcpd does not serve it). ``line`` is the ``dhcp-range=`` line dnsmasq.init writes (or None);
    ``detail`` says why, in words.
    """

    section: str
    kind: str
    start: str | None
    end: str | None
    netmask: str | None
    line: str | None
    detail: str | None

    @property
    def first(self) -> ipaddress.IPv4Address | None:
        return ipaddress.IPv4Address(self.start) if self.kind == "dynamic" else None

    @property
    def last(self) -> ipaddress.IPv4Address | None:
        return ipaddress.IPv4Address(self.end) if self.kind == "dynamic" else None


def get_bool(value: object, default: bool) -> bool:
    """``lib/functions.sh`` ``get_bool``: the words OpenWrt accepts, anything else is the default."""
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    return default


def first_value(value: t.Any) -> t.Any:
    """A UCI option that may be a list: scripts that ``config_get`` a list see its items joined by spaces."""
    if isinstance(value, (list, tuple)):
        return " ".join(value)
    return value


def _getter(options: UciOptions) -> t.Callable[..., t.Any]:
    """``get(key, default)`` over one section's options, as ``config_get`` sees them (lists joined)."""

    def get(key: str, default: t.Any = None) -> t.Any:
        return first_value(options.get(key, default))

    return get


def dhcp_calc(start: object) -> int:
    """``dhcp_calc`` (dnsmasq.init line 95): ``'10.1.1.100'`` → 167838052; a plain number passes through.

    Raises ValueError for text the shell arithmetic would reject (the init script would then stop with an error).
    """
    text = str(start)
    if not text:
        raise ValueError("empty start")
    res = 0
    for part in text.split("."):
        if not part.isdigit():
            raise ValueError(f"start {text!r} is not a number or a dotted address")
        res = res * 256 + int(part)
    return res


def _ip2int(text: str) -> int:
    return int(ipaddress.IPv4Address(text))


def _int2ip(value: int) -> str:
    return str(ipaddress.IPv4Address(value & UINT32_MAX))


def _mask_from(prefix_or_netmask: object) -> tuple[int, int]:
    text = str(prefix_or_netmask)
    if "." in text:
        mask = _ip2int(text)
        prefix = bin(mask).count("1")
    else:
        prefix = int(text)
        if prefix > 32 or prefix < 0:
            raise ValueError(f"prefix out of range ({text})")
        mask = (UINT32_MAX << (32 - prefix)) & UINT32_MAX
    return mask, prefix


def _uint32(text: object) -> int | None:
    text = str(text)
    if not text.isdigit() or int(text) > UINT32_MAX or str(int(text)) != text:
        return None
    return int(text)


def ipcalc_2410(ip: str, prefix_or_netmask: object, start: object, limit: object) -> IpcalcResult:
    """``ipcalc.sh IP/MASK START LIMIT`` of 24.10 (pure shell over ``lib/functions/ipv4.sh``)."""
    ipaddr = _ip2int(ip)
    netmask, prefix = _mask_from(prefix_or_netmask)
    hostmask = netmask ^ UINT32_MAX
    network = ipaddr & netmask
    values = {
        "IP": _int2ip(ipaddr),
        "NETMASK": _int2ip(netmask),
        "NETWORK": _int2ip(network),
        "PREFIX": str(prefix),
        "COUNT": str(hostmask + 1),
    }
    if prefix <= 30:
        values["BROADCAST"] = _int2ip(network | hostmask)
    lower = network + 1 if prefix <= 30 else network
    offset = _uint32(start)
    if offset is None:
        return IpcalcResult(1, values, f"Not a decimal integer ({start})\n", "24.10")
    first = network | (offset & hostmask)
    if first < lower:
        first = lower
    if first == ipaddr:
        first += 1
    if prefix <= 30:
        upper = (network | hostmask) - 1
    elif prefix == 31:
        upper = network | hostmask
    else:
        upper = network
    count = _uint32(limit)
    if count is None:
        return IpcalcResult(1, values, f"Not a decimal integer ({limit})\n", "24.10")
    last = first + count - 1
    if last > upper:
        last = upper
    if last == ipaddr:
        last -= 1
    if first > last:
        return IpcalcResult(1, values, "network ({}/{}) too small\n".format(values["NETWORK"], prefix), "24.10")
    if first <= ipaddr <= last:
        return IpcalcResult(
            1,
            values,
            "error: address {} inside range {}..{}\n".format(values["IP"], _int2ip(first), _int2ip(last)),
            "24.10",
        )
    values.update(START=_int2ip(first), END=_int2ip(last))
    return IpcalcResult(0, values, "", "24.10")


def ipcalc_2305(ip: str, prefix_or_netmask: object, start: object, count_minus_one: object) -> IpcalcResult:
    """``ipcalc.sh IP MASK START LIMIT-1`` of 23.05 (awk; ``end = start + LIMIT-1``, no inside-range error)."""
    ipaddr = _ip2int(ip)
    netmask, prefix = _mask_from(prefix_or_netmask)
    hostmask = netmask ^ UINT32_MAX
    network = ipaddr & netmask
    values = {
        "IP": _int2ip(ipaddr),
        "NETMASK": _int2ip(netmask),
        "BROADCAST": _int2ip(network | hostmask),
        "NETWORK": _int2ip(network),
        "PREFIX": str(prefix),
    }
    first = network | (int(str(start)) & hostmask)
    if first < network + 1:
        first = network + 1
    if first == ipaddr:
        first = ipaddr + 1
    last = first + int(str(count_minus_one))
    if last > (network | hostmask) - 1:
        last = (network | hostmask) - 1
    if last == ipaddr:
        last = ipaddr - 1
    if first > last:
        return IpcalcResult(1, values, "network ({}/{}) too small\n".format(values["NETWORK"], prefix), "23.05")
    stderr = ""
    if first < ipaddr < last:
        stderr = "warning: ipaddr inside range - this might not be supported in future releases of Openwrt\n"
    values.update(START=_int2ip(first), END=_int2ip(last))
    return IpcalcResult(0, values, stderr, "23.05")


def ipcalc_argv(release: str, ipaddr: str, prefix_or_netmask: object, start: object, limit: object) -> list[str]:
    """The exact ``ipcalc.sh`` arguments dnsmasq.init passes (for the golden replay and for messages)."""
    if release == "23.05":
        count = int(str(limit))
        return ["ipcalc.sh", ipaddr, str(prefix_or_netmask), str(start), str(count - 1 if count > 0 else count)]
    return ["ipcalc.sh", f"{ipaddr}/{prefix_or_netmask}", str(start), str(limit)]


def run_ipcalc(argv: t.Sequence[str]) -> IpcalcResult:
    """Run the ``ipcalc.sh`` of the release whose argument shape ``argv`` has (4 args: 24.10, 5: 23.05)."""
    if len(argv) == 4:
        ip, dummy, mask = argv[1].partition("/")
        return ipcalc_2410(ip, mask, argv[2], argv[3])
    return ipcalc_2305(argv[1], argv[2], argv[3], argv[4])


def netifd_subnet(interface: UciOptions) -> tuple[str | None, str | None, str | None]:
    """What netifd reports for a ``network`` interface section (dict of options): ``(device, proto, "ip/prefix")``.

    Only static interfaces carry an address the scripts use; the first ``ipaddr`` counts, a prefix in it wins over
    ``netmask``, and with neither the prefix is /32 (netifd proto.c line 428).
    """
    proto = first_value(interface.get("proto"))
    device = first_value(interface.get("device")) or first_value(interface.get("ifname"))
    raw = interface.get("ipaddr")
    items = list(raw) if isinstance(raw, (list, tuple)) else ([raw] if raw else [])
    if proto != "static" or not items:
        return device, proto, None
    first = items[0]
    if "/" in first:
        addr, dummy, plen = first.partition("/")
    else:
        addr = first
        mask = first_value(interface.get("netmask"))
        plen = str(_mask_from(mask)[1]) if mask else "32"
    return device, proto, f"{addr}/{plen}"


def dnsmasq_ranges(
    release: str, sections: t.Sequence[tuple[str, UciOptions]], netifd: t.Mapping[str, t.Any], maindhcp: bool = False
) -> list[Range]:
    """Every ``dhcp`` section in configuration order → :class:`Range`, as dnsmasq.init computes them.

    ``sections``: ``[(name, options)]`` of the ``dhcp`` sections in file order (options: str or list);
    ``netifd``: ``{interface: {"device", "proto", "subnet"}}`` for the interfaces that are up (``subnet`` as
    ``ip/prefix``). ``maindhcp``: odhcpd serves DHCPv4 (dnsmasq writes no DHCP lines at all).

    Order matters because the init script's ``$START``/``$END`` are shared: a section whose calculation fails gets
    the previous section's values (24.10: ``guest_limit0_after_lan``) or ``START=19`` and an empty END.
    """
    if release not in RELEASES:
        raise ValueError("release must be one of {}".format(", ".join(RELEASES)))
    out: list[Range] = []
    shell = {"START": BOOT_ORDER_START, "END": "", "NETMASK": ""}
    for name, opts in sections:
        get = _getter(opts)
        if maindhcp:
            out.append(Range(name, "skipped", None, None, None, None, "odhcpd serves DHCPv4 (dhcp.odhcpd.maindhcp)"))
            continue
        net = get("interface")
        if not net:
            out.append(Range(name, "skipped", None, None, None, None, "no 'interface' option: dnsmasq.init skips it"))
            continue
        state = netifd.get(net)
        if not state or not state.get("device"):
            out.append(Range(name, "skipped", None, None, None, None, f"interface {net} is not up"))
            continue
        if get_bool(get("ignore"), False):
            out.append(
                Range(
                    name,
                    "ignored",
                    None,
                    None,
                    None,
                    None,
                    "ignore=1: dnsmasq answers no DHCP on {}".format(state["device"]),
                )
            )
            continue
        subnet = state.get("subnet")
        if not subnet or state.get("proto") != "static":
            out.append(
                Range(name, "skipped", None, None, None, None, f"interface {net} is not static with an IPv4 address")
            )
            continue
        ipaddr, dummy, plen = subnet.partition("/")
        netmask_opt = get("netmask")
        prefix_or_netmask = netmask_opt or plen
        start_raw = get("start", "100")
        limit = get("limit", "150")
        leasetime = get("leasetime", "12h")
        options = get("options")
        dynamic = get_bool(get("dynamicdhcpv4"), get_bool(get("dynamicdhcp"), True))
        if get("dhcpv4") == "disabled":
            out.append(Range(name, "disabled", None, None, None, None, "dhcpv4=disabled: no DHCPv4 range"))
            continue
        try:
            start = dhcp_calc(start_raw)
            argv = ipcalc_argv(release, ipaddr, prefix_or_netmask, start, limit)
            res = run_ipcalc(argv)
        except ValueError as exc:
            out.append(
                Range(
                    name,
                    "broken",
                    None,
                    None,
                    None,
                    None,
                    f"start={start_raw!r} limit={limit!r}: the init script fails ({exc})",
                )
            )
            continue
        # Both releases export what ipcalc.sh printed even when it failed (see the module docstring).
        own = res.rc == 0
        shell.update(dict((k, v) for k, v in res.values.items() if k in ("START", "END", "NETMASK")))
        tag = opts.get("tag")
        tag_list = tag if isinstance(tag, list) else ([tag] if tag else [])
        tags = "".join(f"tag:{item}," for item in tag_list)
        nettag = "set:%s," % (get("networkid") or net)
        end = "static" if not dynamic else shell["END"]
        line = "dhcp-range={}{}{},{},{},{}{}".format(
            tags,
            nettag,
            shell["START"],
            end,
            shell["NETMASK"],
            leasetime,
            " " + options if options else "",
        )
        if not own:
            out.append(
                Range(
                    name,
                    "broken",
                    None,
                    None,
                    shell["NETMASK"],
                    line,
                    f"start={start_raw} limit={limit} on {ipaddr}/{prefix_or_netmask}: ipcalc.sh fails "
                    f"({res.stderr.strip()}), yet dnsmasq.init writes {line!r}",
                )
            )
        elif not dynamic:
            out.append(Range(name, "static", None, None, shell["NETMASK"], line, "dynamicdhcp=0: static leases only"))
        else:
            out.append(
                Range(name, "dynamic", shell["START"], shell["END"], shell["NETMASK"], line, res.stderr.strip() or None)
            )
    return out


def odhcpd_range(section: str, options: UciOptions, interface_subnet: str | None) -> Range:
    """odhcpd's pool for one section when it serves DHCPv4 (``maindhcp``): :class:`Range`.

    ``start`` is a plain offset here (odhcpd parses it as an integer; a dotted address is not understood), the pool
    is start..start+limit-1 and must lie inside the host part without touching the broadcast address, else odhcpd
    finds no suitable network and hands out nothing; without ``start``/``limit`` it uses its per-prefix default.
    """
    get = _getter(options)
    if get_bool(get("ignore"), False) or get("dhcpv4") != "server":
        return Range(
            section,
            "odhcpd-off",
            None,
            None,
            None,
            None,
            "odhcpd serves DHCPv4 only with dhcpv4=server and without ignore=1",
        )
    if not interface_subnet:
        return Range(section, "skipped", None, None, None, None, "no static IPv4 address on the interface")
    iface = ipaddress.ip_interface(interface_subnet)
    if iface.network.prefixlen > 28:
        return Range(section, "skipped", None, None, None, None, "odhcpd serves prefixes up to /28 only")
    try:
        start = int(get("start")) if get("start") is not None else 0
        end = 0
        if get("start") is not None:
            end = start + 150 - 1
        if get("limit") is not None:
            end = start + int(get("limit")) - 1
    except ValueError:
        start, end = 0, 0
    if start > 0xFFFF or end > 0xFFFF or start > end:
        return Range(
            section,
            "static",
            None,
            None,
            str(iface.netmask),
            None,
            "start/limit out of range: odhcpd hands out static leases only",
        )
    if not get_bool(get("dynamicdhcp"), True):
        return Range(section, "static", None, None, str(iface.netmask), None, "dynamicdhcp=0: static leases only")
    hostmask = int(iface.hostmask)
    if (start and (start & hostmask) != start) or (end and ((end & hostmask) != end or end == hostmask)):
        return Range(
            section,
            "skipped",
            None,
            None,
            str(iface.netmask),
            None,
            "start={} limit={} do not fit {}: odhcpd finds no suitable network and hands out nothing".format(
                get("start"), get("limit"), iface.network
            ),
        )
    if not start or not end:
        start, end = {28: (3, 12), 27: (10, 29), 26: (10, 59), 25: (20, 119)}.get(iface.network.prefixlen, (100, 249))
    net = int(iface.network.network_address)
    return Range(section, "dynamic", _int2ip(net | start), _int2ip(net | end), str(iface.netmask), None, None)
