"""Start the emulated cluster the Molecule scenarios and the lab run against: ``tests.kubeapi`` with the project's
CRDs, the ``metallb-system`` namespace and, with ``--enforce-rbac``, authorization as a real cluster does it.

Everything a control plane does here (the RBAC kinds, the service-account token controller, token authentication,
RBAC from the stored objects) is the emulator's own (tests/kubeapi/rbac.py, serviceaccounts.py); this file only
chooses how to start it.

Command line (Molecule's create step runs it inside the scenario's network namespace)::

    python molecule/resources/cluster.py PORT [--host 127.0.0.1] [--enforce-rbac]

prints the URL once listening and serves until SIGTERM. ``--enforce-rbac``: the admin token ``molecule-admin`` may
do anything; every other request needs a service-account token whose account the stored RBAC objects grant the
request to. Without it every request is allowed.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.kubeapi import ApiServer  # noqa: E402
from tests.kubeapi.server import DEFAULT_NAMESPACES  # noqa: E402

ADMIN_TOKEN = "molecule-admin"
ADMIN = {
    "user": "molecule-admin",
    "groups": ["system:masters"],
    "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
}


def start(
    port: int = 0,
    host: str = "127.0.0.1",
    *,
    enforce_rbac: bool = False,
    namespaces: Iterable[str] = ("metallb-system",),
) -> ApiServer:
    """A started emulator with the project's CRDs; with ``enforce_rbac``, ``ADMIN_TOKEN`` plus RBAC."""
    return ApiServer(
        port,
        crd_dirs=[ROOT / "speaker" / "crds"],
        host=host,
        namespaces=(*DEFAULT_NAMESPACES, *namespaces),
        authz={ADMIN_TOKEN: ADMIN} if enforce_rbac else None,
        rbac=enforce_rbac,
    ).start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cluster.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("port", type=int)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--enforce-rbac", action="store_true")
    args = parser.parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server = start(args.port, args.host, enforce_rbac=args.enforce_rbac)
    print(server.url, flush=True)
    try:
        stop.wait()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
