"""Debug entry point: one speaker, one peer, some routes, until Ctrl-C. Not the daemon (that is ``baremetal-lb``).

    python -m speaker.bgp --my-asn 64512 --peer 198.51.100.2 --peer-asn 64513 \\
        --route 198.51.100.100/32 --community 64512:100 [--password-file F] [--hold 9] [--source 198.51.100.10]
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import signal
import threading
from pathlib import Path

from speaker.bgp import BGPSpeaker, Route
from speaker.config.cluster import BGPPeer, Secret, parse_community


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m speaker.bgp", description=__doc__.split("\n")[0])
    ap.add_argument("--my-asn", type=int, required=True)
    ap.add_argument("--peer", required=True)
    ap.add_argument("--peer-asn", type=int, required=True)
    ap.add_argument("--port", type=int, default=179)
    ap.add_argument("--source")
    ap.add_argument("--router-id")
    ap.add_argument("--hold", type=int, default=90)
    ap.add_argument("--password-file", type=Path, help="TCP MD5 password (read from a file, never the command line)")
    ap.add_argument("--route", action="append", default=[])
    ap.add_argument("--community", action="append", default=[], help="AA:NN or large:A:B:C, for every route")
    ap.add_argument("--local-pref", type=int)
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(message)s")
    comms = [parse_community(c) for c in args.community]
    peer = BGPPeer(
        name="peer",
        my_asn=args.my_asn,
        peer_asn=args.peer_asn,
        address=ipaddress.ip_address(args.peer),
        port=args.port,
        source_address=ipaddress.ip_address(args.source) if args.source else None,
        hold_time=args.hold,
        keepalive_time=args.hold // 3,
        password=Secret(args.password_file.read_text().strip()) if args.password_file else None,
    )
    routes = [
        Route(
            ipaddress.ip_network(r, strict=False),
            communities=tuple((c.values[0] << 16) | c.values[1] for c in comms if not c.large),
            # misc: BGPCommunity.values is a tuple[int, ...]; a large one has exactly three (its parser)
            large_communities=tuple(c.values for c in comms if c.large),  # type: ignore[misc]
            local_pref=args.local_pref,
        )
        for r in args.route
    ]
    sp = BGPSpeaker("debug", router_id=args.router_id)
    sp.start()
    sp.set_routes({"peer": routes})
    sp.set_peers([peer])
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while not stop.wait(5):
        for st in sp.snapshot():
            logging.info(
                "%s %s sent=%d received=%d %s",
                st.address,
                st.state,
                st.prefixes_sent,
                st.prefixes_received,
                st.last_error,
            )
    sp.stop()


if __name__ == "__main__":
    main()
