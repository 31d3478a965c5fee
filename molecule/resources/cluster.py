"""The emulated cluster the Molecule scenarios (and tests/integration/test_rbac.py) run against.

``tests.kubeapi.ApiServer`` plus the two pieces of a real control plane that the speaker role and
``baremetal.lb.speaker_identity`` meet and the emulator does not serve by itself:

* ``rbac.authorization.k8s.io/v1`` ClusterRoles, ClusterRoleBindings, Roles, RoleBindings (stored and served;
  enforcement stays the emulator's per-token rule list, see :func:`rules_for_service_account`);
* the service-account **token controller**: a Secret of type ``kubernetes.io/service-account-token`` that names
  an existing ServiceAccount gets ``data.token``/``ca.crt``/``namespace`` filled in, as kube-controller-manager
  does.

Command line (Molecule's create step runs it inside the scenario's network namespace)::

    python molecule/resources/cluster.py PORT [--host 127.0.0.1] [--enforce-rbac]

prints the URL once listening and serves until SIGTERM. ``--enforce-rbac`` makes every token a
ServiceAccount token whose rights are the RBAC objects bound to that account (re-derived on every change), plus
an admin token ``molecule-admin``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import signal
import sys
import threading
from pathlib import Path
from typing import Any, Iterable, Mapping

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.kubeapi.resources import ResourceType, _keys  # noqa: E402
from tests.kubeapi.server import ApiServer  # noqa: E402
from tests.kubeapi.strategies import strategy_for  # noqa: E402

RBAC = "rbac.authorization.k8s.io"
ADMIN_TOKEN = "molecule-admin"
TOKEN_TYPE = "kubernetes.io/service-account-token"
SA_ANNOTATION = "kubernetes.io/service-account.name"
SA_UID_ANNOTATION = "kubernetes.io/service-account.uid"
_RBAC_KINDS = (("clusterroles", "ClusterRole", False), ("clusterrolebindings", "ClusterRoleBinding", False),
               ("roles", "Role", True), ("rolebindings", "RoleBinding", True))


def serve_rbac(server: ApiServer) -> None:
    """Register the four RBAC kinds (plain stored objects, no escalation checks)."""
    for plural, kind, namespaced in _RBAC_KINDS:
        if server.registry.by_key((RBAC, plural)) is not None:
            continue
        rt = ResourceType(RBAC, "v1", plural, kind.lower(), kind, namespaced, merge_keys=_keys())
        rt.strategy = strategy_for(rt)
        server.registry.add(rt)


def _items(server: ApiServer, group: str, plural: str, namespace: str | None = None) -> list[dict[str, Any]]:
    rt = server.resource(group, plural)
    entries, *_ = server.api.list(rt, namespace)
    return [e.obj for e in entries]


def rules_for_service_account(server: ApiServer, namespace: str, name: str) -> list[dict[str, Any]]:
    """The rules RBAC grants ``system:serviceaccount:NAMESPACE:NAME`` through bindings stored in ``server``.

    The emulator's rule check has no namespace dimension, so a Role's rules are granted as they are: tests that
    care (test_rbac.py) check the namespaces separately.
    """
    def binds(binding: Mapping[str, Any]) -> bool:
        return any(s.get("kind") == "ServiceAccount" and s.get("name") == name
                   and s.get("namespace", binding["metadata"].get("namespace")) == namespace
                   for s in binding.get("subjects") or [])

    roles = {("ClusterRole", r["metadata"]["name"]): r for r in _items(server, RBAC, "clusterroles")}
    roles.update({("Role", r["metadata"]["namespace"], r["metadata"]["name"]): r for r in _items(server, RBAC, "roles")})
    rules: list[dict[str, Any]] = []
    for binding in _items(server, RBAC, "clusterrolebindings") + _items(server, RBAC, "rolebindings"):
        if not binds(binding):
            continue
        ref = binding.get("roleRef") or {}
        if ref.get("kind") == "ClusterRole":
            role = roles.get(("ClusterRole", ref.get("name")))
        else:
            role = roles.get(("Role", binding["metadata"].get("namespace"), ref.get("name")))
        rules.extend((role or {}).get("rules") or [])
    return rules


class TokenController:
    """Fills ``kubernetes.io/service-account-token`` Secrets, like kube-controller-manager's token controller."""

    def __init__(self, server: ApiServer, *, ca_pem: bytes = b"") -> None:
        self.server = server
        self.ca_pem = ca_pem
        self.tokens: dict[str, tuple[str, str]] = {}  # token -> (namespace, service account)

    def sync(self) -> int:
        """One pass; returns how many Secrets were filled. Deterministic per Secret uid (a restart keeps tokens)."""
        filled = 0
        core_secrets = self.server.resource("", "secrets")
        for secret in _items(self.server, "", "secrets"):
            meta = secret["metadata"]
            sa = (meta.get("annotations") or {}).get(SA_ANNOTATION)
            if secret.get("type") != TOKEN_TYPE or not sa:
                continue
            uid = meta.get("uid") or f"{meta['namespace']}/{meta['name']}/{meta.get('creationTimestamp')}"
            token = "sa." + hashlib.sha256(uid.encode()).hexdigest()[:40]
            self.tokens[token] = (meta["namespace"], sa)
            if (secret.get("data") or {}).get("token"):
                continue
            account = next((s for s in _items(self.server, "", "serviceaccounts", meta["namespace"])
                            if s["metadata"]["name"] == sa), None)
            if account is None:
                continue
            body = dict(secret)
            body["metadata"] = dict(meta, annotations=dict(meta.get("annotations") or {},
                                                           **{SA_UID_ANNOTATION: account["metadata"].get("uid", "")}))
            body["data"] = dict(secret.get("data") or {}, **{
                "token": base64.b64encode(token.encode()).decode(),
                "namespace": base64.b64encode(meta["namespace"].encode()).decode(),
                "ca.crt": base64.b64encode(self.ca_pem).decode(),
            })
            self.server.api.update(core_secrets, meta["namespace"], meta["name"], body)
            filled += 1
        return filled


