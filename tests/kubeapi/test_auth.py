"""RBAC objects, service-account tokens and authorization: each test names the kube-apiserver (or
kube-controller-manager) behaviour it checks."""

from __future__ import annotations

import base64
import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from tests.kubeapi import ApiServer, api_client
from tests.netlab import require_binaries

from .conftest import api_error, lb_service
from .test_clients import _kubectl

ADMIN = "admin-token"
RBAC = "rbac.authorization.k8s.io"
TOKEN_TYPE = "kubernetes.io/service-account-token"


@pytest.fixture
def rbac_api() -> Iterator[ApiServer]:
    """A cluster with RBAC on (``--authorization-mode=RBAC``) and one static admin token."""
    with ApiServer(
        authz={ADMIN: [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]},
        rbac=True,
        namespaces=("default", "kube-system", "a", "b"),
    ) as server:
        yield server


def _core(server: ApiServer, token: str = ADMIN) -> client.CoreV1Api:
    return client.CoreV1Api(api_client(server.url, token))


def _rbac(server: ApiServer, token: str = ADMIN) -> client.RbacAuthorizationV1Api:
    return client.RbacAuthorizationV1Api(api_client(server.url, token))


def _token_secret(name: str, account: str, **annotations: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "annotations": {"kubernetes.io/service-account.name": account, **annotations}},
        "type": TOKEN_TYPE,
    }


