"""Authorization: RBAC from the stored Roles and bindings, and static per-token rules beside it.

One rule matcher serves both sources. The RBAC side follows upstream's authorizer
(``plugin/pkg/auth/authorizer/rbac/rbac.go`` and ``pkg/registry/rbac/validation/rule.go``):

* every ClusterRoleBinding that applies to the user contributes its ClusterRole's rules, in any
  namespace and at the cluster scope; a RoleBinding contributes its Role's (or ClusterRole's) rules
  only in the binding's own namespace;
* a subject applies by ``User`` name, ``Group`` membership, or ``ServiceAccount``
  (``system:serviceaccount:NS:NAME``; a RoleBinding's subject without a namespace means the binding's
  namespace, a ClusterRoleBinding's needs one);
* a rule allows a request when verb, API group, resource (``*``, ``resource/subresource`` or
  ``*/subresource``) and, when the rule names any, the object name match (for a list or watch, the name an
  exact ``metadata.name`` field selector asks for: ``RequestInfo.selector_name``);
* a binding whose role does not exist grants nothing, and a denial then carries upstream's reason
  (``RBAC: role.rbac.authorization.k8s.io "x" not found``).

Static rules (``ApiServer(authz={token: rules})``) are a second authorizer in front of RBAC, as
``--authorization-mode=ABAC,RBAC`` would be: cluster-wide, no namespace dimension.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import cause
from .store import Store

if TYPE_CHECKING:  # pragma: no cover
    from .server import RequestInfo

GROUP = "rbac.authorization.k8s.io"
ROLES, CLUSTER_ROLES = (GROUP, "roles"), (GROUP, "clusterroles")
ROLE_BINDINGS, CLUSTER_ROLE_BINDINGS = (GROUP, "rolebindings"), (GROUP, "clusterrolebindings")
SA_PREFIX = "system:serviceaccount:"
AUTHENTICATED = "system:authenticated"

Causes = list[dict[str, str]]


@dataclass(frozen=True)
class UserInfo:
    """Who a request is from, as the authenticators hand it to the authorizers."""

    name: str
    uid: str = ""
    groups: tuple[str, ...] = (AUTHENTICATED,)


def service_account_user(namespace: str, name: str, uid: str = "") -> UserInfo:
    """``serviceaccount.UserInfo``: the user and groups a service-account token authenticates as."""
    return UserInfo(
        f"{SA_PREFIX}{namespace}:{name}",
        uid,
        ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", AUTHENTICATED),
    )


@dataclass(frozen=True)
class Rule:
    """A PolicyRule. Static rules may leave ``apiGroups`` out (meaning the core group)."""

    api_groups: tuple[str, ...]
    resources: tuple[str, ...]
    verbs: tuple[str, ...]
    resource_names: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()

    @classmethod
    def parse(cls, rule: Mapping[str, Any], *, default_groups: tuple[str, ...] = ("",)) -> Rule:
        return cls(
            tuple(rule.get("apiGroups", default_groups)),
            tuple(rule.get("resources") or ()),
            tuple(rule.get("verbs") or ()),
            tuple(rule.get("resourceNames") or ()),
            tuple(rule.get("nonResourceURLs") or ()),
        )

    def allows(self, info: RequestInfo) -> bool:
        if not ("*" in self.verbs or info.verb in self.verbs):
            return False
        if not info.is_resource:
            return any(
                u == "*" or u == info.path or (u.endswith("*") and info.path.startswith(u[:-1]))
                for u in self.non_resource_urls
            )
        if not ("*" in self.api_groups or info.group in self.api_groups):
            return False
        combined = f"{info.resource}/{info.subresource}" if info.subresource else info.resource
        if not any(
            r == "*" or r == combined or (info.subresource and r == f"*/{info.subresource}") for r in self.resources
        ):
            return False
        return not self.resource_names or (info.name or info.selector_name) in self.resource_names


# ---------------------------------------------------------------------------------------- the RBAC authorizer


def _applies(subjects: Iterable[Mapping[str, Any]], user: UserInfo, binding_namespace: str) -> bool:
    for s in subjects:
        kind, name = s.get("kind"), s.get("name", "")
        if kind == "User" and name == user.name:
            return True
        if kind == "Group" and name in user.groups:
            return True
        if kind == "ServiceAccount":
            ns = s.get("namespace") or binding_namespace
            if ns and user.name == f"{SA_PREFIX}{ns}:{name}":
                return True
    return False


def _role_rules(store: Store, ref: Mapping[str, Any], binding_namespace: str) -> tuple[list[Rule], str | None]:
    """The rules a roleRef points at, or the error upstream's rule resolver reports."""
    name = ref.get("name", "")
    if ref.get("kind") == "ClusterRole":
        entry, what = store.get(CLUSTER_ROLES, "", name), "clusterrole"
    elif ref.get("kind") == "Role":
        entry, what = store.get(ROLES, binding_namespace, name), "role"
    else:
        return [], f'unsupported role reference kind: "{ref.get("kind")}"'
    if entry is None:
        return [], f'{what}.{GROUP} "{name}" not found'
    return [Rule.parse(r, default_groups=()) for r in entry.obj.get("rules") or []], None


