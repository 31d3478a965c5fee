"""Service-account tokens: the token controller, TokenRequest, and the authenticator for both.

As a real control plane does it (kube-controller-manager's ``pkg/controller/serviceaccount/
tokens_controller.go``, kube-apiserver's ``pkg/serviceaccount/{legacy,claims}.go``):

* **Token controller.** A Secret of type ``kubernetes.io/service-account-token`` whose annotation
  ``kubernetes.io/service-account.name`` names an existing ServiceAccount gets ``data.token``,
  ``data.ca.crt`` and ``data.namespace`` (each only when missing) and the annotation
  ``kubernetes.io/service-account.uid``. A token Secret whose account does not exist (or has another
  uid than the annotation says) is deleted, and deleting an account deletes its token Secrets. The
  emulator runs this synchronously after each write, so the creating request's response has no token
  yet and the next read does.
* **Legacy tokens** are JWTs over exactly upstream's claims (``sub``, ``iss: kubernetes/serviceaccount``,
  namespace, secret name, account name and uid), so the same Secret name for the same account yields the
  same token, as upstream's deterministic RS256 signature does. The emulator signs with HS256 and a
  per-server key. A token authenticates as ``system:serviceaccount:NS:NAME`` while its Secret exists
  with that token and the account exists with that uid; the first use each day labels the Secret
  ``kubernetes.io/legacy-token-last-used: YYYY-MM-DD``.
* **TokenRequest** (``serviceaccounts/NAME/token``) answers a bound token (audiences, expiry, ``jti``)
  that authenticates while it has not expired, names one of the API server's audiences and its account
  still exists with the same uid.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import secrets
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import errors
from .errors import ApiError, cause
from .rbac import UserInfo, service_account_user

if TYPE_CHECKING:  # pragma: no cover
    from .api import Api

TOKEN_TYPE = "kubernetes.io/service-account-token"
SA_NAME_ANNOTATION = "kubernetes.io/service-account.name"
SA_UID_ANNOTATION = "kubernetes.io/service-account.uid"
LAST_USED_LABEL = "kubernetes.io/legacy-token-last-used"
LEGACY_ISSUER = "kubernetes/serviceaccount"
ISSUER = "https://kubernetes.default.svc.cluster.local"  # --service-account-issuer; also the API audience
API_AUDIENCES = (ISSUER,)
CA_PEM = (Path(__file__).with_name("ca.crt")).read_bytes()  # a self-signed "kubernetes" CA (no key kept)

SECRETS, SERVICE_ACCOUNTS = ("", "secrets"), ("", "serviceaccounts")
_LEGACY = "kubernetes.io/serviceaccount/"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _json(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()  # Go marshals maps sorted


class TokenIssuer:
    """Signs and verifies the emulator's service-account JWTs; holds the CA that token Secrets carry."""

    def __init__(self, ca_pem: bytes | None = None, *, key: bytes | None = None) -> None:
        self.key = key or secrets.token_bytes(32)
        self.ca_pem = CA_PEM if ca_pem is None else ca_pem
        self.kid = _b64(hashlib.sha256(b"kid:" + self.key).digest())

    def sign(self, claims: dict[str, Any]) -> str:
        head = _b64(_json({"alg": "HS256", "kid": self.kid})) + "." + _b64(_json(claims))
        return head + "." + _b64(hmac.new(self.key, head.encode(), hashlib.sha256).digest())

    def verify(self, token: str) -> dict[str, Any] | None:
        """The claims of a token this issuer signed, or None."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        head = f"{parts[0]}.{parts[1]}"
        try:
            good = hmac.compare_digest(_unb64(parts[2]), hmac.new(self.key, head.encode(), hashlib.sha256).digest())
            claims = json.loads(_unb64(parts[1])) if good else None
        except (ValueError, TypeError):
            return None
        return claims if isinstance(claims, dict) else None

    def legacy_token(self, namespace: str, account: str, account_uid: str, secret_name: str) -> str:
        """``serviceaccount.LegacyClaims``: no issue time, no id — one token per (account, Secret name)."""
        return self.sign(
            {
                "iss": LEGACY_ISSUER,
                "sub": f"system:serviceaccount:{namespace}:{account}",
                _LEGACY + "namespace": namespace,
                _LEGACY + "secret.name": secret_name,
                _LEGACY + "service-account.name": account,
                _LEGACY + "service-account.uid": account_uid,
            }
        )

    def bound_token(
        self, namespace: str, account: str, account_uid: str, audiences: list[str], seconds: int, now: int
    ) -> str:
        """``serviceaccount.Claims`` of a TokenRequest not bound to a pod or Secret."""
        return self.sign(
            {
                "aud": audiences,
                "exp": now + seconds,
                "iat": now,
                "iss": ISSUER,
                "jti": str(uuid.uuid4()),
                "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": account, "uid": account_uid}},
                "nbf": now,
                "sub": f"system:serviceaccount:{namespace}:{account}",
            }
        )


def _live(api: Api, key: tuple[str, str], namespace: str, name: str) -> dict[str, Any] | None:
    entry = api.store.get(key, namespace, name)
    if entry is None or entry.obj["metadata"].get("deletionTimestamp"):
        return None
    return entry.obj


def _account(api: Api, namespace: str, name: str, uid: str | None) -> dict[str, Any] | None:
    """``TokensController.getServiceAccount``: the account, if it exists and (when given) has ``uid``."""
    sa = _live(api, SERVICE_ACCOUNTS, namespace, name)
    if sa is None or (uid and sa["metadata"].get("uid") != uid):
        return None
    return sa


def _b64decode(value: Any) -> bytes:
    try:
        return base64.b64decode(value or "")
    except (ValueError, TypeError):
        return b""


# ------------------------------------------------------------------------------------------ token controller


def sync_token_secret(api: Api, secret: dict[str, Any]) -> None:
    """``TokensController.syncSecret`` for one Secret (store lock held; called after every write of one)."""
    meta = secret["metadata"]
    annotations = meta.get("annotations") or {}
    account = annotations.get(SA_NAME_ANNOTATION)
    if secret.get("type") != TOKEN_TYPE or meta.get("deletionTimestamp") or not account:
        return
    ns, name = meta["namespace"], meta["name"]
    rt = api.registry.by_key(SECRETS)
    assert rt is not None
    sa = _account(api, ns, account, annotations.get(SA_UID_ANNOTATION))
    if sa is None:  # "Service account does not exist, deleting token"
        try:
            api.delete(rt, ns, name, {"preconditions": {"uid": meta["uid"]}})
        except ApiError as exc:
            if exc.code not in (404, 409):
                raise
        return
    data = secret.get("data") or {}
    ca = api.tokens.ca_pem
    needs_ca = bool(ca) and _b64decode(data.get("ca.crt")) != ca
    needs_namespace = not data.get("namespace")
    needs_token = not data.get("token")
    if not (needs_ca or needs_namespace or needs_token):
        return
    live = api.store.get(SECRETS, ns, name)
    if live is None:
        return
    body = json.loads(live.raw)
    new = dict(body.get("data") or {})
    if needs_ca:
        new["ca.crt"] = base64.b64encode(ca).decode()
    if needs_namespace:
        new["namespace"] = base64.b64encode(ns.encode()).decode()
    if needs_token:
        token = api.tokens.legacy_token(ns, account, sa["metadata"]["uid"], name)
        new["token"] = base64.b64encode(token.encode()).decode()
    body["data"] = new
    body["metadata"]["annotations"] = dict(
        body["metadata"].get("annotations") or {},
        **{SA_NAME_ANNOTATION: account, SA_UID_ANNOTATION: sa["metadata"]["uid"]},
    )
    api.update(rt, ns, name, body)


def delete_account_tokens(api: Api, sa: dict[str, Any]) -> None:
    """``TokensController.syncServiceAccount`` for a deleted account: its token Secrets go too."""
    meta = sa["metadata"]
    rt = api.registry.by_key(SECRETS)
    assert rt is not None
    for entry in list(api.store.iter(SECRETS, meta["namespace"])):
        secret = entry.obj
        annotations = secret["metadata"].get("annotations") or {}
        uid = annotations.get(SA_UID_ANNOTATION)
        if (
            secret.get("type") == TOKEN_TYPE
            and annotations.get(SA_NAME_ANNOTATION) == meta["name"]
            and (not uid or uid == meta.get("uid"))
        ):
            try:
                api.delete(rt, meta["namespace"], secret["metadata"]["name"])
            except ApiError as exc:
                if exc.code != 404:
                    raise


# ------------------------------------------------------------------------------------------ TokenRequest


def token_request(api: Api, sa: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    """``serviceaccounts/token``: validate (``ValidateTokenRequest``), default and answer a bound token."""
    spec = dict(request.get("spec") or {})
    spec.setdefault("expirationSeconds", 3600)
    if not spec.get("audiences"):
        spec["audiences"] = list(API_AUDIENCES)
    seconds = spec["expirationSeconds"]
    if not isinstance(seconds, int) or seconds < 600:
        raise errors.invalid(
            "TokenRequest",
            "authentication.k8s.io",
            "",
            [
                cause(
                    "FieldValueInvalid",
                    "spec.expirationSeconds",
                    f"Invalid value: {seconds}: may not specify a duration less than 10 minutes",
                )
            ],
        )
    if seconds > 1 << 32:
        raise errors.invalid(
            "TokenRequest",
            "authentication.k8s.io",
            "",
            [
                cause(
                    "FieldValueInvalid",
                    "spec.expirationSeconds",
                    f"Invalid value: {seconds}: may not specify a duration larger than 2^32 seconds",
                )
            ],
        )
    meta = sa["metadata"]
    now = int(time.time())
    token = api.tokens.bound_token(meta["namespace"], meta["name"], meta["uid"], list(spec["audiences"]), seconds, now)
    return {
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"], "creationTimestamp": None},
        "spec": spec,
        "status": {
            "token": token,
            "expirationTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + seconds)),
        },
    }


# ------------------------------------------------------------------------------------------ authentication


def authenticate(api: Api, token: str) -> UserInfo | None:
    """The user a service-account token stands for, or None (the request is then 401)."""
    claims = api.tokens.verify(token)
    if claims is None:
        return None
    if claims.get("iss") == LEGACY_ISSUER:
        return _legacy(api, token, claims)
    if claims.get("iss") == ISSUER:
        return _bound(api, claims)
    return None


def _legacy(api: Api, token: str, claims: dict[str, Any]) -> UserInfo | None:
    """``legacyValidator.Validate`` with lookup (the apiserver default)."""
    ns, secret_name = claims.get(_LEGACY + "namespace"), claims.get(_LEGACY + "secret.name")
    account, uid = claims.get(_LEGACY + "service-account.name"), claims.get(_LEGACY + "service-account.uid")
    if not (ns and secret_name and account and uid) or claims.get("sub") != f"system:serviceaccount:{ns}:{account}":
        return None
    secret = _live(api, SECRETS, ns, secret_name)
    if secret is None or not hmac.compare_digest(_b64decode((secret.get("data") or {}).get("token")), token.encode()):
        return None  # "Token has been invalidated" / "Token does not match server's copy"
    if _account(api, ns, account, uid) is None:
        return None
    today = time.strftime("%Y-%m-%d", time.gmtime())
    tomorrow = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400))
    if (secret["metadata"].get("labels") or {}).get(LAST_USED_LABEL) not in (today, tomorrow):
        rt = api.registry.by_key(SECRETS)
        assert rt is not None
        patch = {"metadata": {"uid": secret["metadata"]["uid"], "labels": {LAST_USED_LABEL: today}}}
        with contextlib.suppress(ApiError):  # upstream logs and goes on
            api.patch(rt, ns, secret_name, json.dumps(patch).encode(), "application/merge-patch+json")
    return service_account_user(ns, account, uid)


def _bound(api: Api, claims: dict[str, Any]) -> UserInfo | None:
    """``validator.Validate`` for a bound token: time window, audience, the account (name and uid)."""
    now = time.time()
    aud = claims.get("aud") or []
    if not isinstance(aud, list) or not set(aud) & set(API_AUDIENCES):
        return None
    if not (claims.get("nbf", 0) - 60 <= now < claims.get("exp", 0) + 60):  # upstream allows 60 s of skew
        return None
    k8s = claims.get("kubernetes.io") or {}
    ns, sa = k8s.get("namespace"), k8s.get("serviceaccount") or {}
    if not (ns and sa.get("name") and sa.get("uid")) or _account(api, ns, sa["name"], sa["uid"]) is None:
        return None
    return service_account_user(ns, sa["name"], sa["uid"])