def enforce(server: ApiServer, controller: TokenController, extra: Mapping[str, Any] | None = None) -> None:
    """Authorize each service-account token by its bindings; ``ADMIN_TOKEN`` may do anything."""
    authz: dict[str, Any] = {ADMIN_TOKEN: {"user": "molecule-admin",
                                          "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}}
    for token, (ns, sa) in controller.tokens.items():
        authz[token] = {"user": f"system:serviceaccount:{ns}:{sa}", "rules": rules_for_service_account(server, ns, sa)}
    authz.update(extra or {})
    server.set_authz(authz)


def run_controllers(server: ApiServer, stop: threading.Event, *, enforce_rbac: bool, interval: float = 0.2) -> None:
    controller = TokenController(server)
    while not stop.wait(interval):
        try:
            controller.sync()
            if enforce_rbac:
                enforce(server, controller)
        except Exception as exc:  # noqa: BLE001 - a test fixture keeps serving
            print(f"cluster.py: controller pass failed: {exc!r}", file=sys.stderr, flush=True)


def start(port: int = 0, host: str = "127.0.0.1", namespaces: Iterable[str] = ("metallb-system",)) -> ApiServer:
    server = ApiServer(port, crd_dirs=[ROOT / "speaker" / "crds"], host=host,
                       namespaces=("default", "kube-system", "kube-public", "kube-node-lease", *namespaces))
    serve_rbac(server)
    return server.start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cluster.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("port", type=int)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--enforce-rbac", action="store_true")
    args = parser.parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server = start(args.port, args.host)
    if args.enforce_rbac:
        server.set_authz({ADMIN_TOKEN: [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]})
    worker = threading.Thread(target=run_controllers, args=(server, stop), kwargs={"enforce_rbac": args.enforce_rbac},
                              daemon=True)
    worker.start()
    print(server.url, flush=True)
    try:
        stop.wait()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
