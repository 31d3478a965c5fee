"""Capabilities: importing this package registers every kind."""

from speaker.bgp.capability.asn4 import FourOctetAs
from speaker.bgp.capability.base import CAPABILITIES, UnknownCapability, pack_capability, unpack_capability
from speaker.bgp.capability.graceful_restart import GracefulRestart
from speaker.bgp.capability.multiprotocol import Multiprotocol
from speaker.bgp.capability.refresh import RouteRefreshCapability

__all__ = [
    "CAPABILITIES",
    "FourOctetAs",
    "GracefulRestart",
    "Multiprotocol",
    "RouteRefreshCapability",
    "UnknownCapability",
    "pack_capability",
    "unpack_capability",
]
