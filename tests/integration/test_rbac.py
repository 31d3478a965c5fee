"""The speakers' identity: ``baremetal.lb.speaker_identity`` creates a ServiceAccount, RBAC and a token, and a
real speaker works with exactly those rights — and visibly fails without one of them.

The emulator runs as a cluster with RBAC on (``ApiServer(rbac=True)``): its token controller fills the token
Secret the module creates, the token authenticates as ``system:serviceaccount:metallb-system:baremetal-lb-speaker``,
and every request of the speaker is authorized by the Roles, ClusterRoles and bindings *the module wrote* —
namespaced rights only in the speakers' namespace, as on a real cluster. The test's own client (DEFAULT_TOKEN,
the ``cluster`` fixture) is an admin.
"""

from __future__ import annotations

import base64
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.collection import ansible_doc, collection_path, run_module
from tests.integration.conftest import NS, wait_for
from tests.kubeapi import DEFAULT_TOKEN, ApiServer, write_kubeconfig

ROOT = Path(__file__).resolve().parents[2]
SA = "baremetal-lb-speaker"
RBAC = "rbac.authorization.k8s.io"


@pytest.fixture
def kube_api(rbac_kube_api: ApiServer) -> ApiServer:
    """The emulator with RBAC on (tests/integration/conftest.py)."""
    return rbac_kube_api


def identity(server: ApiServer, *, check: bool = False, **args: Any) -> tuple[int, dict[str, Any]]:
    """Run the module as an admin would (the emulator's admin token)."""
    return run_module(
        "baremetal.lb.speaker_identity", {"host": server.url, "api_key": DEFAULT_TOKEN, **args}, check=check, diff=True
    )


def revoke(server: ApiServer, group: str, resource: str, verb: str) -> None:
    """Take ``verb`` on ``resource`` out of the speakers' ClusterRole or Role, as an admin editing RBAC would."""
    for plural, ns in (("clusterroles", ""), ("roles", NS)):
        role = _obj(server, RBAC, plural, ns, SA)
        assert role is not None, f"{plural} {SA} missing"
        rules, hit = [], False
        for r in role["rules"]:
            if group in r.get("apiGroups", []) and resource in r.get("resources", []) and verb in r["verbs"]:
                r, hit = dict(r, verbs=[v for v in r["verbs"] if v != verb]), True
            if r["verbs"]:
                rules.append(r)
        if hit:
            server.api.update(server.resource(RBAC, plural), ns, SA, dict(role, rules=rules))
            return
    raise AssertionError(f"no rule of {SA} grants {verb} {resource}.{group}")


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


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
    # what a cluster's token controller issues: a JWT naming the account (and its uid) and the Secret
    claims = _claims(first["token"])
    sa = _obj(kube_api, "", "serviceaccounts", NS, SA)
    assert claims["sub"] == f"system:serviceaccount:{NS}:{SA}" and claims["iss"] == "kubernetes/serviceaccount"
    assert claims["kubernetes.io/serviceaccount/service-account.uid"] == sa["metadata"]["uid"]
    assert claims["kubernetes.io/serviceaccount/secret.name"] == f"{SA}-token"
    assert first["ca_cert"].startswith("-----BEGIN CERTIFICATE-----"), "ca.crt of the token Secret"
    # the token is a credential: it is not in the module's invocation, and the role registers it with no_log
    assert first["token"] not in json.dumps(first.get("invocation", {}))

    rc, second = identity(kube_api)
    assert rc == 0 and not second["changed"], second["commands"]
    assert second["token"] == first["token"], "a valid token was rotated"

    # Namespaced rights live in a Role of the speakers' namespace; the ClusterRole holds only cluster-wide reads,
    # services/status and events.
    cr = _obj(kube_api, RBAC, "clusterroles", "", SA)
    role = _obj(kube_api, RBAC, "roles", NS, SA)
    assert cr and role
    cluster_resources = {res for r in cr["rules"] for res in r["resources"]}
    assert cluster_resources == {"services", "nodes", "namespaces", "services/status", "endpointslices", "events"}
    assert all("*" not in r["verbs"] and "*" not in r["resources"] for r in cr["rules"] + role["rules"])
    lease_rules = [r for r in role["rules"] if "leases" in r["resources"]]
    assert {"get", "update"} <= {
        v for r in lease_rules if r.get("resourceNames") == ["baremetal-lb-allocator"] for v in r["verbs"]
    }

    # Drift is put back; the token survives.
    patched = dict(role, rules=role["rules"][:1])
    kube_api.api.update(kube_api.resource(RBAC, "roles"), NS, SA, patched)
    rc, third = identity(kube_api)
    assert third["changed"] and third["commands"] == [f"update Role {NS}/{SA} (rules)"], third["commands"]
    assert third["diff"]["before"][f"Role {NS}/{SA}"]["rules"] != third["diff"]["after"][f"Role {NS}/{SA}"]["rules"]
    assert third["token"] == first["token"]

    rc, gone = identity(kube_api, state="absent")
    assert rc == 0 and gone["changed"] and len(gone["commands"]) == 6
    assert _obj(kube_api, "", "secrets", NS, f"{SA}-token") is None
    rc, again = identity(kube_api, state="absent")
    assert rc == 0 and not again["changed"]


