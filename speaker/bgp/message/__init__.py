"""BGP messages: importing this package registers every kind (OPEN, UPDATE, NOTIFICATION, KEEPALIVE, ROUTE-REFRESH)."""

from speaker.bgp.message.base import HEADER, MARKER, MESSAGES, Reader, check_header, pack_message, unpack_message
from speaker.bgp.message.keepalive import Keepalive
from speaker.bgp.message.notification import NotificationMessage
from speaker.bgp.message.open import Open
from speaker.bgp.message.refresh import RouteRefresh
from speaker.bgp.message.update import Update

__all__ = [
    "HEADER",
    "MARKER",
    "MESSAGES",
    "Keepalive",
    "NotificationMessage",
    "Open",
    "Reader",
    "RouteRefresh",
    "Update",
    "check_header",
    "pack_message",
    "unpack_message",
]
