"""Cluster access shared by address_pool and speaker_identity (plugins/module_utils/k8s_auth.py and its doc
fragment): resolution order, error messages, documented environment variables.

Runs under both ``pytest`` and ``ansible-test units`` (see tests/unit/plugins/conftest.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible_collections.baremetal.lb.plugins.doc_fragments.k8s_auth import ModuleDocFragment
from ansible_collections.baremetal.lb.plugins.module_utils import k8s_auth

# ------------------------------------------------------------------------------------------------ auth options


def test_auth_resolution_order_param_then_keyword_then_env():
    class M:
        params = {
            "kubeconfig": None,
            "context": "from-param",
            "host": None,
            "api_key": None,
            "validate_certs": None,
            "ca_cert": None,
            "client_cert": None,
            "client_key": None,
        }

    env = {
        "K8S_AUTH_CONTEXT": "from-env",
        "K8S_AUTH_HOST": "https://env:6443",
        "KUBECONFIG": "/a:/b",
        "K8S_AUTH_VERIFY_SSL": "no",
        "K8S_AUTH_API_KEY": "tok",
    }
    opts = k8s_auth.resolve_options(M(), environ=env, context="from-kw", host="https://kw:6443")
    assert opts["context"] == ("from-param", "param")
    assert opts["host"] == ("https://kw:6443", "keyword")
    assert opts["kubeconfig"] == ("/a:/b", "env:KUBECONFIG")
    assert opts["validate_certs"] == (False, "env:K8S_AUTH_VERIFY_SSL")
    assert opts["api_key"] == ("tok", "env:K8S_AUTH_API_KEY")
    env["K8S_AUTH_KUBECONFIG"] = "~/kc"
    expected = (str(Path("~/kc").expanduser()), "env:K8S_AUTH_KUBECONFIG")
    assert k8s_auth.resolve_options(None, environ=env)["kubeconfig"] == expected


def test_bad_env_bool_names_the_variable():
    with pytest.raises(k8s_auth.K8sAuthError, match="K8S_AUTH_VERIFY_SSL='maybe'"):
        k8s_auth.resolve_options(None, environ={"K8S_AUTH_VERIFY_SSL": "maybe"})


def test_get_client_names_the_missing_kubeconfig_and_its_source(tmp_path):
    with pytest.raises(k8s_auth.K8sAuthError) as info:
        k8s_auth.get_client(environ={"K8S_AUTH_KUBECONFIG": str(tmp_path / "nope")})
    assert (
        str(info.value)
        == f"kubeconfig (from the environment variable K8S_AUTH_KUBECONFIG): {tmp_path / 'nope'} does not exist"
    )


def test_get_client_host_and_api_key_override(tmp_path):
    client = k8s_auth.get_client(host="http://127.0.0.1:1/", api_key="s3cret", validate_certs=False, environ={})
    try:
        cfg = client.configuration
        assert cfg.host == "http://127.0.0.1:1"
        assert cfg.auth_settings()["BearerToken"]["value"] == "Bearer s3cret"
        assert cfg.verify_ssl is False
    finally:
        client.close()


def test_every_auth_option_names_its_environment_variables():
    options = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    assert sorted(options) == sorted(k8s_auth.K8S_AUTH_ARG_SPEC) == sorted(k8s_auth.ENV_FALLBACKS)
    for name, envs in k8s_auth.ENV_FALLBACKS.items():
        text = " ".join(options[name]["description"])
        for env in envs:
            assert f"E({env})" in text, (name, env)
