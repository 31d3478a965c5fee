"""Per-resource create/update behaviour: defaulting, validation, allocation, side effects.

Modelled on kube-apiserver's ``rest.RESTCreateStrategy``/``RESTUpdateStrategy`` plus the
defaulting functions of each API group. Only what the speaker can observe is modelled.
"""

from __future__ import annotations

import contextlib
import copy
import ipaddress
import re
import time
from typing import TYPE_CHECKING, Any

from . import rbac, serviceaccounts
from . import schema as schema_mod
from .errors import ApiError, cause, invalid
from .resources import ResourceType

if TYPE_CHECKING:  # pragma: no cover
    from .api import Api

Causes = list[dict[str, str]]

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
    "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
    "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)


def now_rfc3339() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def now_micro() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e6):06d}Z"


class Strategy:
    """Default behaviour: a DNS-subdomain name, no defaulting, status kept as sent."""

    name_rule: tuple[re.Pattern[str], str, int] = (DNS1123_SUBDOMAIN, SUBDOMAIN_MSG, 253)

    def __init__(self, rt: ResourceType) -> None:
        self.rt = rt

    def prepare_create(self, obj: dict[str, Any], api: Api) -> None:
        """Defaults and resets before validation on create."""

    def prepare_update(self, new: dict[str, Any], old: dict[str, Any], api: Api) -> None:
        """Defaults and resets before validation on update of the main resource."""

    def prepare_status_update(self, new: dict[str, Any], old: dict[str, Any], api: Api) -> None:
        """Defaults before validation on an update through ``/status``."""

    def validate(self, obj: dict[str, Any], old: dict[str, Any] | None, api: Api) -> Causes:
        return []

    def allocate(self, obj: dict[str, Any], old: dict[str, Any] | None, api: Api) -> None:
        """Claim server-side resources (cluster IPs, node ports) once validation passed."""

    def release(self, obj: dict[str, Any], api: Api) -> None:
        """Give back what :meth:`allocate` claimed, after a delete."""

    def after_commit(self, type_: str, obj: dict[str, Any], old: dict[str, Any] | None, api: Api) -> None:
        """Side effects after a write is stored (CRD registration, namespace cleanup)."""


def _format_time(value: Any, field: str, micro: bool) -> str | None:
    """Decode and re-encode a metav1.Time/MicroTime as the real server does (RFC 3339, UTC)."""
    import datetime as dt

    if value is None:
        return None
    layout = "2006-01-02T15:04:05.000000Z07:00" if micro else "2006-01-02T15:04:05Z07:00"
    try:
        parsed = dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise ApiError(
            400, "BadRequest", f'{field}: parsing time "{value}" as "{layout}": cannot parse as RFC 3339 with a zone'
        )
    parsed = parsed.astimezone(dt.UTC)
    return parsed.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if micro else "%Y-%m-%dT%H:%M:%SZ")


class TimeFieldsStrategy(Strategy):
    """Types with Time/MicroTime fields: values are normalised (and zone-less ones refused)."""

    time_fields: tuple[tuple[tuple[str, ...], bool], ...] = ()  # (path, is MicroTime)

    def _times(self, obj: dict[str, Any]) -> None:
        for path, micro in self.time_fields:
            parent: Any = obj
            for key in path[:-1]:
                parent = parent.get(key) if isinstance(parent, dict) else None
            if isinstance(parent, dict) and path[-1] in parent:
                formatted = _format_time(parent[path[-1]], ".".join(path), micro)
                if formatted is None:
                    del parent[path[-1]]
                else:
                    parent[path[-1]] = formatted

    def prepare_create(self, obj: dict[str, Any], api: Api) -> None:
        self._times(obj)

    def prepare_update(self, new: dict[str, Any], old: dict[str, Any], api: Api) -> None:
        self._times(new)


class LeaseStrategy(TimeFieldsStrategy):
    time_fields = ((("spec", "acquireTime"), True), (("spec", "renewTime"), True))


class CoreEventStrategy(TimeFieldsStrategy):
    time_fields = (
        (("eventTime",), True),
        (("firstTimestamp",), False),
        (("lastTimestamp",), False),
        (("series", "lastObservedTime"), True),
    )


