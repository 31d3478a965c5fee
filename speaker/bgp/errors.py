"""``Notification``: the one exception the codec raises, and the error codes of RFC 4271 §4.5 / §6.

Every decode error is a :class:`Notification` carrying what goes on the wire (code, subcode, data) and a
human-readable reason that cites the RFC section, so the session can both send the right NOTIFICATION and log
a line a person can act on. Subcode names follow the IANA "BGP Error (Notification) Codes" registry.
"""

from __future__ import annotations

# Error codes (RFC 4271 §4.5)
MESSAGE_HEADER_ERROR = 1
OPEN_MESSAGE_ERROR = 2
UPDATE_MESSAGE_ERROR = 3
HOLD_TIMER_EXPIRED = 4
FSM_ERROR = 5
CEASE = 6
ROUTE_REFRESH_MESSAGE_ERROR = 7  # RFC 7313

# Message Header Error subcodes (RFC 4271 §6.1)
CONNECTION_NOT_SYNCHRONIZED = 1
BAD_MESSAGE_LENGTH = 2
BAD_MESSAGE_TYPE = 3

# OPEN Message Error subcodes (RFC 4271 §6.2, RFC 5492)
UNSUPPORTED_VERSION_NUMBER = 1
BAD_PEER_AS = 2
BAD_BGP_IDENTIFIER = 3
UNSUPPORTED_OPTIONAL_PARAMETER = 4
UNACCEPTABLE_HOLD_TIME = 6
UNSUPPORTED_CAPABILITY = 7

# UPDATE Message Error subcodes (RFC 4271 §6.3)
MALFORMED_ATTRIBUTE_LIST = 1
UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE = 2
MISSING_WELL_KNOWN_ATTRIBUTE = 3
ATTRIBUTE_FLAGS_ERROR = 4
ATTRIBUTE_LENGTH_ERROR = 5
INVALID_ORIGIN_ATTRIBUTE = 6
INVALID_NEXT_HOP_ATTRIBUTE = 8
OPTIONAL_ATTRIBUTE_ERROR = 9
INVALID_NETWORK_FIELD = 10
MALFORMED_AS_PATH = 11

# FSM Error subcodes (RFC 6608)
FSM_UNSPECIFIED = 0
FSM_UNEXPECTED_IN_OPENSENT = 1
FSM_UNEXPECTED_IN_OPENCONFIRM = 2
FSM_UNEXPECTED_IN_ESTABLISHED = 3

# Cease subcodes (RFC 4486)
CEASE_MAX_PREFIXES = 1
CEASE_ADMINISTRATIVE_SHUTDOWN = 2
CEASE_PEER_DECONFIGURED = 3
CEASE_ADMINISTRATIVE_RESET = 4
CEASE_CONNECTION_REJECTED = 5
CEASE_OTHER_CONFIGURATION_CHANGE = 6
CEASE_CONNECTION_COLLISION_RESOLUTION = 7
CEASE_OUT_OF_RESOURCES = 8

CODE_NAMES = {
    1: "Message Header Error",
    2: "OPEN Message Error",
    3: "UPDATE Message Error",
    4: "Hold Timer Expired",
    5: "Finite State Machine Error",
    6: "Cease",
    7: "ROUTE-REFRESH Message Error",
}
SUBCODE_NAMES = {
    (1, 1): "Connection Not Synchronized",
    (1, 2): "Bad Message Length",
    (1, 3): "Bad Message Type",
    (2, 1): "Unsupported Version Number",
    (2, 2): "Bad Peer AS",
    (2, 3): "Bad BGP Identifier",
    (2, 4): "Unsupported Optional Parameter",
    (2, 6): "Unacceptable Hold Time",
    (2, 7): "Unsupported Capability",
    (3, 1): "Malformed Attribute List",
    (3, 2): "Unrecognized Well-known Attribute",
    (3, 3): "Missing Well-known Attribute",
    (3, 4): "Attribute Flags Error",
    (3, 5): "Attribute Length Error",
    (3, 6): "Invalid ORIGIN Attribute",
    (3, 8): "Invalid NEXT_HOP Attribute",
    (3, 9): "Optional Attribute Error",
    (3, 10): "Invalid Network Field",
    (3, 11): "Malformed AS_PATH",
    (5, 1): "Receive Unexpected Message in OpenSent State",
    (5, 2): "Receive Unexpected Message in OpenConfirm State",
    (5, 3): "Receive Unexpected Message in Established State",
    (6, 1): "Maximum Number of Prefixes Reached",
    (6, 2): "Administrative Shutdown",
    (6, 3): "Peer De-configured",
    (6, 4): "Administrative Reset",
    (6, 5): "Connection Rejected",
    (6, 6): "Other Configuration Change",
    (6, 7): "Connection Collision Resolution",
    (6, 8): "Out of Resources",
    (6, 9): "Hard Reset",
}


def describe(code: int, subcode: int) -> str:
    """``"Cease / Administrative Shutdown (6/2)"``."""
    name = CODE_NAMES.get(code, f"unknown code {code}")
    sub = SUBCODE_NAMES.get((code, subcode))
    return f"{name} / {sub} ({code}/{subcode})" if sub else f"{name} ({code}/{subcode})"


class Notification(Exception):
    """A BGP error: what to send in the NOTIFICATION (``code``, ``subcode``, ``data``) and why (``reason``).

    Raised by every decoder for every malformed input, and by the session for protocol errors; never
    anything else (the codec's fuzz test holds it to that).
    """

    def __init__(self, code: int, subcode: int, data: bytes = b"", reason: str = "") -> None:
        self.code = code
        self.subcode = subcode
        self.data = bytes(data)
        self.reason = reason
        super().__init__(self.__str__())

    def __str__(self) -> str:
        text = describe(self.code, self.subcode)
        return f"{text}: {self.reason}" if self.reason else text

    def __repr__(self) -> str:
        return f"Notification({self.code}, {self.subcode}, {self.data!r}, {self.reason!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Notification) and (self.code, self.subcode, self.data) == (
            other.code,
            other.subcode,
            other.data,
        )

    def __hash__(self) -> int:
        return hash((self.code, self.subcode, self.data))
