"""The speakers' identity: ``baremetal.lb.speaker_identity`` creates a ServiceAccount, RBAC and a token, and a
real speaker works with exactly those rights — and visibly fails without one of them.

The emulator stores the RBAC objects (molecule/resources/cluster.py adds the four kinds and the service-account
token controller to tests/kubeapi) and enforces a rule list per bearer token. The speaker's token gets the rules
*read back from the emulator* through its bindings (``rules_for_service_account``), so the test checks what the
module wrote, not a copy of it. The emulator's rules have no namespace dimension: that the namespaced rights are
in a Role in the speaker's namespace (and nothing namespaced is granted cluster-wide) is asserted separately.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest
from kubernetes import client

from tests.collection import ansible_doc, collection_path, run_module
from tests.integration.conftest import NS, wait_for
from tests.kubeapi import DEFAULT_TOKEN, ApiServer, write_kubeconfig

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("blb_molecule_cluster", ROOT / "molecule" / "resources" / "cluster.py")
cluster_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cluster_mod)  # type: ignore[union-attr]

ADMIN = [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]
SA = "baremetal-lb-speaker"


@pytest.fixture
def kube_api() -> Iterator[ApiServer]:
    """The emulator with RBAC objects served, a token controller, and authorization on: the test's own client
    (DEFAULT_TOKEN, the ``cluster`` fixture) is an admin; every other token needs rules."""
    server = cluster_mod.start(0, namespaces=())  # the module creates metallb-system (or the cluster fixture)
    server.set_authz({DEFAULT_TOKEN: ADMIN})
    stop = threading.Event()
    controller = cluster_mod.TokenController(server)

    def loop() -> None:
        while not stop.wait(0.1):
            try:
                controller.sync()
            except Exception as exc:  # noqa: BLE001 - a racing delete; the next pass sees the new state
                print(f"token controller: {exc!r}")

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    try:
        yield server
    finally:
        stop.set()
        t.join(2)
        server.stop()


def identity(server: ApiServer, *, check: bool = False, **args: Any) -> tuple[int, dict[str, Any]]:
    """Run the module as an admin would (the emulator's admin token)."""
    return run_module("baremetal.lb.speaker_identity", {"host": server.url, "api_key": DEFAULT_TOKEN, **args},
                      check=check, diff=True)


def grant(server: ApiServer, token: str, drop: tuple[str, str, str] | None = None) -> list[dict[str, Any]]:
    """Authorize ``token`` with the rules bound to the speakers' ServiceAccount, minus ``(group, resource, verb)``."""
    rules = cluster_mod.rules_for_service_account(server, NS, SA)
    if drop:
        group, resource, verb = drop
        kept = []
        for r in rules:
            if group in r.get("apiGroups", []) and resource in r.get("resources", []) and verb in r.get("verbs", []):
                r = dict(r, verbs=[v for v in r["verbs"] if v != verb])
            if r["verbs"]:
                kept.append(r)
        assert kept != rules, f"no rule grants {drop}"
        rules = kept
    server.set_authz({DEFAULT_TOKEN: ADMIN, token: {"user": f"system:serviceaccount:{NS}:{SA}", "rules": rules}})
    return rules


@pytest.fixture
def speaker_token(kube_api: ApiServer) -> str:
    rc, res = identity(kube_api)
    assert rc == 0, res
    assert res["token"]
    return res["token"]


@pytest.fixture
def kubeconfig(kube_api: ApiServer, speaker_token: str, tmp_path: Path) -> Path:
    """The speakers' kubeconfig carries the identity's token (overrides the conftest's admin kubeconfig)."""
    return write_kubeconfig(tmp_path / "speaker.kubeconfig", kube_api.url, token=speaker_token)


def _obj(server: ApiServer, group: str, plural: str, ns: str, name: str) -> dict[str, Any] | None:
    entry = server.store.get((group, plural), ns, name)
    return entry.obj if entry else None


def test_module_creates_least_privilege_identity_idempotently(kube_api: ApiServer) -> None:
    rc, check = identity(kube_api, check=True)
    assert rc == 0 and check["changed"] and check["token"] == ""
    assert _obj(kube_api, "", "serviceaccounts", NS, SA) is None, "check mode wrote"

    rc, first = identity(kube_api)
    assert rc == 0 and first["changed"], first
    assert "create ServiceAccount metallb-system/baremetal-lb-speaker" in first["commands"]
    assert first["service_account"] == f"system:serviceaccount:{NS}:{SA}"
    assert "token" in first and first["token"].startswith("sa.")
    # the token is a credential: it is not in the module's invocation, and the role registers it with no_log
    assert first["token"] not in json.dumps(first.get("invocation", {}))

    rc, second = identity(kube_api)
    assert rc == 0 and not second["changed"], second["commands"]
    assert second["token"] == first["token"], "a valid token was rotated"

    # Namespaced rights live in a Role of the speakers' namespace; the ClusterRole holds only cluster-wide reads,
    # services/status and events.
    cr = _obj(kube_api, "rbac.authorization.k8s.io", "clusterroles", "", SA)
    role = _obj(kube_api, "rbac.authorization.k8s.io", "roles", NS, SA)
    assert cr and role
    cluster_resources = {res for r in cr["rules"] for res in r["resources"]}
    assert cluster_resources == {"services", "nodes", "namespaces", "services/status", "endpointslices", "events"}
    assert all("*" not in r["verbs"] and "*" not in r["resources"] for r in cr["rules"] + role["rules"])
    lease_rules = [r for r in role["rules"] if "leases" in r["resources"]]
    assert {"get", "update"} <= {v for r in lease_rules if r.get("resourceNames") == ["baremetal-lb-allocator"]
                                 for v in r["verbs"]}

    # Drift is put back; the token survives.
    patched = dict(role, rules=role["rules"][:1])
    kube_api.api.update(kube_api.resource("rbac.authorization.k8s.io", "roles"), NS, SA, patched)
    rc, third = identity(kube_api)
    assert third["changed"] and third["commands"] == [f"update Role {NS}/{SA} (rules)"], third["commands"]
    assert third["diff"]["before"][f"Role {NS}/{SA}"]["rules"] != third["diff"]["after"][f"Role {NS}/{SA}"]["rules"]
    assert third["token"] == first["token"]

    # An explicit rotation replaces the token.
    rc, rotated = identity(kube_api, rotate_token=True)
    assert rc == 0 and rotated["changed"] and rotated["token"] != first["token"]

    rc, gone = identity(kube_api, state="absent")
    assert rc == 0 and gone["changed"] and len(gone["commands"]) == 6
    assert _obj(kube_api, "", "secrets", NS, f"{SA}-token") is None
    rc, again = identity(kube_api, state="absent")
    assert rc == 0 and not again["changed"]


def test_speaker_works_with_exactly_the_granted_rights(kube_api: ApiServer, cluster, speaker_token: str, speakers) -> None:
    grant(kube_api, speaker_token)
    cluster.pool("lan", ["198.51.100.240-198.51.100.250"])
    sp = speakers("node-1")
    wait_for("the speaker to hold the allocator lease", sp.is_leader, timeout=15)
    cluster.service("traefik")
    assert cluster.wait_ips("traefik") == ["198.51.100.240"]
    cluster.wait_event("traefik", "IPAllocated")
    wait_for("pool status", lambda: (cluster.get_pool("lan").get("status") or {}).get("assignedIPv4") == 1)
    lease = client.CoordinationV1Api(cluster.core.api_client).read_namespaced_lease("baremetal-lb-allocator", NS)
    assert lease.spec.holder_identity == "node-1"
    denied = [r for r in kube_api.request_log if r[-1] == 403]
    assert not denied, f"the speaker was refused: {denied[:5]}"
    assert "403" not in sp.logs()


def test_without_patch_services_status_the_service_gets_no_address(kube_api: ApiServer, cluster, speaker_token: str,
                                                                  speakers) -> None:
    grant(kube_api, speaker_token, drop=("", "services/status", "patch"))
    cluster.pool("lan", ["198.51.100.240-198.51.100.250"])
    sp = speakers("node-1")
    wait_for("the speaker to hold the allocator lease", sp.is_leader, timeout=15)
    cluster.service("traefik")
    wait_for("the speaker to log the refused status write", lambda: "HTTP 403" in sp.logs(), timeout=15)
    assert cluster.ips("traefik") == []


def test_without_the_lease_the_speaker_never_allocates(kube_api: ApiServer, cluster, speaker_token: str,
                                                       speakers) -> None:
    grant(kube_api, speaker_token, drop=("coordination.k8s.io", "leases", "create"))
    cluster.pool("lan", ["198.51.100.240-198.51.100.250"])
    sp = speakers("node-1")
    cluster.service("traefik")
    wait_for("a refused lease request", lambda: any(r[-1] == 403 for r in kube_api.request_log), timeout=15)
    assert not sp.is_leader()
    assert cluster.ips("traefik") == []


def test_module_documentation_matches_its_options() -> None:
    doc = json.loads(ansible_doc("baremetal.lb.speaker_identity", json_output=True))
    options = set(doc["baremetal.lb.speaker_identity"]["doc"]["options"])
    sys.path.insert(0, str(collection_path()))
    try:
        from ansible_collections.baremetal.lb.plugins.module_utils.speaker_identity import SPEAKER_IDENTITY_ARG_SPEC
    finally:
        sys.path.remove(str(collection_path()))
    assert options == set(SPEAKER_IDENTITY_ARG_SPEC)
