"""Conflict detection before first announcing an address: RFC 5227 ARP probes and DAD-style NS. Pure.

``probe_frames`` says what to send; ``conflicting_mac`` decides whether a frame seen while probing shows
another host using (or claiming) the address. The responder sends the probes and feeds frames in.

Timing (``ProbeSettings`` defaults): 2 probes, 100 ms apart, conflict window closes 200 ms after the first.
A Linux host answers an ARP probe / DAD NS for one of its addresses in ~10 µs on a LAN (LAB-NOTES), so
200 ms leaves room for a busy host, a slow stack and one lost frame, and delays a *newly allocated*
address by only 0.2 s. RFC 5227's 1-2 s between three probes is meant for hosts configuring themselves
on slow links; here a person is waiting for ``kubectl get svc``. Probing never delays a takeover: the daemon
asks for it only for addresses no speaker has announced before (a VIP moving between speakers is answered by
the old node while the new one probes, which would look like a conflict).
"""

from __future__ import annotations

from dataclasses import dataclass

from speaker.layer2.frames import UNSPECIFIED_V6, arp_probe, dad_probe


@dataclass(frozen=True)
class ProbeSettings:
    count: int = 2  # probes sent per interface
    interval: float = 0.1  # seconds between probes
    timeout: float = 0.2  # window (from the first probe) in which an answer counts as a conflict
    retry: float = 30.0  # after a conflict, probe again this much later (the other host may leave)
    # After an answer from another of our own speakers (the announcer's ``peer_of``): not a conflict but a handover
    # still under way — the nodes' views of who is alive differ for an interval after one starts — so probe again
    # soon (0.5-1.5 times this, at random: two nodes whose probes crossed must not cross again); the address is free
    # the moment that speaker's own plan gives it to us.
    peer_retry: float = 1.0


def probe_frames(mac: bytes, ip: bytes) -> bytes:
    return arp_probe(mac, ip) if len(ip) == 4 else dad_probe(mac, ip)


def conflicting_mac(frame: bytes, ip: bytes, our_macs: frozenset[bytes] | set[bytes]) -> bytes | None:
    """The MAC of another host that ``frame`` shows using or probing ``ip`` (packed), else None.

    IPv4 (RFC 5227 2.1.1): any ARP packet with sender IP = ip, or an ARP probe (sender IP 0) for ip from
    another host. IPv6 (RFC 4862 5.4.3/5.4.4): an NA whose target is ip, or a DAD NS for ip from another host.
    """
    if len(frame) < 42:
        return None
    src_mac = frame[6:12]
    if src_mac in our_macs:
        return None
    if len(ip) == 4:
        if frame[12:14] != b"\x08\x06" or frame[14:20] != b"\x00\x01\x08\x00\x06\x04":
            return None
        sha, spa, tpa = frame[22:28], frame[28:32], frame[38:42]
        if sha in our_macs:
            return None
        if spa == ip:
            return sha
        if spa == b"\x00\x00\x00\x00" and tpa == ip and frame[20:22] == b"\x00\x01":
            return sha
        return None
    if len(frame) < 78 or frame[12:14] != b"\x86\xdd" or frame[20] != 58 or frame[21] != 255:
        return None
    icmp_type, target = frame[54], frame[62:78]
    if target != ip:
        return None
    if icmp_type == 136:
        return _tlla(frame) or src_mac
    if icmp_type == 135 and frame[22:38] == UNSPECIFIED_V6:
        return src_mac
    return None


def _tlla(frame: bytes) -> bytes | None:
    i = 78
    while i + 8 <= len(frame):
        otype, olen = frame[i], frame[i + 1] * 8
        if olen == 0:
            return None
        if otype == 2:
            return frame[i + 2 : i + 8]
        i += olen
    return None