def _account_token(server: ApiServer, ns: str, account: str) -> str:
    """A ServiceAccount and a token Secret for it, as kubectl would create them; the controller's token."""
    core = _core(server)
    core.create_namespaced_service_account(ns, {"metadata": {"name": account}})
    core.create_namespaced_secret(ns, _token_secret(f"{account}-token", account))
    data = core.read_namespaced_secret(f"{account}-token", ns).data
    return base64.b64decode(data["token"]).decode()


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _role(name: str, *rules: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": name}, "rules": list(rules)}


def _binding(name: str, kind: str, role: str, *subjects: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "roleRef": {"apiGroup": RBAC, "kind": kind, "name": role},
        "subjects": list(subjects),
    }


def _sa(name: str, namespace: str | None = None) -> dict[str, Any]:
    return {"kind": "ServiceAccount", "name": name, **({"namespace": namespace} if namespace else {})}


GET_SERVICES = {"apiGroups": [""], "resources": ["services"], "verbs": ["get", "list"]}


# ------------------------------------------------------------------------------------------ the RBAC kinds


def test_rbac_kinds_are_served_and_discoverable(kube_api, kube_client):
    """rbac.authorization.k8s.io/v1 is in /apis with ClusterRole, ClusterRoleBinding (cluster-scoped), Role and
    RoleBinding (namespaced), and the official client's RbacAuthorizationV1Api works against them."""
    with urllib.request.urlopen(f"{kube_api.url}/apis") as resp:
        groups = {g["name"]: g for g in json.load(resp)["groups"]}
    assert groups[RBAC]["preferredVersion"]["groupVersion"] == f"{RBAC}/v1"
    with urllib.request.urlopen(f"{kube_api.url}/apis/{RBAC}/v1") as resp:
        resources = {r["name"]: r for r in json.load(resp)["resources"]}
    assert {n: (r["kind"], r["namespaced"]) for n, r in resources.items()} == {
        "clusterroles": ("ClusterRole", False),
        "clusterrolebindings": ("ClusterRoleBinding", False),
        "roles": ("Role", True),
        "rolebindings": ("RoleBinding", True),
    }
    rbac = client.RbacAuthorizationV1Api(kube_client)
    rbac.create_cluster_role(_role("system:speaker", GET_SERVICES))  # ':' is fine in RBAC names
    rbac.create_namespaced_role_binding("default", _binding("rb", "ClusterRole", "system:speaker", _sa("x")))
    assert [r.metadata.name for r in rbac.list_cluster_role().items] == ["system:speaker"]
    rb = rbac.read_namespaced_role_binding("rb", "default")
    assert rb.role_ref.kind == "ClusterRole" and rb.subjects[0].name == "x"
    rbac.delete_namespaced_role_binding("rb", "default")
    assert rbac.list_namespaced_role_binding("default").items == []


def test_rbac_table_columns_like_kubectl_get(kube_api, kube_client):
    """Server-side printing (printers.go): roles show NAME and CREATED AT; bindings NAME, ROLE (Kind/name), AGE and,
    with -o wide, USERS, GROUPS and SERVICEACCOUNTS (namespace/name)."""
    rbac = client.RbacAuthorizationV1Api(kube_client)
    rbac.create_cluster_role(_role("reader", GET_SERVICES))
    rbac.create_cluster_role_binding(
        _binding("reader", "ClusterRole", "reader", _sa("sa", "a"), {"kind": "Group", "name": "ops"})
    )
    for plural, want in (
        ("clusterroles", ["Name", "Created At"]),
        ("clusterrolebindings", ["Name", "Role", "Age", "Users", "Groups", "ServiceAccounts"]),
    ):
        req = urllib.request.Request(
            f"{kube_api.url}/apis/{RBAC}/v1/{plural}",
            headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"},
        )
        with urllib.request.urlopen(req) as resp:
            table = json.load(resp)
        assert [c["name"] for c in table["columnDefinitions"]] == want
        cells = table["rows"][0]["cells"]
        if plural == "clusterroles":
            assert cells[1].endswith("Z")
        else:
            assert cells[1] == "ClusterRole/reader" and cells[3:] == ["", "ops", "a/sa"]


def test_rbac_names_and_rules_are_validated(kube_client):
    """ValidateRBACName is a path segment name ("/" and "%" refused); ValidatePolicyRule: verbs required, a resource
    rule needs apiGroups and resources, a Role cannot name nonResourceURLs."""
    rbac = client.RbacAuthorizationV1Api(kube_client)
    code, body = api_error(rbac.create_cluster_role, _role("a/b", GET_SERVICES))
    assert code == 422 and body["message"] == (
        'ClusterRole.rbac.authorization.k8s.io "a/b" is invalid: metadata.name: Invalid value: "a/b": may not '
        "contain '/'"
    )
    code, body = api_error(
        rbac.create_cluster_role, _role("x", {"apiGroups": [""], "resources": ["pods"], "verbs": []})
    )
    assert code == 422 and body["message"] == (
        'ClusterRole.rbac.authorization.k8s.io "x" is invalid: rules[0].verbs: Required value: verbs must contain '
        "at least one value"
    )
    code, body = api_error(rbac.create_namespaced_role, "default", _role("x", {"verbs": ["get"]}))
    assert [c["field"] for c in body["details"]["causes"]] == ["rules[0].apiGroups", "rules[0].resources"]
    code, body = api_error(
        rbac.create_namespaced_role, "default", _role("x", {"verbs": ["get"], "nonResourceURLs": ["/healthz"]})
    )
    assert code == 422 and "namespaced rules cannot apply to non-resource URLs" in body["message"]


def test_binding_defaults_and_immutable_role_ref(kube_client):
    """rbac/v1 defaulting fills roleRef.apiGroup and a User/Group subject's apiGroup; ValidateRoleBindingUpdate:
    roleRef cannot change; a ClusterRoleBinding's ServiceAccount subject needs a namespace."""
    rbac = client.RbacAuthorizationV1Api(kube_client)
    body = _binding("b", "Role", "r", {"kind": "User", "name": "alice"})
    del body["roleRef"]["apiGroup"]
    rb = rbac.create_namespaced_role_binding("default", body)
    assert rb.role_ref.api_group == RBAC and rb.subjects[0].api_group == RBAC
    rb.role_ref.name = "other"
    code, body = api_error(rbac.replace_namespaced_role_binding, "b", "default", rb)
    assert code == 422 and body["message"] == (
        'RoleBinding.rbac.authorization.k8s.io "b" is invalid: roleRef: Invalid value: '
        'rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"Role", Name:"other"}: cannot change roleRef'
    )
    code, body = api_error(rbac.create_cluster_role_binding, _binding("c", "ClusterRole", "r", _sa("x")))
    assert code == 422 and body["details"]["causes"] == [
        {"reason": "FieldValueRequired", "message": "Required value", "field": "subjects[0].namespace"}
    ]
    code, body = api_error(rbac.create_cluster_role_binding, _binding("c", "Role", "r", _sa("x", "a")))
    assert body["details"]["causes"][0]["message"] == 'Unsupported value: "Role": supported values: "ClusterRole"'


# ------------------------------------------------------------------------------------------ token controller


def test_token_secret_is_filled_by_the_token_controller(rbac_api):
    """tokens_controller: a Secret of type kubernetes.io/service-account-token naming an existing ServiceAccount gets
    data.token, data.ca.crt, data.namespace and the service-account.uid annotation — after the create answered."""
    core = _core(rbac_api)
    sa = core.create_namespaced_service_account("a", {"metadata": {"name": "robot"}})
    created = core.create_namespaced_secret("a", _token_secret("robot-token", "robot"))
    assert not (created.data or {}).get("token"), "the create response predates the controller"
    secret = core.read_namespaced_secret("robot-token", "a")
    assert secret.metadata.annotations["kubernetes.io/service-account.uid"] == sa.metadata.uid
    assert base64.b64decode(secret.data["namespace"]) == b"a"
    assert base64.b64decode(secret.data["ca.crt"]).startswith(b"-----BEGIN CERTIFICATE-----")
    token = base64.b64decode(secret.data["token"]).decode()
    assert _claims(token) == {  # serviceaccount.LegacyClaims
        "iss": "kubernetes/serviceaccount",
        "sub": "system:serviceaccount:a:robot",
        "kubernetes.io/serviceaccount/namespace": "a",
        "kubernetes.io/serviceaccount/secret.name": "robot-token",
        "kubernetes.io/serviceaccount/service-account.name": "robot",
        "kubernetes.io/serviceaccount/service-account.uid": sa.metadata.uid,
    }
    # a token taken out is put back (needsToken), the same one: the claims decide it
    core.patch_namespaced_secret("robot-token", "a", [{"op": "remove", "path": "/data/token"}])
    assert base64.b64decode(core.read_namespaced_secret("robot-token", "a").data["token"]).decode() == token


def test_token_secret_needs_the_account_annotation(rbac_api):
    """ValidateSecret: a service-account token Secret without kubernetes.io/service-account.name is 422;
    ValidateSecretUpdate: the type is immutable."""
    core = _core(rbac_api)
    code, body = api_error(core.create_namespaced_secret, "a", {"metadata": {"name": "t"}, "type": TOKEN_TYPE})
    assert code == 422 and body["details"]["causes"] == [
        {
            "reason": "FieldValueRequired",
            "message": "Required value",
            "field": "metadata.annotations[kubernetes.io/service-account.name]",
        }
    ]
    core.create_namespaced_secret("a", {"metadata": {"name": "o"}})
    code, body = api_error(core.patch_namespaced_secret, "o", "a", {"type": "kubernetes.io/tls"})
    assert code == 422 and body["message"].endswith('type: Invalid value: "kubernetes.io/tls": field is immutable')


def test_token_secrets_without_their_account_are_deleted(rbac_api):
    """tokens_controller: a token Secret whose account does not exist (or has another uid) is deleted, and deleting a
    ServiceAccount deletes its token Secrets; a deleted account's token no longer authenticates (401)."""
    core = _core(rbac_api)
    core.create_namespaced_secret("a", _token_secret("orphan", "nobody"))
    code, _ = api_error(core.read_namespaced_secret, "orphan", "a")
    assert code == 404
    token = _account_token(rbac_api, "a", "robot")
    core.create_namespaced_secret(
        "a",
        _token_secret(
            "stale", "robot", **{"kubernetes.io/service-account.uid": "00000000-0000-0000-0000-000000000000"}
        ),
    )
    assert api_error(core.read_namespaced_secret, "stale", "a")[0] == 404
    core.create_namespaced_secret("a", {"metadata": {"name": "plain"}})
    core.delete_namespaced_service_account("robot", "a")
    assert [s.metadata.name for s in core.list_namespaced_secret("a").items] == ["plain"]
    code, body = api_error(_core(rbac_api, token).list_namespaced_service, "a")
    assert (code, body["reason"]) == (401, "Unauthorized")


# ------------------------------------------------------------------------------------------ authentication


def test_service_account_token_authenticates_as_the_account(rbac_api):
    """A token from a token Secret authenticates as system:serviceaccount:NS:NAME (403 names that user, not 401);
    its first use labels the Secret kubernetes.io/legacy-token-last-used; deleting the Secret revokes it; a token
    the server did not sign is 401."""
    token = _account_token(rbac_api, "a", "robot")
    code, body = api_error(_core(rbac_api, token).list_namespaced_service, "a")
    assert code == 403 and 'User "system:serviceaccount:a:robot" cannot list' in body["message"]
    labels = _core(rbac_api).read_namespaced_secret("robot-token", "a").metadata.labels
    assert labels == {"kubernetes.io/legacy-token-last-used": time.strftime("%Y-%m-%d", time.gmtime())}
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert api_error(_core(rbac_api, forged).list_namespaced_service, "a")[0] == 401
    _core(rbac_api).delete_namespaced_secret("robot-token", "a")
    assert api_error(_core(rbac_api, token).list_namespaced_service, "a")[0] == 401


def test_token_request_tokens_authenticate_for_the_api_audience(rbac_api):
    """serviceaccounts/token: expirationSeconds defaults to 3600 and may not be under 600 (422); a bound token for
    the API server's audience authenticates as the account, one for another audience does not (401)."""
    core = _core(rbac_api)
    core.create_namespaced_service_account("a", {"metadata": {"name": "robot"}})
    tr = core.create_namespaced_service_account_token("robot", "a", {"spec": {}})
    assert tr.spec.expiration_seconds == 3600 and tr.spec.audiences == ["https://kubernetes.default.svc.cluster.local"]
    code, body = api_error(_core(rbac_api, tr.status.token).list_namespaced_service, "a")
    assert code == 403 and 'User "system:serviceaccount:a:robot"' in body["message"]
    other = core.create_namespaced_service_account_token("robot", "a", {"spec": {"audiences": ["vault"]}})
    assert api_error(_core(rbac_api, other.status.token).list_namespaced_service, "a")[0] == 401
    code, body = api_error(
        core.create_namespaced_service_account_token, "robot", "a", {"spec": {"expirationSeconds": 599}}
    )
    assert code == 422 and body["message"] == (
        'TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: Invalid value: 599: may not '
        "specify a duration less than 10 minutes"
    )


# ------------------------------------------------------------------------------------------ authorization


def test_role_binding_grants_only_in_its_namespace(rbac_api):
    """A RoleBinding grants its Role's rules in the binding's namespace only: not in another namespace and not
    cluster-wide; a RoleBinding to a ClusterRole is likewise limited to its namespace; RBAC edits apply at once."""
    token = _account_token(rbac_api, "a", "robot")
    admin, mine = _rbac(rbac_api), _core(rbac_api, token)
    admin.create_namespaced_role("a", _role("reader", GET_SERVICES))
    admin.create_namespaced_role_binding("a", _binding("reader", "Role", "reader", _sa("robot")))
    mine.list_namespaced_service("a")
    assert api_error(mine.list_namespaced_service, "b")[0] == 403
    assert api_error(mine.list_service_for_all_namespaces)[0] == 403
    admin.create_cluster_role(_role("pods", {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}))
    admin.create_namespaced_role_binding("b", _binding("pods", "ClusterRole", "pods", _sa("robot", "a")))
    mine.list_namespaced_pod("b")
    assert api_error(mine.list_namespaced_pod, "a")[0] == 403
    admin.delete_namespaced_role_binding("reader", "a")
    assert api_error(mine.list_namespaced_service, "a")[0] == 403


def test_cluster_role_binding_to_a_service_account(rbac_api):
    """A ClusterRoleBinding whose subject is a ServiceAccount (with its namespace) grants the ClusterRole's rules in
    every namespace and at the cluster scope; Group subjects match the account's groups
    (system:serviceaccounts:NS)."""
    token = _account_token(rbac_api, "a", "robot")
    admin, mine = _rbac(rbac_api), _core(rbac_api, token)
    admin.create_cluster_role(
        _role("lister", {"apiGroups": [""], "resources": ["services", "nodes"], "verbs": ["list"]})
    )
    admin.create_cluster_role_binding(_binding("lister", "ClusterRole", "lister", _sa("robot", "a")))
    mine.list_service_for_all_namespaces()
    mine.list_namespaced_service("b")
    mine.list_node()
    assert api_error(mine.list_namespace)[0] == 403
    admin.create_cluster_role(_role("ns", {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list"]}))
    admin.create_cluster_role_binding(
        _binding("ns", "ClusterRole", "ns", {"kind": "Group", "name": "system:serviceaccounts:a"})
    )
    mine.list_namespace()


def test_forbidden_body_is_shaped_like_the_real_server(rbac_api):
    """403 Status: 'services "x" is forbidden: User "system:serviceaccount:NS:SA" cannot patch resource
    "services/status" in API group "" in the namespace "NS"', reason Forbidden, details {name, kind}; at the
    cluster scope, and the RBAC reason when a binding names a role that does not exist."""
    token = _account_token(rbac_api, "a", "robot")
    _core(rbac_api).create_namespaced_service("a", lb_service("x"))
    mine = _core(rbac_api, token)
    code, body = api_error(
        mine.patch_namespaced_service_status,
        "x",
        "a",
        {"status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.1"}]}}},
    )
    assert code == 403 and body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'services "x" is forbidden: User "system:serviceaccount:a:robot" cannot patch resource '
        '"services/status" in API group "" in the namespace "a"',
        "reason": "Forbidden",
        "details": {"name": "x", "kind": "services"},
        "code": 403,
    }
    code, body = api_error(client.CoordinationV1Api(api_client(rbac_api.url, token)).list_lease_for_all_namespaces)
    assert body["message"] == (
        'leases.coordination.k8s.io is forbidden: User "system:serviceaccount:a:robot" cannot '
        'list resource "leases" in API group "coordination.k8s.io" at the cluster scope'
    )
    _rbac(rbac_api).create_namespaced_role_binding("a", _binding("ghost", "Role", "ghost", _sa("robot")))
    code, body = api_error(mine.read_namespaced_service, "x", "a")
    assert body["message"].endswith('in the namespace "a": RBAC: role.rbac.authorization.k8s.io "ghost" not found')