def test_rotate_token_replaces_the_token_and_revokes_the_old_one(kube_api: ApiServer) -> None:
    # A token controller derives the token from (namespace, account name and uid, Secret name), so re-creating
    # NAME-token would give the same token back: a rotation must use a new Secret name.
    rc, first = identity(kube_api)
    assert rc == 0 and first["secret"] == f"{SA}-token"
    rc, rotated = identity(kube_api, rotate_token=True)
    assert rc == 0 and rotated["changed"], rotated
    assert rotated["token"] and rotated["token"] != first["token"], "rotate_token handed back the same token"
    assert rotated["secret"].startswith(f"{SA}-token-"), rotated["secret"]
    assert rotated["commands"][-1] == f"delete Secret {NS}/{SA}-token (replaced by {rotated['secret']})"
    assert _obj(kube_api, "", "secrets", NS, f"{SA}-token") is None

    def whoami(token: str) -> int:
        req = urllib.request.Request(
            f"{kube_api.url}/api/v1/namespaces/{NS}/services", headers={"Authorization": f"Bearer {token}"}
        )
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status
        except urllib.error.HTTPError as exc:
            return exc.code

    assert whoami(rotated["token"]) == 200
    assert whoami(first["token"]) == 401, "the old token still authenticates"

    # the new token is kept on the next run, and removal finds the rotated Secret too
    rc, again = identity(kube_api)
    assert rc == 0 and not again["changed"] and again["token"] == rotated["token"], again["commands"]
    rc, gone = identity(kube_api, state="absent")
    assert rc == 0 and f"delete Secret {NS}/{rotated['secret']}" in gone["commands"], gone["commands"]
    assert whoami(rotated["token"]) == 401


def test_speaker_works_with_exactly_the_granted_rights(
    kube_api: ApiServer, cluster, speaker_token: str, speakers
) -> None:
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


def test_the_excludel2_configmap_and_no_other_is_readable(kube_api: ApiServer, speaker_token: str) -> None:
    """The speaker's by-name watch of MetalLB's metallb-excludel2 ConfigMap (speaker/daemon.py, Layer 2 only, so no
    speaker process here: it would answer ARP in the root namespace) is what the Role allows, and nothing more."""

    def get(query: str) -> int:
        req = urllib.request.Request(
            f"{kube_api.url}/api/v1/namespaces/{NS}/configmaps{query}",
            headers={"Authorization": f"Bearer {speaker_token}"},
        )
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status
        except urllib.error.HTTPError as exc:
            return exc.code

    by_name = "?fieldSelector=metadata.name%3Dmetallb-excludel2"
    assert get(by_name) == 200
    assert get(by_name + "&watch=true&timeoutSeconds=1") == 200
    assert get("/metallb-excludel2") == 404  # allowed, and not there
    assert get("") == 403
    assert get("?fieldSelector=metadata.name%3Dkube-root-ca.crt") == 403


def test_without_patch_services_status_the_service_gets_no_address(
    kube_api: ApiServer, cluster, speaker_token: str, speakers
) -> None:
    revoke(kube_api, "", "services/status", "patch")
    cluster.pool("lan", ["198.51.100.240-198.51.100.250"])
    sp = speakers("node-1")
    wait_for("the speaker to hold the allocator lease", sp.is_leader, timeout=15)
    cluster.service("traefik")
    wait_for("the speaker to log the refused status write", lambda: "HTTP 403" in sp.logs(), timeout=15)
    assert cluster.ips("traefik") == []


