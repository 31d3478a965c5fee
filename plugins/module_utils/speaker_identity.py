# -*- coding: utf-8 -*-
# Copyright: (c) 2026, baremetal-lb developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The speakers' identity in the cluster: a ServiceAccount, the RBAC the speaker needs, and a long-lived token.

Speakers run under systemd on the nodes, outside pods, so nothing mounts a service-account token for them. This
creates, in order:

* ServiceAccount ``NAME`` in ``NAMESPACE``;
* ClusterRole + ClusterRoleBinding ``NAME`` for what is cluster-wide (:data:`CLUSTER_RULES`);
* Role + RoleBinding ``NAME`` in ``NAMESPACE`` for the rest (:func:`namespace_rules`);
* Secret ``NAME-token`` of type ``kubernetes.io/service-account-token``: the token controller fills it with a
  token that stays valid as long as the Secret and the ServiceAccount exist. Re-running reads the same token;
  it is rotated only when it is no longer valid (the ServiceAccount was re-created: the Secret's
  ``kubernetes.io/service-account.uid`` no longer matches) or when ``rotate_token`` asks.

Every rule is one the speaker's code uses (speaker/kube/: kinds.py, informer.py, writer.py, lease.py); a test
(tests/integration/test_rbac.py) runs a real speaker with exactly these rights and shows that dropping one breaks
it. Check mode and diff are honoured in one place (:meth:`SpeakerIdentity.run`).
"""

from __future__ import annotations

import base64
import copy
import json
import time
import typing as t

from ansible_collections.baremetal.lb.plugins.module_utils.k8s_auth import (
    K8S_AUTH_ARG_SPEC,
    K8sAuthError,
    get_client,
)

if t.TYPE_CHECKING:
    from ansible.module_utils.basic import AnsibleModule

    Json = t.Dict[str, t.Any]

RBAC = "rbac.authorization.k8s.io"
TOKEN_TYPE = "kubernetes.io/service-account-token"
SA_NAME_ANNOTATION = "kubernetes.io/service-account.name"
SA_UID_ANNOTATION = "kubernetes.io/service-account.uid"
LABELS = {"app.kubernetes.io/name": "baremetal-lb-speaker", "app.kubernetes.io/managed-by": "baremetal-lb"}
REQUEST_TIMEOUT = (5, 30)

#: What the speaker does cluster-wide: watch Services, EndpointSlices, Nodes, Namespaces (informers), write a
#: Service's status (ingress + pool annotation, one merge patch), and record Events next to the Services.
CLUSTER_RULES = [
    {"apiGroups": [""], "resources": ["services", "nodes", "namespaces"], "verbs": ["list", "watch"]},
    {"apiGroups": [""], "resources": ["services/status"], "verbs": ["patch"]},
    {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
]

METALLB_CONFIG = ["ipaddresspools", "l2advertisements", "bgpadvertisements", "bgppeers", "communities", "bfdprofiles"]
METALLB_STATUS = ["servicel2statuses", "servicebgpstatuses"]
EXCLUDE_L2_CONFIGMAP = "metallb-excludel2"


def namespace_rules(lease_name: str, memberlist_secret: str = "memberlist") -> t.Any:
    """What the speaker does in its own namespace: read the metallb.io config, write pool status and the
    per-node status objects, hold the allocator Lease (get/update only that one), renew its own liveness Lease
    ``baremetal-lb-speaker-<node>`` and watch the others' (speaker/kube/speakerlease.py: one per node, so the rule
    cannot name them), read BGP passwords, and read (get/list/watch, that name only) and create the heartbeat key's
    Secret (speaker/kube/memberlist.py), and read MetalLB's ``metallb-excludel2`` ConfigMap, the interfaces Layer 2
    never answers on (speaker/layer2/exclude.py), the same way.

    The key's Secret is watched with ``fieldSelector=metadata.name=NAME``, which the API server authorizes as a
    request for that name, so ``resourceNames`` covers the list and the watch too
    (``k8s.io/apiserver/pkg/endpoints/request/requestinfo.go``). ``create`` cannot be limited to a name (the name
    is in the body, not the URL; Kubernetes' RBAC documentation, "Referring to resources"), so every speaker of
    this ServiceAccount may create Secrets in its namespace; only the allocator leader does, and only that one.
    """
    return [
        {"apiGroups": ["metallb.io"], "resources": METALLB_CONFIG + METALLB_STATUS, "verbs": ["list", "watch"]},
        {"apiGroups": ["metallb.io"], "resources": ["ipaddresspools/status"], "verbs": ["patch"]},
        {"apiGroups": ["metallb.io"], "resources": list(METALLB_STATUS), "verbs": ["create", "update", "delete"]},
        {
            "apiGroups": ["metallb.io"],
            "resources": [p + "/status" for p in METALLB_STATUS],
            "verbs": ["patch", "update"],
        },
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": [lease_name],
            "verbs": ["get", "update"],
        },
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["list", "watch", "patch"]},
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["list", "watch"]},
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": [memberlist_secret],
            "verbs": ["get", "list", "watch"],
        },
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]},
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": [EXCLUDE_L2_CONFIGMAP],
            "verbs": ["get", "list", "watch"],
        },
    ]


SPEAKER_IDENTITY_ARG_SPEC = copy.deepcopy(K8S_AUTH_ARG_SPEC)
SPEAKER_IDENTITY_ARG_SPEC.update(
    name=dict(type="str", default="baremetal-lb-speaker"),
    namespace=dict(type="str", default="metallb-system"),
    lease_name=dict(type="str", default="baremetal-lb-allocator"),
    memberlist_secret=dict(type="str", default="memberlist", no_log=False),  # a Secret's name, not a secret
    state=dict(type="str", choices=["present", "absent"], default="present"),
    create_namespace=dict(type="bool", default=True),
    rotate_token=dict(type="bool", default=False),
    token_timeout=dict(type="int", default=30),
)


class IdentityError(Exception):
    """A failure a person can act on; ``changed`` says whether something was already written."""

    def __init__(self, message: str, changed: bool = False) -> None:
        super().__init__(message)
        self.changed = changed


class Kube:
    """Object reads and writes through the official client's generated methods (stable across its versions),
    as plain JSON dicts: ``get(kind, ns, name)`` (None when missing), ``create``, ``replace``, ``delete``."""

    _METHODS = {
        # kind: (API class, method suffix, namespaced)
        "Namespace": ("CoreV1Api", "namespace", False),
        "ServiceAccount": ("CoreV1Api", "namespaced_service_account", True),
        "Secret": ("CoreV1Api", "namespaced_secret", True),
        "ClusterRole": ("RbacAuthorizationV1Api", "cluster_role", False),
        "ClusterRoleBinding": ("RbacAuthorizationV1Api", "cluster_role_binding", False),
        "Role": ("RbacAuthorizationV1Api", "namespaced_role", True),
        "RoleBinding": ("RbacAuthorizationV1Api", "namespaced_role_binding", True),
    }

    def __init__(self, api: t.Any) -> None:
        self.api = api

    def _call(
        self,
        verb: str,
        kind: str,
        namespace: str | None,
        name: str | None = None,
        body: Json | None = None,
        missing_ok: bool = False,
    ) -> t.Any:
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        cls, suffix, namespaced = self._METHODS[kind]
        fn = getattr(getattr(client, cls)(self.api), f"{verb}_{suffix}")
        args: list[t.Any] = ([name] if name is not None else []) + ([namespace] if namespaced else [])
        if body is not None:
            args.append(body)
        where = "{} {}".format(kind, "/".join(x for x in ((namespace if namespaced else None), name) if x))
        try:
            resp = fn(*args, _preload_content=False, _request_timeout=REQUEST_TIMEOUT)
        except ApiException as exc:
            if missing_ok and exc.status == 404:
                return None
            raise IdentityError(f"{verb} {where.strip()}: HTTP {exc.status} {exc.reason}{_api_message(exc)}") from exc
        except Exception as exc:  # urllib3 / socket errors: say which server
            raise IdentityError(
                f"{verb} {where.strip()}: cannot reach the API server {self.api.configuration.host} "
                f"({type(exc).__name__})"
            ) from exc
        data = resp.data
        return json.loads(data) if data else {}

    def get(self, kind: str, namespace: str | None, name: str) -> t.Any:
        return self._call("read", kind, namespace, name, missing_ok=True)

    def create(self, kind: str, namespace: str | None, body: Json) -> t.Any:
        return self._call("create", kind, namespace, body=body)

    def replace(self, kind: str, namespace: str | None, name: str, body: Json) -> t.Any:
        return self._call("replace", kind, namespace, name, body=body)

    def delete(self, kind: str, namespace: str | None, name: str) -> t.Any:
        return self._call("delete", kind, namespace, name, missing_ok=True)

    def list(self, kind: str, namespace: str | None, label_selector: str) -> t.Any:
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        cls, suffix, namespaced = self._METHODS[kind]
        fn = getattr(getattr(client, cls)(self.api), f"list_{suffix}")
        try:
            resp = fn(
                *([namespace] if namespaced else []),
                label_selector=label_selector,
                _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT,
            )
        except ApiException as exc:
            raise IdentityError(
                f"list {kind} in {namespace}: HTTP {exc.status} {exc.reason}{_api_message(exc)}"
            ) from exc
        except Exception as exc:
            raise IdentityError(
                f"list {kind} in {namespace}: cannot reach the API server {self.api.configuration.host} "
                f"({type(exc).__name__})"
            ) from exc
        return (json.loads(resp.data) if resp.data else {}).get("items") or []


def _api_message(exc: Exception) -> str:
    try:
        return ": " + str(json.loads(getattr(exc, "body"))["message"])  # noqa: B009 (exc is typed Exception)
    except Exception:  # noqa: BLE001 - a best-effort detail: whatever the body is, the caller's error is still raised
        return ""


def desired_objects(name: str, namespace: str | None, lease_name: str, memberlist_secret: str = "memberlist") -> t.Any:
    """The objects this module keeps, in creation order (dependencies first); each is (kind, body)."""

    def meta(ns: str | None = None, **extra: t.Any) -> t.Any:
        return dict({"name": name, "labels": dict(LABELS)}, **dict(({"namespace": ns} if ns else {}), **extra))

    subject = [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]
    return [
        ("ServiceAccount", {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(namespace)}),
        (
            "ClusterRole",
            {
                "apiVersion": RBAC + "/v1",
                "kind": "ClusterRole",
                "metadata": meta(),
                "rules": copy.deepcopy(CLUSTER_RULES),
            },
        ),
        (
            "ClusterRoleBinding",
            {
                "apiVersion": RBAC + "/v1",
                "kind": "ClusterRoleBinding",
                "metadata": meta(),
                "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": name},
                "subjects": subject,
            },
        ),
        (
            "Role",
            {
                "apiVersion": RBAC + "/v1",
                "kind": "Role",
                "metadata": meta(namespace),
                "rules": namespace_rules(lease_name, memberlist_secret),
            },
        ),
        (
            "RoleBinding",
            {
                "apiVersion": RBAC + "/v1",
                "kind": "RoleBinding",
                "metadata": meta(namespace),
                "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": name},
                "subjects": subject,
            },
        ),
    ]


def _norm_rules(rules: t.Any) -> t.Any:
    out = []
    for r in rules or []:
        out.append({k: sorted(r.get(k) or []) for k in ("apiGroups", "resources", "verbs", "resourceNames")})
    return sorted(out, key=lambda r: json.dumps(r, sort_keys=True))


def managed_view(kind: str, obj: Json | None) -> Json | None:
    """The fields this module manages (what diff shows and what is compared)."""
    if obj is None:
        return None
    view: Json = {"labels": dict((k, v) for k, v in ((obj["metadata"].get("labels") or {}).items()) if k in LABELS)}
    if kind in ("ClusterRole", "Role"):
        view["rules"] = _norm_rules(obj.get("rules"))
    if kind.endswith("Binding"):
        view["roleRef"] = obj.get("roleRef")
        view["subjects"] = sorted(obj.get("subjects") or [], key=lambda s: json.dumps(s, sort_keys=True))
    if kind == "Secret":
        view["type"] = obj.get("type")
        view["annotations"] = dict(
            (k, v) for k, v in (obj["metadata"].get("annotations") or {}).items() if k == SA_NAME_ANNOTATION
        )
    return view


def _ref(kind: str, obj: Json) -> str:
    meta = obj["metadata"]
    return "{} {}".format(
        kind, "{}/{}".format(meta["namespace"], meta["name"]) if meta.get("namespace") else meta["name"]
    )


class SpeakerIdentity:
    def __init__(self, kube: t.Any, params: Json, check_mode: bool) -> None:
        self.kube = kube
        self.p = params
        self.check_mode = check_mode
        self.commands: list[str] = []
        self.before: dict[str, Json | None] = {}
        self.after: dict[str, Json | None] = {}
        self.changed = False

    # -- one place that writes (and honours check mode) ------------------------------------------------
    def _do(self, command: str, verb: str, *args: t.Any) -> t.Any:
        self.commands.append(command)
        self.changed = True
        if self.check_mode:
            return None
        try:
            return getattr(self.kube, verb)(*args)
        except IdentityError as exc:
            raise IdentityError(
                "{}: {} (done before it: {})".format(command, exc, "; ".join(self.commands[:-1]) or "nothing"),
                changed=len(self.commands) > 1,
            ) from exc

    def run(self) -> t.Any:
        name, ns = self.p["name"], self.p["namespace"]
        if self.p["state"] == "absent":
            return self._absent(name, ns)
        if self.kube.get("Namespace", None, ns) is None:
            if not self.p["create_namespace"]:
                raise IdentityError(f"namespace {ns} does not exist (create it, or set create_namespace: true)")
            self._do(
                f"create Namespace {ns}",
                "create",
                "Namespace",
                None,
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
            )
        for kind, want in desired_objects(name, ns, self.p["lease_name"], self.p["memberlist_secret"]):
            self._ensure(kind, want)
        secret, token, ca = self._token(name, ns)
        return dict(
            changed=self.changed,
            commands=self.commands,
            diff=dict(before=self.before, after=self.after),
            service_account=f"system:serviceaccount:{ns}:{name}",
            secret=secret,
            token=token,
            ca_cert=ca,
            cluster_rules=CLUSTER_RULES,
            namespace_rules=namespace_rules(self.p["lease_name"], self.p["memberlist_secret"]),
        )

    def _ensure(self, kind: str, want: Json) -> t.Any:
        ns, name = want["metadata"].get("namespace"), want["metadata"]["name"]
        live = self.kube.get(kind, ns, name)
        key = _ref(kind, want)
        self.before[key] = managed_view(kind, live)
        self.after[key] = managed_view(kind, want)
        if live is None:
            self._do("create " + key, "create", kind, ns, want)
            return
        if self.before[key] == self.after[key]:
            return
        if kind.endswith("Binding") and live.get("roleRef") != want["roleRef"]:
            # roleRef is immutable: replace the binding
            self._do(
                "delete {} (roleRef {}/{} cannot change)".format(
                    key, live["roleRef"].get("kind"), live["roleRef"].get("name")
                ),
                "delete",
                kind,
                ns,
                name,
            )
            self._do("create " + key, "create", kind, ns, want)
            return
        body = copy.deepcopy(live)
        body["metadata"]["labels"] = dict(live["metadata"].get("labels") or {}, **LABELS)
        for field in ("rules", "roleRef", "subjects"):
            if field in want:
                body[field] = want[field]
        before, after = self.before[key] or {}, self.after[key] or {}
        what = [f for f in ("labels", "rules", "subjects") if before.get(f) != after.get(f)]
        self._do("update {} ({})".format(key, ", ".join(what)), "replace", kind, ns, name, body)

    def _token_secrets(self, name: str, ns: str) -> list[Json]:
        """This module's token Secrets for ServiceAccount ``name`` (``NAME-token``, ``NAME-token-xxxxx`` after a
        rotation), newest first."""
        base = f"{name}-token"
        found = [
            sec
            for sec in self.kube.list("Secret", ns, ",".join("{}={}".format(*kv) for kv in sorted(LABELS.items())))
            if sec["metadata"]["name"] == base or sec["metadata"]["name"].startswith(base + "-")
        ]
        named = self.kube.get("Secret", ns, base)
        if named is not None and not any(sec["metadata"]["name"] == base for sec in found):
            found.append(named)  # NAME-token without our labels: checked (and replaced) below
        return sorted(
            found,
            key=lambda sec: (sec["metadata"].get("creationTimestamp") or "", sec["metadata"]["name"]),
            reverse=True,
        )

    def _token(self, name: str, ns: str) -> t.Any:
        """The token the speakers use: the newest valid token Secret, or a new one.

        A token controller derives a Secret's token from the namespace, the ServiceAccount's name and uid, and the
        Secret's name, so re-creating ``NAME-token`` would hand back the very same token: a rotation creates a
        Secret under a new name (``generateName``), waits for its token, and only then deletes the old ones, so
        there is no moment without a valid token for the play to write.
        """
        base = f"{name}-token"
        want: Json = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": TOKEN_TYPE,
            "metadata": {
                "name": base,
                "namespace": ns,
                "labels": dict(LABELS),
                "annotations": {SA_NAME_ANNOTATION: name},
            },
        }
        sa = self.kube.get("ServiceAccount", ns, name)
        secrets = self._token_secrets(name, ns)
        current = secrets[0] if secrets else None
        for sec in secrets:
            self.before[_ref("Secret", sec)] = managed_view("Secret", sec)
        reason = None
        if current is not None:
            bound_uid = (current["metadata"].get("annotations") or {}).get(SA_UID_ANNOTATION)
            if current.get("type") != TOKEN_TYPE or managed_view("Secret", current) != managed_view(
                "Secret", dict(want, metadata=dict(want["metadata"], name=current["metadata"]["name"]))
            ):
                reason = f"it is not a token Secret for ServiceAccount {name}"
            elif sa is not None and bound_uid and bound_uid != sa["metadata"].get("uid"):
                reason = "its ServiceAccount was re-created, so the token is no longer valid"
            elif self.p["rotate_token"]:
                reason = "rotate_token was set"
        if current is not None and reason is None:
            for sec in secrets:
                self.after[_ref("Secret", sec)] = managed_view("Secret", sec) if sec is current else None
            for old in secrets[1:]:  # left over from a rotation that stopped half-way
                self._do(
                    "delete {} (an older token; {} is in use)".format(_ref("Secret", old), current["metadata"]["name"]),
                    "delete",
                    "Secret",
                    ns,
                    old["metadata"]["name"],
                )
            return (current["metadata"]["name"],) + self._wait_for_token(ns, current["metadata"]["name"], current)
        if reason == "rotate_token was set":
            # the old token stays valid until the new one exists
            new = copy.deepcopy(want)
            del new["metadata"]["name"]
            new["metadata"]["generateName"] = base + "-"
            created = self._do(
                f"create Secret {ns}/{base}-xxxxx (a new token for ServiceAccount {name}; rotate_token was set)",
                "create",
                "Secret",
                ns,
                new,
            )
            if self.check_mode:
                return base, "", ""
            new_name = created["metadata"]["name"]
            self.after[_ref("Secret", created)] = managed_view("Secret", created)
            token = self._wait_for_token(ns, new_name, None)
            for old in secrets:
                self.after[_ref("Secret", old)] = None
                self._do(
                    "delete {} (replaced by {})".format(_ref("Secret", old), new_name),
                    "delete",
                    "Secret",
                    ns,
                    old["metadata"]["name"],
                )
            return (new_name,) + token
        for old in secrets:  # none, or all invalid: replace them with NAME-token
            self.after[_ref("Secret", old)] = None
            self._do(
                "delete {} ({})".format(_ref("Secret", old), reason), "delete", "Secret", ns, old["metadata"]["name"]
            )
        self.after[_ref("Secret", want)] = managed_view("Secret", want)
        self._do(
            "create {} (a long-lived token for ServiceAccount {})".format(_ref("Secret", want), name),
            "create",
            "Secret",
            ns,
            want,
        )
        if self.check_mode:
            return base, "", ""
        return (base,) + self._wait_for_token(ns, base, None)

    def _wait_for_token(self, ns: str, secret_name: str, live: Json | None) -> t.Any:
        deadline = time.time() + self.p["token_timeout"]
        secret = live
        while True:
            if secret is not None and (secret.get("data") or {}).get("token"):
                data = secret["data"]
                return (base64.b64decode(data["token"]).decode(), base64.b64decode(data.get("ca.crt") or "").decode())
            if time.time() >= deadline:
                raise IdentityError(
                    f"Secret {ns}/{secret_name}: no token after {self.p['token_timeout']}s: is the token controller "
                    "(kube-controller-manager) running?",
                    changed=self.changed,
                )
            time.sleep(0.5)
            secret = self.kube.get("Secret", ns, secret_name)

    def _absent(self, name: str, ns: str) -> t.Any:
        order: list[tuple[str, str | None, str]] = [
            ("Secret", ns, sec["metadata"]["name"]) for sec in self._token_secrets(name, ns)
        ]
        order += [
            ("RoleBinding", ns, name),
            ("Role", ns, name),
            ("ClusterRoleBinding", None, name),
            ("ClusterRole", None, name),
            ("ServiceAccount", ns, name),
        ]
        for kind, namespace, obj_name in order:
            live = self.kube.get(kind, namespace, obj_name)
            key = "{} {}".format(kind, f"{namespace}/{obj_name}" if namespace else obj_name)
            self.before[key] = managed_view(kind, live)
            self.after[key] = None
            if live is not None:
                self._do("delete " + key, "delete", kind, namespace, obj_name)
        return dict(
            changed=self.changed,
            commands=self.commands,
            diff=dict(before=self.before, after=self.after),
            token="",
            ca_cert="",
        )


def cluster_endpoint(configuration: t.Any) -> t.Any:
    """The API server URL and CA (PEM) this module reached the cluster with: what the nodes' kubeconfigs need, so
    that the cluster is described once (the admin kubeconfig) and not again for the speakers.

    The kubeconfig loader writes ``certificate-authority-data`` to a file and sets ``ssl_ca_cert`` to its path.
    """
    ca = ""
    if configuration.ssl_ca_cert:
        with open(configuration.ssl_ca_cert) as f:
            ca = f.read()
    return dict(api_server=configuration.host, api_ca_cert=ca)


def run_module(module: AnsibleModule) -> None:
    p = module.params
    if p["token_timeout"] < 0:
        module.fail_json(msg="token_timeout: {!r} must be 0 or more seconds".format(p["token_timeout"]))
    try:
        api = get_client(module)
    except K8sAuthError as exc:
        module.fail_json(msg=str(exc))
    try:
        result = SpeakerIdentity(Kube(api), p, module.check_mode).run()
    except IdentityError as exc:
        module.fail_json(msg=str(exc), changed=exc.changed)
    result.update(cluster_endpoint(api.configuration))
    if not module._diff:
        result.pop("diff", None)
    module.exit_json(**result)