def rbac_decision(store: Store, user: UserInfo, info: RequestInfo) -> tuple[bool, str]:
    """Whether the stored RBAC objects allow the request; when not, upstream's reason (or "")."""
    errors: list[str] = []
    visits: list[tuple[tuple[str, str], str | None]] = [(CLUSTER_ROLE_BINDINGS, None)]
    if info.namespace:
        visits.append((ROLE_BINDINGS, info.namespace))
    for key, namespace in visits:
        for entry in store.iter(key, namespace):
            binding = entry.obj
            bns = binding["metadata"].get("namespace", "")
            if not _applies(binding.get("subjects") or [], user, bns):
                continue
            rules, err = _role_rules(store, binding.get("roleRef") or {}, bns)
            if err:
                errors.append(err)
            elif any(rule.allows(info) for rule in rules):
                return True, ""
    if not errors:
        return False, ""
    return False, "RBAC: " + (errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]")


def forbidden_message(user: UserInfo, info: RequestInfo, reason: str = "") -> str:
    """``responsewriters.forbiddenMessage`` (+ ": reason"), the text after "... is forbidden: "."""
    if not info.is_resource:
        msg = f'User "{user.name}" cannot {info.verb} path "{info.path}"'
    else:
        res = f"{info.resource}/{info.subresource}" if info.subresource else info.resource
        where = f'in the namespace "{info.namespace}"' if info.namespace else "at the cluster scope"
        msg = f'User "{user.name}" cannot {info.verb} resource "{res}" in API group "{info.group}" {where}'
    return f"{msg}: {reason}" if reason else msg


# ---------------------------------------------------------------------------------------- validation