class EventsV1Strategy(TimeFieldsStrategy):
    time_fields = (
        (("eventTime",), True),
        (("deprecatedFirstTimestamp",), False),
        (("deprecatedLastTimestamp",), False),
        (("series", "lastObservedTime"), True),
    )

    def validate(self, obj: dict[str, Any], old: dict[str, Any] | None, api: Api) -> Causes:
        errs: Causes = []
        for f in ("eventTime", "reportingController", "reportingInstance", "action", "reason"):
            if not obj.get(f):
                errs.append(cause("FieldValueRequired", f, "Required value"))
        if obj.get("type") not in ("Normal", "Warning"):
            errs.append(
                cause(
                    "FieldValueInvalid",
                    "type",
                    f'Invalid value: "{obj.get("type", "")}": has invalid value: {obj.get("type", "")}',
                )
            )
        return errs


class NamespaceStrategy(Strategy):
    name_rule = (DNS1123_LABEL, LABEL_MSG, 63)

    def prepare_create(self, obj: dict[str, Any], api: Api) -> None:
        obj["spec"] = {"finalizers": ["kubernetes"]}
        obj["status"] = {"phase": "Active"}
        self._label(obj)

    def prepare_update(self, new: dict[str, Any], old: dict[str, Any], api: Api) -> None:
        new["spec"] = copy.deepcopy(old.get("spec", {}))
        self._label(new)

    @staticmethod
    def _label(obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]

    def after_commit(self, type_: str, obj: dict[str, Any], old: dict[str, Any] | None, api: Api) -> None:
        if type_ == "DELETED":
            api.delete_namespace_contents(obj["metadata"]["name"])


class PodStrategy(Strategy):
    def prepare_create(self, obj: dict[str, Any], api: Api) -> None:
        obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
        spec = obj.setdefault("spec", {})
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("dnsPolicy", "ClusterFirst")
        spec.setdefault("schedulerName", "default-scheduler")
        spec.setdefault("terminationGracePeriodSeconds", 30)
        spec.setdefault("serviceAccountName", "default")

    def validate(self, obj: dict[str, Any], old: dict[str, Any] | None, api: Api) -> Causes:
        if not (obj.get("spec") or {}).get("containers"):
            return [cause("FieldValueRequired", "spec.containers", "Required value")]
        return []


class SecretStrategy(Strategy):
    def prepare_create(self, obj: dict[str, Any], api: Api) -> None:
        obj.setdefault("type", "Opaque")

    def validate(self, obj: dict[str, Any], old: dict[str, Any] | None, api: Api) -> Causes:
        """``ValidateSecret``: a service-account token names its account; ``ValidateSecretUpdate``: type is
        immutable."""
        errs: Causes = []
        if obj.get("type") == serviceaccounts.TOKEN_TYPE and not (
            (obj["metadata"].get("annotations") or {}).get(serviceaccounts.SA_NAME_ANNOTATION)
        ):
            errs.append(
                cause(
                    "FieldValueRequired",
                    f"metadata.annotations[{serviceaccounts.SA_NAME_ANNOTATION}]",
                    "Required value",
                )
            )
        if old is not None and obj.get("type") != old.get("type"):
            errs.append(cause("FieldValueInvalid", "type", f'Invalid value: "{obj.get("type")}": field is immutable'))
        return errs

    def after_commit(self, type_: str, obj: dict[str, Any], old: dict[str, Any] | None, api: Api) -> None:
        if type_ != "DELETED":
            serviceaccounts.sync_token_secret(api, obj)


class EndpointSliceStrategy(Strategy):
    def validate(self, obj: dict[str, Any], old: dict[str, Any] | None, api: Api) -> Causes:
        errs: Causes = []
        at = obj.get("addressType")
        if not at:
            errs.append(cause("FieldValueRequired", "addressType", "Required value"))
        elif at not in ("IPv4", "IPv6", "FQDN"):
            errs.append(
                cause(
                    "FieldValueNotSupported",
                    "addressType",
                    f'Unsupported value: "{at}": supported values: "FQDN", "IPv4", "IPv6"',
                )
            )
        elif old is not None and old.get("addressType") != at:
            errs.append(cause("FieldValueInvalid", "addressType", f'Invalid value: "{at}": field is immutable'))
        for i, ep in enumerate(obj.get("endpoints") or []):
            if not ep.get("addresses"):
                errs.append(cause("FieldValueRequired", f"endpoints[{i}].addresses", "Required value"))
        return errs