def test_rule_matching_like_upstream(rbac_api):
    """rbac/validation rule matching: "*/status" matches any status subresource but "services/*" matches none;
    resourceNames limit get/patch to those names (and never match list); verbs are exact."""
    token = _account_token(rbac_api, "a", "robot")
    core = _core(rbac_api)
    for name in ("x", "y"):
        core.create_namespaced_service("a", lb_service(name))
    admin, mine = _rbac(rbac_api), _core(rbac_api, token)
    admin.create_namespaced_role(
        "a",
        _role(
            "r",
            {"apiGroups": [""], "resources": ["*/status"], "verbs": ["get"]},
            {"apiGroups": [""], "resources": ["services/*"], "verbs": ["patch"]},
            {"apiGroups": [""], "resources": ["services"], "verbs": ["get"], "resourceNames": ["x"]},
        ),
    )
    admin.create_namespaced_role_binding("a", _binding("r", "Role", "r", _sa("robot")))
    mine.read_namespaced_service_status("y", "a")
    mine.read_namespaced_service("x", "a")
    assert api_error(mine.read_namespaced_service, "y", "a")[0] == 403
    assert api_error(mine.list_namespaced_service, "a")[0] == 403
    status = {"status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.1"}]}}}
    assert api_error(mine.patch_namespaced_service_status, "x", "a", status)[0] == 403