def validate_path_segment_name(name: str) -> list[str]:
    """``path.ValidatePathSegmentName``, the name rule of every RBAC kind (``system:...`` names are fine)."""
    if name in (".", ".."):
        return [f"may not be '{name}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in name]


def validate_rules(rules: Any, namespaced: bool) -> Causes:
    """``ValidatePolicyRule`` for each of ``rules``."""
    errs: Causes = []
    for i, rule in enumerate(rules or []):
        path = f"rules[{i}]"
        if not rule.get("verbs"):
            errs.append(
                cause("FieldValueRequired", f"{path}.verbs", "Required value: verbs must contain at least one value")
            )
        urls = rule.get("nonResourceURLs") or []
        if urls:
            shown = "[]string{" + ", ".join(f'"{u}"' for u in urls) + "}"
            if namespaced:
                errs.append(
                    cause(
                        "FieldValueInvalid",
                        f"{path}.nonResourceURLs",
                        f"Invalid value: {shown}: namespaced rules cannot apply to non-resource URLs",
                    )
                )
            if rule.get("apiGroups") or rule.get("resources") or rule.get("resourceNames"):
                errs.append(
                    cause(
                        "FieldValueInvalid",
                        f"{path}.nonResourceURLs",
                        f"Invalid value: {shown}: rules cannot apply to both regular resources and non-resource URLs",
                    )
                )
            continue
        if not rule.get("apiGroups"):
            errs.append(
                cause(
                    "FieldValueRequired",
                    f"{path}.apiGroups",
                    "Required value: resource rules must supply at least one api group",
                )
            )
        if not rule.get("resources"):
            errs.append(
                cause(
                    "FieldValueRequired",
                    f"{path}.resources",
                    "Required value: resource rules must supply at least one resource",
                )
            )
    return errs


def default_binding(obj: dict[str, Any]) -> None:
    """rbac/v1 defaults: ``roleRef.apiGroup`` and the API group of User and Group subjects."""
    ref = obj.get("roleRef")
    if isinstance(ref, dict) and not ref.get("apiGroup"):
        ref["apiGroup"] = GROUP
    for s in obj.get("subjects") or []:
        if isinstance(s, dict) and not s.get("apiGroup") and s.get("kind") in ("User", "Group"):
            s["apiGroup"] = GROUP


def _unsupported(value: Any, supported: Iterable[str]) -> str:
    return f'Unsupported value: "{value}": supported values: ' + ", ".join(f'"{s}"' for s in supported)


def validate_binding(obj: dict[str, Any], old: dict[str, Any] | None, namespaced: bool) -> Causes:
    """``ValidateRoleBinding`` / ``ValidateClusterRoleBinding`` (+ ``...Update``: roleRef is immutable)."""
    from .strategies import DNS1123_SUBDOMAIN, SUBDOMAIN_MSG  # strategies imports this module

    errs: Causes = []
    ref = obj.get("roleRef") or {}
    if ref.get("apiGroup") != GROUP:
        errs.append(cause("FieldValueNotSupported", "roleRef.apiGroup", _unsupported(ref.get("apiGroup", ""), [GROUP])))
    kinds = ["Role", "ClusterRole"] if namespaced else ["ClusterRole"]
    if ref.get("kind") not in kinds:
        errs.append(cause("FieldValueNotSupported", "roleRef.kind", _unsupported(ref.get("kind", ""), kinds)))
    if not ref.get("name"):
        errs.append(cause("FieldValueRequired", "roleRef.name", "Required value"))
    else:
        for msg in validate_path_segment_name(ref["name"]):
            errs.append(cause("FieldValueInvalid", "roleRef.name", f'Invalid value: "{ref["name"]}": {msg}'))
    for i, s in enumerate(obj.get("subjects") or []):
        path = f"subjects[{i}]"
        name, kind, group = s.get("name", ""), s.get("kind", ""), s.get("apiGroup", "")
        if not name:
            errs.append(cause("FieldValueRequired", f"{path}.name", "Required value"))
        if kind == "ServiceAccount":
            if name and not DNS1123_SUBDOMAIN.match(name):
                errs.append(cause("FieldValueInvalid", f"{path}.name", f'Invalid value: "{name}": {SUBDOMAIN_MSG}'))
            if group:
                errs.append(cause("FieldValueNotSupported", f"{path}.apiGroup", _unsupported(group, [""])))
            if not namespaced and not s.get("namespace"):
                errs.append(cause("FieldValueRequired", f"{path}.namespace", "Required value"))
        elif kind in ("User", "Group"):
            if group != GROUP:
                errs.append(cause("FieldValueNotSupported", f"{path}.apiGroup", _unsupported(group, [GROUP])))
        else:
            errs.append(
                cause("FieldValueNotSupported", f"{path}.kind", _unsupported(kind, ["ServiceAccount", "User", "Group"]))
            )
    if old is not None and (old.get("roleRef") or {}) != ref:
        shown = (
            f'rbac.RoleRef{{APIGroup:"{ref.get("apiGroup", "")}", Kind:"{ref.get("kind", "")}", '
            f'Name:"{ref.get("name", "")}"}}'
        )
        errs.append(cause("FieldValueInvalid", "roleRef", f"Invalid value: {shown}: cannot change roleRef"))
    return errs