class ServiceAccountStrategy(Strategy):
    def token(self, sa: dict[str, Any], request: dict[str, Any], api: Api) -> dict[str, Any]:
        """``serviceaccounts/token``: a TokenRequest answered with a bound token."""
        return serviceaccounts.token_request(api, sa, request)

    def after_commit(self, type_: str, obj: dict[str, Any], old: dict[str, Any] | None, api: Api) -> None:
        if type_ == "DELETED":
            serviceaccounts.delete_account_tokens(api, obj)


_ANY_NAME = re.compile(r"")


class RoleStrategy(Strategy):
    """Roles and ClusterRoles: path-segment names (``system:...``), ``ValidatePolicyRule`` per rule."""

    name_rule = (_ANY_NAME, "", 1 << 20)

    def validate(self, obj: dict[str, Any], old: dict[str, Any] | None, api: Api) -> Causes:
        name = obj["metadata"].get("name") or ""
        errs = (
            [
                cause("FieldValueInvalid", "metadata.name", f'Invalid value: "{name}": {msg}')
                for msg in rbac.validate_path_segment_name(name)
            ]
            if name
            else []
        )
        return errs + rbac.validate_rules(obj.get("rules"), self.rt.namespaced)


class BindingStrategy(RoleStrategy):
    """RoleBindings and ClusterRoleBindings: rbac/v1 defaults, subject and roleRef validation."""

    def prepare_create(self, obj: dict[str, Any], api: Api) -> None:
        rbac.default_binding(obj)

    def prepare_update(self, new: dict[str, Any], old: dict[str, Any], api: Api) -> None:
        rbac.default_binding(new)

    def validate(self, obj: dict[str, Any], old: dict[str, Any] | None, api: Api) -> Causes:
        name = obj["metadata"].get("name") or ""
        errs = (
            [
                cause("FieldValueInvalid", "metadata.name", f'Invalid value: "{name}": {msg}')
                for msg in rbac.validate_path_segment_name(name)
            ]
            if name
            else []
        )
        return errs + rbac.validate_binding(obj, old, self.rt.namespaced)