def test_without_the_lease_the_speaker_never_allocates(
    kube_api: ApiServer, cluster, speaker_token: str, speakers
) -> None:
    revoke(kube_api, "coordination.k8s.io", "leases", "create")
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


# --- the heartbeat key: MetalLB's memberlist Secret, read by name, created by the allocator leader ---------------


def _memberlist(kube_api: ApiServer) -> dict[str, Any] | None:
    return _obj(kube_api, "", "secrets", NS, "memberlist")


def _key_error(sp) -> str | None:
    return ((sp.status() or {}).get("membership") or {}).get("key_error")


def _denied(kube_api: ApiServer, verb: str, resource: str) -> int:
    return sum(1 for r in list(kube_api.request_log) if r[0] == verb and r[2] == resource and r[-1] == 403)


def test_the_leader_creates_the_memberlist_secret_in_metallbs_format(
    kube_api: ApiServer, speaker_token: str, speakers
) -> None:
    sp = speakers("node-1")
    wait_for("the speaker to hold the allocator lease", sp.is_leader, timeout=15)
    secret = wait_for("the memberlist Secret", lambda: _memberlist(kube_api), timeout=15)
    value = base64.b64decode(secret["data"]["secretkey"])
    # MetalLB's CreateMlSecret: 16 random bytes in base64.RawStdEncoding (22 characters, no padding)
    assert len(value) == 22 and b"=" not in value and len(base64.b64decode(value + b"==")) == 16
    wait_for("the speaker to use the key", lambda: _key_error(sp) is None, timeout=10)
    assert not [r for r in kube_api.request_log if r[-1] == 403], "the speaker was refused something"
    assert value.decode() not in sp.logs(), "the key was logged"


def test_the_name_scoped_rule_alone_reads_the_key(kube_api: ApiServer, cluster, speaker_token: str, speakers) -> None:
    """Without the namespace-wide list/watch of Secrets (BGP passwords), the speaker still reads the memberlist
    Secret: get/list/watch with resourceNames [memberlist] covers its by-name watch."""
    role = _obj(kube_api, RBAC, "roles", NS, SA)
    role["rules"] = [
        r
        for r in role["rules"]
        if not ("secrets" in r["resources"] and "list" in r["verbs"] and not r.get("resourceNames"))
    ]
    kube_api.api.update(kube_api.resource(RBAC, "roles"), NS, SA, role)
    role = _obj(kube_api, RBAC, "roles", NS, SA)
    secret_rules = [r for r in role["rules"] if "secrets" in r["resources"] and {"list", "watch"} & set(r["verbs"])]
    assert [r.get("resourceNames") for r in secret_rules] == [["memberlist"]]
    sp = speakers("node-1")
    wait_for(
        "the BGP passwords' namespace-wide list to be refused",
        lambda: _denied(kube_api, "list", "secrets") > 0,
        timeout=15,
    )
    # (it never syncs its caches without the BGP passwords' Secrets, but it leads and reads the key)
    wait_for("the memberlist Secret", lambda: _memberlist(kube_api), timeout=15)
    wait_for("the speaker to use the key", lambda: _key_error(sp) is None, timeout=10)


def test_without_rights_to_the_secret_the_speaker_says_why_once(
    kube_api: ApiServer, speaker_token: str, speakers
) -> None:
    for verb in ("list", "watch"):
        revoke(kube_api, "", "secrets", verb)  # from every rule: namespace-wide and by name
    sp = speakers("node-1")
    err = wait_for("the reason in /status", lambda: _key_error(sp), timeout=15)
    assert "cannot read Secret metallb-system/memberlist (HTTP 403" in err
    wait_for("several refused reads (the watch retries)", lambda: _denied(kube_api, "list", "secrets") >= 4, timeout=30)
    assert sp.logs().count("cannot read Secret metallb-system/memberlist") == 1, "not said once"


def test_without_create_the_leader_says_it_cannot_create_the_secret(
    kube_api: ApiServer, speaker_token: str, speakers
) -> None:
    revoke(kube_api, "", "secrets", "create")
    sp = speakers("node-1")
    wait_for("the speaker to hold the allocator lease", sp.is_leader, timeout=15)
    err = wait_for(
        "the reason in /status", lambda: (e := _key_error(sp)) and "creating it failed" in e and e, timeout=15
    )
    assert "(HTTP 403 Forbidden)" in err
    assert _memberlist(kube_api) is None
