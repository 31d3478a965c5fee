# -*- coding: utf-8 -*-
# Copyright: (c) 2026, baremetal-lb developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How cluster-side modules reach the Kubernetes API (kubernetes.core-style options, one resolver).

``K8S_AUTH_ARG_SPEC`` is composed into a module's spec with ``deepcopy(...).update(...)``; its documentation
is the ``baremetal.lb.k8s_auth`` doc fragment (a unit test keeps both in step). ``get_client(module=None, **kw)``
resolves every option param -> keyword -> environment variable and returns an official-client ``ApiClient``
built for this call only (the client's global default configuration is never touched).

Nothing here runs at import time; the ``kubernetes`` package is imported when a client is built.
"""

from __future__ import annotations

import os
import typing as t

if t.TYPE_CHECKING:
    from ansible.module_utils.basic import AnsibleModule

#: Option name -> environment variables consulted, in order, when neither the param nor a keyword sets it.
ENV_FALLBACKS: dict[str, tuple[str, ...]] = {
    "kubeconfig": ("K8S_AUTH_KUBECONFIG", "KUBECONFIG"),
    "context": ("K8S_AUTH_CONTEXT",),
    "host": ("K8S_AUTH_HOST",),
    "api_key": ("K8S_AUTH_API_KEY",),
    "validate_certs": ("K8S_AUTH_VERIFY_SSL",),
    "ca_cert": ("K8S_AUTH_SSL_CA_CERT",),
    "client_cert": ("K8S_AUTH_CERT_FILE",),
    "client_key": ("K8S_AUTH_KEY_FILE",),
}

K8S_AUTH_ARG_SPEC: dict[str, dict[str, t.Any]] = dict(
    kubeconfig=dict(type="path"),
    context=dict(type="str"),
    host=dict(type="str"),
    api_key=dict(type="str", no_log=True),
    validate_certs=dict(type="bool", aliases=["verify_ssl"]),
    ca_cert=dict(type="path", aliases=["ssl_ca_cert"]),
    client_cert=dict(type="path", aliases=["cert_file"]),
    client_key=dict(type="path", aliases=["key_file"], no_log=False),
)

_TRUE = ("1", "true", "yes", "on", "y", "t")
_FALSE = ("0", "false", "no", "off", "n", "f")


class K8sAuthError(Exception):
    """The cluster cannot be reached with the given options; the message says which option to fix."""


def _env_bool(name: str, text: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise K8sAuthError(f"environment variable {name}={text!r} is not a boolean (use true or false)")


def resolve_options(
    module: AnsibleModule | None = None, environ: t.Mapping[str, str] | None = None, **kw: t.Any
) -> dict[str, tuple[t.Any, str | None]]:
    """Each auth option's value and where it came from: ``{option: (value, source)}``.

    Order: the module's param, then the keyword argument, then the environment variables of
    :data:`ENV_FALLBACKS`. ``source`` is ``"param"``, ``"keyword"``, ``"env:NAME"`` or ``None`` (unset).
    """
    environ = os.environ if environ is None else environ
    params: dict[str, t.Any] = module.params if module is not None else {}
    out: dict[str, tuple[t.Any, str | None]] = {}
    for option in K8S_AUTH_ARG_SPEC:
        value: t.Any = params.get(option)
        source: str | None = "param"
        if value is None:
            value, source = kw.get(option), "keyword"
        if value is None:
            for name in ENV_FALLBACKS[option]:
                text = environ.get(name)
                if text:
                    value = _env_bool(name, text) if option == "validate_certs" else text
                    source = f"env:{name}"
                    break
        if value is None:
            source = None
        elif option in ("kubeconfig", "ca_cert", "client_cert", "client_key") and source != "env:KUBECONFIG":
            value = os.path.expanduser(value)
        out[option] = (value, source)
    return out


def _describe(option: str, source: str | None) -> str:
    if source and source.startswith("env:"):
        return f"{option} (from the environment variable {source[4:]})"
    return option


def get_client(module: AnsibleModule | None = None, **kw: t.Any) -> t.Any:
    """An ``kubernetes.client.ApiClient`` for the options of ``module`` / ``kw`` / the environment.

    Without ``kubeconfig`` and ``host``: in-cluster service-account credentials when running in a pod,
    else ``~/.kube/config``. ``host``, ``api_key``, ``validate_certs`` and the certificate options
    override what the kubeconfig says. Raises :class:`K8sAuthError` with a message naming the option.
    """
    environ = kw.pop("environ", None)
    opts = resolve_options(module, environ=environ, **kw)
    value = dict((k, v[0]) for k, v in opts.items())
    try:
        from kubernetes import client as k8s_client
        from kubernetes import config as k8s_config
        from kubernetes.config.config_exception import ConfigException
    except ImportError as exc:
        raise K8sAuthError(
            "the Python package 'kubernetes' is required on the host that runs this module (pip install kubernetes)"
        ) from exc

    kubeconfig, kc_source = opts["kubeconfig"]
    configuration = k8s_client.Configuration()
    loaded = False
    try:
        if kubeconfig:
            paths = [p for p in kubeconfig.split(os.pathsep) if p] if kc_source == "env:KUBECONFIG" else [kubeconfig]
            missing = [p for p in paths if not os.path.exists(p)]
            if missing and len(missing) == len(paths):
                raise K8sAuthError("{}: {} does not exist".format(_describe("kubeconfig", kc_source), missing[0]))
            k8s_config.load_kube_config(
                config_file=kubeconfig,
                context=value["context"],
                client_configuration=configuration,
                persist_config=False,
            )
            loaded = True
        elif not value["host"]:
            if os.environ.get("KUBERNETES_SERVICE_HOST") and os.path.exists(
                "/var/run/secrets/kubernetes.io/serviceaccount/token"
            ):
                k8s_config.load_incluster_config(client_configuration=configuration)
                loaded = True
            elif os.path.exists(os.path.expanduser("~/.kube/config")):
                k8s_config.load_kube_config(
                    context=value["context"], client_configuration=configuration, persist_config=False
                )
                loaded = True
    except ConfigException as exc:
        where = _describe("kubeconfig", kc_source) if kubeconfig else "the default kubeconfig"
        message = str(exc)
        if value["context"] and value["context"] in message:
            where = "{} / {}".format(where, _describe("context", opts["context"][1]))
        raise K8sAuthError(f"{where} cannot be used: {message}") from exc

    if value["host"]:
        configuration.host = value["host"].rstrip("/")
    elif not loaded:
        raise K8sAuthError(
            "no cluster to talk to: set kubeconfig (or K8S_AUTH_KUBECONFIG / KUBECONFIG) "
            "or host (K8S_AUTH_HOST), or run inside a pod"
        )
    if value["api_key"]:
        # The client reads "BearerToken" first; the kubeconfig loader's refresh hook would put its own token back.
        configuration.api_key = {"BearerToken": value["api_key"]}
        configuration.api_key_prefix = {"BearerToken": "Bearer"}
        configuration.refresh_api_key_hook = None
    if value["validate_certs"] is not None:
        configuration.verify_ssl = bool(value["validate_certs"])
    if value["ca_cert"]:
        configuration.ssl_ca_cert = value["ca_cert"]
    if value["client_cert"]:
        configuration.cert_file = value["client_cert"]
    if value["client_key"]:
        configuration.key_file = value["client_key"]
    for option in ("ca_cert", "client_cert", "client_key"):
        path = value[option]
        if path and not os.path.exists(path):
            raise K8sAuthError(f"{_describe(option, opts[option][1])}: {path} does not exist")
    return k8s_client.ApiClient(configuration)