class CustomResourceStrategy(Strategy):
    """apiextensions' strategy: structural pruning, defaults, schema validation."""

    def _schema(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        version = obj.get("apiVersion", "").rsplit("/", 1)[-1]
        return self.rt.schemas.get(version) or self.rt.schemas.get(self.rt.version)

    def _shape(self, obj: dict[str, Any]) -> None:
        sch = self._schema(obj)
        if sch:
            schema_mod.prune(obj, sch, root=True)
            schema_mod.apply_defaults(obj, sch)

    def prepare_create(self, obj: dict[str, Any], api: Api) -> None:
        if "status" in self.rt.subresources:
            obj.pop("status", None)
        self._shape(obj)

    def prepare_update(self, new: dict[str, Any], old: dict[str, Any], api: Api) -> None:
        self._shape(new)

    def prepare_status_update(self, new: dict[str, Any], old: dict[str, Any], api: Api) -> None:
        self._shape(new)

    def validate(self, obj: dict[str, Any], old: dict[str, Any] | None, api: Api) -> Causes:
        return schema_mod.validate(obj, self._schema(obj), root=True)


class CRDStrategy(Strategy):
    """CustomResourceDefinitions: name must be ``<plural>.<group>``; creating one serves it."""

    def prepare_create(self, obj: dict[str, Any], api: Api) -> None:
        self._status(obj)

    def prepare_update(self, new: dict[str, Any], old: dict[str, Any], api: Api) -> None:
        self._status(new)

    @staticmethod
    def _status(obj: dict[str, Any]) -> None:
        spec = obj.get("spec") or {}
        spec.setdefault("scope", "Namespaced")
        names = spec.get("names") or {}
        if names.get("kind"):
            names.setdefault("singular", names["kind"].lower())
            names.setdefault("listKind", names["kind"] + "List")
        stored = [v["name"] for v in spec.get("versions") or [] if v.get("storage")]
        ts = now_rfc3339()
        obj["status"] = {
            "acceptedNames": copy.deepcopy(names),
            "conditions": [
                {
                    "type": "NamesAccepted",
                    "status": "True",
                    "reason": "NoConflicts",
                    "message": "no conflicts found",
                    "lastTransitionTime": ts,
                },
                {
                    "type": "Established",
                    "status": "True",
                    "reason": "InitialNamesAccepted",
                    "message": "the initial names have been accepted",
                    "lastTransitionTime": ts,
                },
            ],
            "storedVersions": stored,
        }

    def validate(self, obj: dict[str, Any], old: dict[str, Any] | None, api: Api) -> Causes:
        spec = obj.get("spec") or {}
        names = spec.get("names") or {}
        errs: Causes = []
        for f in ("group",):
            if not spec.get(f):
                errs.append(cause("FieldValueRequired", f"spec.{f}", "Required value"))
        for f in ("plural", "kind"):
            if not names.get(f):
                errs.append(cause("FieldValueRequired", f"spec.names.{f}", "Required value"))
        if spec.get("scope") not in ("Namespaced", "Cluster"):
            errs.append(
                cause(
                    "FieldValueNotSupported",
                    "spec.scope",
                    f'Unsupported value: "{spec.get("scope")}": supported values: "Cluster", "Namespaced"',
                )
            )
        versions = spec.get("versions") or []
        if not versions:
            errs.append(cause("FieldValueRequired", "spec.versions", "Required value"))
        elif sum(1 for v in versions if v.get("storage")) != 1:
            errs.append(
                cause(
                    "FieldValueInvalid",
                    "spec.versions",
                    "Invalid value: must have exactly one version marked as storage version",
                )
            )
        if not errs:
            expected = f"{names['plural']}.{spec['group']}"
            if obj["metadata"]["name"] != expected:
                errs.append(
                    cause(
                        "FieldValueInvalid",
                        "metadata.name",
                        f'Invalid value: "{obj["metadata"]["name"]}": must be spec.names.plural+"."+spec.group',
                    )
                )
            if old is not None and (
                old["spec"].get("group") != spec["group"] or old["spec"]["names"].get("plural") != names["plural"]
            ):
                errs.append(cause("FieldValueInvalid", "spec.group", "Invalid value: field is immutable"))
        return errs

    def after_commit(self, type_: str, obj: dict[str, Any], old: dict[str, Any] | None, api: Api) -> None:
        if type_ == "DELETED":
            api.unregister_crd(obj)
        elif not obj["metadata"].get("deletionTimestamp"):
            api.register_crd(obj)


# ---------------------------------------------------------------------------------------
# Services: defaulting, cluster IP / node port allocation, status validation
# ---------------------------------------------------------------------------------------


class _Allocator:
    """Sequential allocation from a range with a used-set (the real one is a bitmap)."""

    def __init__(self, first: int, last: int) -> None:
        self.first, self.last = first, last
        self.next = first
        self.used: set[int] = set()

    def claim(self, value: int) -> bool:
        if not self.first <= value <= self.last or value in self.used:
            return False
        self.used.add(value)
        return True

    def allocate(self) -> int:
        size = self.last - self.first + 1
        for _ in range(size):
            v = self.next
            self.next = self.first if v >= self.last else v + 1
            if v not in self.used:
                self.used.add(v)
                return v
        raise ApiError(500, "InternalError", "Internal error occurred: range is full")

    def resize(self, first: int, last: int) -> None:
        self.first, self.last = first, last
        self.next = max(first, min(self.next, last))

    def release(self, value: int) -> None:
        self.used.discard(value)


SERVICE_CIDRS = {"IPv4": ipaddress.ip_network("10.96.0.0/12"), "IPv6": ipaddress.ip_network("fd00:10:96::/112")}
NODE_PORTS = (30000, 32767)
_SVC_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")
_POLICIES = ("SingleStack", "PreferDualStack", "RequireDualStack")
_PROTOCOLS = ("TCP", "UDP", "SCTP")


def _needs_cluster_ip(spec: dict[str, Any]) -> bool:
    return spec.get("type") != "ExternalName"


def _needs_node_ports(spec: dict[str, Any]) -> bool:
    t = spec.get("type")
    return t == "NodePort" or (t == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts", True))


def _needs_hc_port(spec: dict[str, Any]) -> bool:
    return spec.get("type") == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local"


class ServiceStrategy(Strategy):
    """Defaults and allocations as the real service REST storage does them (dual-stack cluster)."""

    name_rule = (DNS1035_LABEL, DNS1035_MSG, 63)

    def __init__(self, rt: ResourceType) -> None:
        super().__init__(rt)
        self.ips = {
            fam: _Allocator(int(net.network_address) + 1, int(net.broadcast_address) - (1 if fam == "IPv4" else 0))
            for fam, net in SERVICE_CIDRS.items()
        }
        self.ips["IPv4"].next += 9  # 10.96.0.1 is the kubernetes Service, .10 kube-dns
        self.ports = _Allocator(*NODE_PORTS)

    # -- defaulting --
    def _defaults(self, spec: dict[str, Any]) -> None:
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        for port in spec.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
                if "targetPort" not in port and "port" in port:
                    port["targetPort"] = port["port"]
        if spec["type"] != "ExternalName":
            spec.setdefault("internalTrafficPolicy", "Cluster")
        if spec["type"] in ("NodePort", "LoadBalancer"):
            spec.setdefault("externalTrafficPolicy", "Cluster")
        if spec["type"] == "LoadBalancer":
            spec.setdefault("allocateLoadBalancerNodePorts", True)
        if _needs_cluster_ip(spec):
            self._default_families(spec)

    @staticmethod
    def _default_families(spec: dict[str, Any]) -> None:
        policy = spec.get("ipFamilyPolicy")
        families = spec.get("ipFamilies")
        if not families:
            given = [
                ip
                for ip in spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
                if ip and ip != "None"
            ]
            families = []
            for ip in given:
                with contextlib.suppress(ValueError):
                    families.append("IPv6" if ipaddress.ip_address(ip).version == 6 else "IPv4")
            if not families:
                families = ["IPv4"]
            if policy in ("PreferDualStack", "RequireDualStack") and len(families) == 1:
                families.append("IPv6" if families[0] == "IPv4" else "IPv4")
            spec["ipFamilies"] = families
        if not policy:
            spec["ipFamilyPolicy"] = "SingleStack" if len(spec["ipFamilies"]) < 2 else "RequireDualStack"

    def prepare_create(self, obj: dict[str, Any], api: Api) -> None:
        obj["status"] = {"loadBalancer": {}}
        self._defaults(obj.setdefault("spec", {}))

    def prepare_update(self, new: dict[str, Any], old: dict[str, Any], api: Api) -> None:
        spec, ospec = new.setdefault("spec", {}), old.get("spec", {})
        spec.setdefault("type", "ClusterIP")
        # patchAllocatedValues: a PUT that omits allocated values keeps them.
        if (
            _needs_cluster_ip(spec)
            and _needs_cluster_ip(ospec)
            and not spec.get("clusterIP")
            and not spec.get("clusterIPs")
        ):
            for f in ("clusterIP", "clusterIPs"):
                if f in ospec:
                    spec[f] = copy.deepcopy(ospec[f])
            for f in ("ipFamilies", "ipFamilyPolicy"):
                if f not in spec and f in ospec:
                    spec[f] = copy.deepcopy(ospec[f])
        if _needs_node_ports(spec):
            old_ports = {
                (p.get("port"), p.get("protocol", "TCP")): p.get("nodePort")
                for p in ospec.get("ports") or []
                if isinstance(p, dict)
            }
            for p in spec.get("ports") or []:
                if isinstance(p, dict) and not p.get("nodePort"):
                    np = old_ports.get((p.get("port"), p.get("protocol", "TCP")))
                    if np:
                        p["nodePort"] = np
        if _needs_hc_port(spec) and not spec.get("healthCheckNodePort") and ospec.get("healthCheckNodePort"):
            spec["healthCheckNodePort"] = ospec["healthCheckNodePort"]
        # dropTypeDependentFields
        if not _needs_cluster_ip(spec) and _needs_cluster_ip(ospec):
            for f in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
                if spec.get(f) == ospec.get(f):
                    spec.pop(f, None)
        if not _needs_node_ports(spec):
            for p in spec.get("ports") or []:
                if isinstance(p, dict) and p.get("nodePort") and _needs_node_ports(ospec):
                    p.pop("nodePort")
        if not _needs_hc_port(spec):
            spec.pop("healthCheckNodePort", None)
        if spec.get("type") != "LoadBalancer":
            for f in ("allocateLoadBalancerNodePorts", "loadBalancerClass"):
                if ospec.get("type") == "LoadBalancer" and spec.get(f) == ospec.get(f):
                    spec.pop(f, None)
            new.setdefault("status", {})["loadBalancer"] = {}
        if spec.get("type") not in ("NodePort", "LoadBalancer") and spec.get("externalTrafficPolicy") == ospec.get(
            "externalTrafficPolicy"
        ):
            spec.pop("externalTrafficPolicy", None)
        self._defaults(spec)

    def prepare_status_update(self, new: dict[str, Any], old: dict[str, Any], api: Api) -> None:
        for ing in ((new.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
            if isinstance(ing, dict) and ing.get("ip") and "ipMode" not in ing:
                ing["ipMode"] = "VIP"  # LoadBalancerIPMode (GA in 1.32) defaults this

    # -- validation --
    def validate(self, obj: dict[str, Any], old: dict[str, Any] | None, api: Api) -> Causes:
        spec = obj.get("spec") or {}
        errs: Causes = []
        t = spec.get("type")
        if t not in _SVC_TYPES:
            errs.append(
                cause(
                    "FieldValueNotSupported",
                    "spec.type",
                    f'Unsupported value: "{t}": supported values: "ClusterIP", "ExternalName", '
                    f'"LoadBalancer", "NodePort"',
                )
            )
        ports = spec.get("ports") or []
        headless = spec.get("clusterIP") == "None"
        if not ports and t != "ExternalName" and not headless:
            errs.append(cause("FieldValueRequired", "spec.ports", "Required value"))
        seen: set[tuple[Any, Any]] = set()
        names: set[str] = set()
        for i, p in enumerate(ports):
            at = f"spec.ports[{i}]"
            if not isinstance(p, dict):
                errs.append(cause("FieldValueTypeInvalid", at, "Invalid value: must be an object"))
                continue
            port = p.get("port")
            if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
                errs.append(
                    cause(
                        "FieldValueInvalid",
                        f"{at}.port",
                        f"Invalid value: {port!r}: must be between 1 and 65535, inclusive",
                    )
                )
            if p.get("protocol") not in _PROTOCOLS:
                errs.append(
                    cause(
                        "FieldValueNotSupported",
                        f"{at}.protocol",
                        f'Unsupported value: "{p.get("protocol")}": supported values: "SCTP", "TCP", "UDP"',
                    )
                )
            if len(ports) > 1 and not p.get("name"):
                errs.append(cause("FieldValueRequired", f"{at}.name", "Required value"))
            if p.get("name"):
                if p["name"] in names:
                    errs.append(cause("FieldValueDuplicate", f"{at}.name", f'Duplicate value: "{p["name"]}"'))
                names.add(p["name"])
            if (port, p.get("protocol")) in seen:
                errs.append(
                    cause(
                        "FieldValueDuplicate",
                        at,
                        f'Duplicate value: {{"protocol":"{p.get("protocol")}","port":{port}}}',
                    )
                )
            seen.add((port, p.get("protocol")))
            if p.get("nodePort") and not _needs_node_ports(spec) and t != "LoadBalancer":
                errs.append(
                    cause(
                        "FieldValueForbidden", f"{at}.nodePort", "Forbidden: may not be used when `type` is 'ClusterIP'"
                    )
                )
        if t == "ExternalName" and not spec.get("externalName"):
            errs.append(cause("FieldValueRequired", "spec.externalName", "Required value"))
        if _needs_cluster_ip(spec):
            policy = spec.get("ipFamilyPolicy")
            fams = spec.get("ipFamilies") or []
            if policy not in _POLICIES:
                errs.append(
                    cause(
                        "FieldValueNotSupported",
                        "spec.ipFamilyPolicy",
                        f'Unsupported value: "{policy}": supported values: "PreferDualStack", '
                        f'"RequireDualStack", "SingleStack"',
                    )
                )
            for i, f in enumerate(fams):
                if f not in ("IPv4", "IPv6"):
                    errs.append(
                        cause(
                            "FieldValueNotSupported",
                            f"spec.ipFamilies[{i}]",
                            f'Unsupported value: "{f}": supported values: "IPv4", "IPv6"',
                        )
                    )
            if len(fams) > 2 or len(set(fams)) != len(fams):
                errs.append(cause("FieldValueInvalid", "spec.ipFamilies", "Invalid value: must not have duplicates"))
            if policy == "SingleStack" and len(fams) > 1:
                errs.append(
                    cause(
                        "FieldValueInvalid",
                        "spec.ipFamilies",
                        "Invalid value: when spec.ipFamilyPolicy is SingleStack, only one ipFamily may be specified",
                    )
                )
            ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
            if spec.get("clusterIP") and ips and spec["clusterIP"] != ips[0]:
                errs.append(
                    cause("FieldValueInvalid", "spec.clusterIPs", "Invalid value: first value must match `clusterIP`")
                )
            for i, ip in enumerate(ips):
                if ip == "None":
                    continue
                try:
                    addr = ipaddress.ip_address(ip)
                except ValueError:
                    errs.append(
                        cause(
                            "FieldValueInvalid",
                            f"spec.clusterIPs[{i}]",
                            f'Invalid value: "{ip}": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)',
                        )
                    )
                    continue
                fam = "IPv6" if addr.version == 6 else "IPv4"
                if i < len(fams) and fams[i] != fam:
                    errs.append(
                        cause(
                            "FieldValueInvalid",
                            f"spec.clusterIPs[{i}]",
                            f'Invalid value: "{ip}": expected an {fams[i]} value as indicated by `ipFamilies[{i}]`',
                        )
                    )
            if old is not None and _needs_cluster_ip(old.get("spec") or {}):
                oips = old["spec"].get("clusterIPs") or []
                if oips and ips and ips[0] != oips[0]:
                    errs.append(
                        cause(
                            "FieldValueInvalid",
                            "spec.clusterIPs[0]",
                            f"Invalid value: {ips!r}: may not change once set",
                        )
                    )
        for f, allowed in (
            ("externalTrafficPolicy", ("Cluster", "Local")),
            ("internalTrafficPolicy", ("Cluster", "Local")),
            ("sessionAffinity", ("None", "ClientIP")),
        ):
            if f in spec and spec[f] not in allowed:
                errs.append(
                    cause(
                        "FieldValueNotSupported",
                        f"spec.{f}",
                        f'Unsupported value: "{spec[f]}": supported values: ' + ", ".join(f'"{a}"' for a in allowed),
                    )
                )
        errs.extend(self._validate_status(obj))
        return errs

    @staticmethod
    def _validate_status(obj: dict[str, Any]) -> Causes:
        errs: Causes = []
        ingress = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        for i, ing in enumerate(ingress):
            at = f"status.loadBalancer.ingress[{i}]"
            if not isinstance(ing, dict):
                errs.append(cause("FieldValueTypeInvalid", at, "Invalid value: must be an object"))
                continue
            if ing.get("ip"):
                try:
                    ipaddress.ip_address(ing["ip"])
                except ValueError:
                    errs.append(
                        cause(
                            "FieldValueInvalid", f"{at}.ip", f'Invalid value: "{ing["ip"]}": must be a valid IP address'
                        )
                    )
            if ing.get("ipMode") and ing["ipMode"] not in ("VIP", "Proxy"):
                errs.append(
                    cause(
                        "FieldValueNotSupported",
                        f"{at}.ipMode",
                        f'Unsupported value: "{ing["ipMode"]}": supported values: "Proxy", "VIP"',
                    )
                )
            if ing.get("ipMode") and not ing.get("ip"):
                errs.append(
                    cause("FieldValueForbidden", f"{at}.ipMode", "Forbidden: may not be specified when `ip` is not")
                )
            if ing.get("hostname") and ing.get("ip") is None and re.match(r"^[\d.:]+$", ing["hostname"]):
                errs.append(
                    cause(
                        "FieldValueInvalid",
                        f"{at}.hostname",
                        f'Invalid value: "{ing["hostname"]}": must be a DNS name, not an IP address',
                    )
                )
        return errs

    # -- allocation --
    def allocate(self, obj: dict[str, Any], old: dict[str, Any] | None, api: Api) -> None:
        spec = obj["spec"]
        ospec = (old or {}).get("spec") or {}
        claimed_ips: list[tuple[str, int]] = []
        claimed_ports: list[int] = []
        name = obj["metadata"].get("name", "")

        def fail(field: str, message: str) -> None:
            for fam, v in claimed_ips:
                self.ips[fam].release(v)
            for v in claimed_ports:
                self.ports.release(v)
            raise invalid("Service", "", name, [cause("FieldValueInvalid", field, message)])

        # cluster IPs
        if _needs_cluster_ip(spec) and not (ospec.get("clusterIPs") and _needs_cluster_ip(ospec)):
            if spec.get("clusterIP") == "None" or (spec.get("clusterIPs") or [None])[0] == "None":
                spec["clusterIP"], spec["clusterIPs"] = "None", ["None"]
            else:
                wanted = list(spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else []))
                result = []
                for i, fam in enumerate(spec["ipFamilies"]):
                    if i < len(wanted) and wanted[i]:
                        value = int(ipaddress.ip_address(wanted[i]))
                        if not self.ips[fam].claim(value):
                            fail(
                                f"spec.clusterIPs[{i}]",
                                f'Invalid value: ["{wanted[i]}"]: failed to allocate IP {wanted[i]}: '
                                f"provided IP is already allocated"
                                if self.ips[fam].first <= value <= self.ips[fam].last
                                else f'Invalid value: ["{wanted[i]}"]: failed to allocate IP {wanted[i]}: the '
                                f"provided IP ({wanted[i]}) is not in the valid range. The range of valid IPs "
                                f"is {SERVICE_CIDRS[fam]}",
                            )
                    else:
                        value = self.ips[fam].allocate()
                    claimed_ips.append((fam, value))
                    result.append(str(ipaddress.ip_address(value)))
                spec["clusterIPs"] = result
                spec["clusterIP"] = result[0]
        # node ports
        old_ports = {p.get("nodePort") for p in ospec.get("ports") or [] if isinstance(p, dict)}
        if _needs_node_ports(spec):
            for i, p in enumerate(spec.get("ports") or []):
                np = p.get("nodePort")
                if np and np in old_ports:
                    continue
                if np:
                    if not self.ports.claim(np):
                        fail(
                            f"spec.ports[{i}].nodePort",
                            f"Invalid value: {np}: provided port is already allocated"
                            if self.ports.first <= np <= self.ports.last
                            else f"Invalid value: {np}: provided port is not in the valid range. "
                            f"The range of valid ports is {self.ports.first}-{self.ports.last}",
                        )
                else:
                    np = self._allocate_port()
                    p["nodePort"] = np
                claimed_ports.append(np)
        if _needs_hc_port(spec):
            hc = spec.get("healthCheckNodePort")
            if not hc:
                spec["healthCheckNodePort"] = self._allocate_port()
                claimed_ports.append(spec["healthCheckNodePort"])
            elif hc != ospec.get("healthCheckNodePort"):
                if not self.ports.claim(hc):
                    fail("spec.healthCheckNodePort", f"Invalid value: {hc}: provided port is already allocated")
                claimed_ports.append(hc)
        if old is not None:
            self._release_unused(old, obj)

    def _allocate_port(self) -> int:
        try:
            return self.ports.allocate()
        except ApiError as exc:
            raise ApiError(
                500, "InternalError", "Internal error occurred: failed to allocate a nodePort: range is full"
            ) from exc

    def set_node_port_range(self, first: int, last: int) -> None:
        """``--service-node-port-range`` (default 30000-32767)."""
        self.ports.resize(first, last)

    def _release_unused(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        ospec, spec = old.get("spec") or {}, new.get("spec") or {}
        still_ports = {p.get("nodePort") for p in spec.get("ports") or []} | {spec.get("healthCheckNodePort")}
        for v in [p.get("nodePort") for p in ospec.get("ports") or []] + [ospec.get("healthCheckNodePort")]:
            if v and v not in still_ports:
                self.ports.release(v)
        still_ips = set(spec.get("clusterIPs") or [])
        for ip in ospec.get("clusterIPs") or []:
            if ip != "None" and ip not in still_ips:
                addr = ipaddress.ip_address(ip)
                self.ips["IPv6" if addr.version == 6 else "IPv4"].release(int(addr))

    def release(self, obj: dict[str, Any], api: Api) -> None:
        self._release_unused(obj, {"spec": {}})


class NodeStrategy(Strategy):
    """Nodes keep the status sent on create (the kubelet registers with it)."""


def strategy_for(rt: ResourceType) -> Strategy:
    if rt.is_custom:
        return CustomResourceStrategy(rt)
    table: dict[tuple[str, str], type[Strategy]] = {
        ("", "services"): ServiceStrategy,
        ("", "namespaces"): NamespaceStrategy,
        ("", "pods"): PodStrategy,
        ("", "nodes"): NodeStrategy,
        ("", "secrets"): SecretStrategy,
        ("", "serviceaccounts"): ServiceAccountStrategy,
        (rbac.GROUP, "roles"): RoleStrategy,
        (rbac.GROUP, "clusterroles"): RoleStrategy,
        (rbac.GROUP, "rolebindings"): BindingStrategy,
        (rbac.GROUP, "clusterrolebindings"): BindingStrategy,
        ("discovery.k8s.io", "endpointslices"): EndpointSliceStrategy,
        ("coordination.k8s.io", "leases"): LeaseStrategy,
        ("", "events"): CoreEventStrategy,
        ("events.k8s.io", "events"): EventsV1Strategy,
        ("apiextensions.k8s.io", "customresourcedefinitions"): CRDStrategy,
    }
    return table.get(rt.key, Strategy)(rt)