def test_resource_names_cover_a_list_and_watch_by_exact_name(rbac_api):
    """requestinfo.go: a list/watch with fieldSelector metadata.name=X is authorized as a request for X, so a rule
    with resourceNames [X] and list/watch allows it; another name, no selector, or a != selector stays 403."""
    token = _account_token(rbac_api, "a", "robot")
    core = _core(rbac_api)
    for name in ("x", "y"):
        core.create_namespaced_service("a", lb_service(name))
    admin, mine = _rbac(rbac_api), _core(rbac_api, token)
    admin.create_namespaced_role(
        "a",
        _role(
            "r",
            {"apiGroups": [""], "resources": ["services"], "verbs": ["get", "list", "watch"], "resourceNames": ["x"]},
        ),
    )
    admin.create_namespaced_role_binding("a", _binding("r", "Role", "r", _sa("robot")))
    assert [s.metadata.name for s in mine.list_namespaced_service("a", field_selector="metadata.name=x").items] == ["x"]
    assert [s.metadata.name for s in mine.list_namespaced_service("a", field_selector="metadata.name==x").items] == [
        "x"
    ]
    for selector in ("metadata.name=y", "metadata.name!=y", None):
        assert api_error(mine.list_namespaced_service, "a", field_selector=selector)[0] == 403, selector
    resp = mine.list_namespaced_service(
        "a", field_selector="metadata.name=x", watch=True, timeout_seconds=1, _preload_content=False
    )
    assert resp.status == 200
    resp.release_conn()


