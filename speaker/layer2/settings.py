"""``layer2:`` in the speaker config — ARP/NDP announcement; the one type for it, validated once (pure).

``speaker.config.node`` reads the file's section into it, the daemon hands it to the :class:`Announcer` as it is, and
``python -m speaker.layer2`` and the tests build their own. A bad value raises ``ValueError`` naming the setting
(``speaker.config.node`` turns it into its ``ConfigError``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from speaker.layer2.gratuitous import DEFAULT_BURST
from speaker.layer2.probe import ProbeSettings

RESPONDERS = ("process", "thread")


@dataclass(frozen=True)
class Layer2Settings:
    enabled: bool = True  # announce over ARP/NDP at all
    probe: bool = True  # RFC 5227 / DAD-style conflict probe before an address's first
    probing: ProbeSettings = field(default_factory=ProbeSettings)  # announcement, with these timers
    refresh_interval: float = 0.0  # re-announce every N s (switches with short FDB aging); 0: off
    leave_grace: float = 5.0  # on SIGTERM keep answering until peers took over, at most this long
    realtime_priority: int = 0  # SCHED_FIFO priority of whatever answers (CAP_SYS_NICE); 0: off
    responder: str = "process"  # "process": a child answers (docs/design/0011); "thread": the
    #                                               Announcer's loop thread does
    burst: tuple[float, ...] = DEFAULT_BURST  # gratuitous announcements at these offsets (s)
    pace: int = 128  # gratuitous (ip, interface) pairs sent per loop turn

    def __post_init__(self) -> None:
        # ``responder`` is checked where it is used: the config file (naming its field) and the Announcer, which
        # refuses an unknown mode before it opens anything.
        if self.refresh_interval < 0:
            raise ValueError(f"layer2.refresh_interval: {self.refresh_interval!r} must be positive (or 0: off)")
        if self.leave_grace <= 0:
            raise ValueError(f"layer2.leave_grace: {self.leave_grace!r} must be positive")
        if not 0 <= self.realtime_priority <= 99:
            raise ValueError(
                f"layer2.realtime_priority: {self.realtime_priority!r} must be an integer from 0 (off) to 99"
            )
        if self.pace < 1:
            raise ValueError(f"layer2.pace: {self.pace!r} must be at least 1")
