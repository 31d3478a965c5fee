"""Path attributes: importing this package registers every kind."""

from speaker.bgp.attribute.aspath import AS_SEQUENCE, AS_SET, As4Path, AsPath, as4_path_for, merge_as4_path
from speaker.bgp.attribute.base import (
    ATTRIBUTES,
    EXTENDED_LENGTH,
    OPTIONAL,
    PARTIAL,
    TRANSITIVE,
    UnknownAttribute,
    pack_attribute,
    unpack_attributes,
)
from speaker.bgp.attribute.communities import Communities, LargeCommunities
from speaker.bgp.attribute.mp import MpReach, MpUnreach
from speaker.bgp.attribute.origin import EGP, IGP, INCOMPLETE, Origin
from speaker.bgp.attribute.simple import AtomicAggregate, LocalPref, Med, NextHop

__all__ = [
    "AS_SEQUENCE",
    "AS_SET",
    "ATTRIBUTES",
    "EGP",
    "EXTENDED_LENGTH",
    "IGP",
    "INCOMPLETE",
    "OPTIONAL",
    "PARTIAL",
    "TRANSITIVE",
    "As4Path",
    "AsPath",
    "AtomicAggregate",
    "Communities",
    "LargeCommunities",
    "LocalPref",
    "Med",
    "MpReach",
    "MpUnreach",
    "NextHop",
    "Origin",
    "UnknownAttribute",
    "as4_path_for",
    "merge_as4_path",
    "pack_attribute",
    "unpack_attributes",
]