def test_static_tokens_and_rbac_together(rbac_api):
    """Static rules sit in front of RBAC (like --authorization-mode=ABAC,RBAC): a static user is also authorized by
    bindings naming it (User subject); an unknown opaque token is 401."""
    rbac_api.set_authz(
        {
            ADMIN: [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
            "alice-token": {"user": "alice", "rules": []},
        }
    )
    alice = _core(rbac_api, "alice-token")
    code, body = api_error(alice.list_namespaced_config_map, "b")
    assert code == 403 and 'User "alice" cannot list resource "configmaps"' in body["message"]
    _rbac(rbac_api).create_namespaced_role(
        "b", _role("cm", {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]})
    )
    _rbac(rbac_api).create_namespaced_role_binding(
        "b", _binding("cm", "Role", "cm", {"kind": "User", "name": "alice", "apiGroup": RBAC})
    )
    alice.list_namespaced_config_map("b")
    assert api_error(_core(rbac_api, "who-knows").list_namespaced_config_map, "b")[0] == 401


def test_kubectl_creates_and_lists_rbac_objects(kubeconfig, kube_client):
    """kubectl finds the RBAC kinds by discovery (api-resources), creates a ClusterRole and a RoleBinding for a
    ServiceAccount from a manifest, and prints them (-o wide shows the ServiceAccounts column). (Imperative
    ``kubectl create clusterrole`` sends protobuf, which the emulator does not speak.)"""
    require_binaries("kubectl")  # a missing kubectl fails: CI installs it (scripts/install-deps)
    out = _kubectl(kubeconfig, "api-resources", f"--api-group={RBAC}", "-o", "name")
    assert sorted(out.stdout.split()) == [
        f"{p}.{RBAC}" for p in ("clusterrolebindings", "clusterroles", "rolebindings", "roles")
    ], out.stderr
    manifest = kubeconfig.parent / "rbac.yaml"
    manifest.write_text(f"""
apiVersion: {RBAC}/v1
kind: ClusterRole
metadata: {{name: svc-reader}}
rules: [{{apiGroups: [""], resources: [services], verbs: [get, list]}}]
---
apiVersion: {RBAC}/v1
kind: RoleBinding
metadata: {{name: svc-reader, namespace: default}}
roleRef: {{apiGroup: {RBAC}, kind: ClusterRole, name: svc-reader}}
subjects: [{{kind: ServiceAccount, name: robot}}]
""")
    out = _kubectl(kubeconfig, "apply", "--validate=false", "-f", str(manifest))  # no /openapi served
    assert out.returncode == 0, out.stderr
    rule = client.RbacAuthorizationV1Api(kube_client).read_cluster_role("svc-reader").rules[0]
    assert (rule.api_groups, rule.resources, rule.verbs) == ([""], ["services"], ["get", "list"])
    out = _kubectl(kubeconfig, "get", "rolebinding", "-n", "default", "-o", "wide")
    assert out.returncode == 0, out.stderr
    header, row = out.stdout.splitlines()[:2]
    assert header.split() == ["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"]
    assert row.split()[:2] == ["svc-reader", "ClusterRole/svc-reader"] and row.split()[-1] == "/robot"
