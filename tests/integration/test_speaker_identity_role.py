"""The one description of the cluster: the speaker role builds the nodes' kubeconfig from ``baremetal_lb_kubeconfig``.

The identity module reports the API server URL and CA it reached the cluster with; the role refuses a loopback
server (a k3s.yaml copied as it is) before any node is configured, unless ``baremetal_lb_speaker_api_server`` says
where the nodes reach the API.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config

from tests.collection import REPO, collection_path, run_playbook, task_results
from tests.kubeapi import ApiServer

pytestmark = pytest.mark.timeout(120)

CA = (REPO / "tests" / "kubeapi" / "ca.crt").read_text()


def identity_play(**extra: str) -> list[dict]:
    return [
        {
            "hosts": "localhost",
            "gather_facts": False,
            "vars": dict(extra),
            "tasks": [
                {
                    "name": "identity",
                    "ansible.builtin.include_role": {
                        "name": str(REPO / "roles" / "speaker"),
                        "tasks_from": "identity.yml",
                    },
                },
                {
                    "name": "result",
                    "ansible.builtin.debug": {
                        "msg": "{{ __baremetal_lb_speaker_identity_result | dict2items "
                        "| rejectattr('key', 'equalto', 'token') | items2dict }}"
                    },
                },
            ],
        }
    ]


def test_loopback_kubeconfig_is_refused_naming_the_variable(kube_api: ApiServer, kubeconfig: Path) -> None:
    # the emulator listens on 127.0.0.1, like a k3s.yaml copied from a server as it is
    rc, out = run_playbook(identity_play(baremetal_lb_kubeconfig=str(kubeconfig)))
    assert rc != 0
    failed = [r for r in task_results(out) if r.get("_status") == "failed"]
    assert len(failed) == 1, failed
    msg = failed[0]["msg"]
    assert f"API server {kube_api.url}" in msg and "baremetal_lb_speaker_api_server" in msg, msg


def test_api_server_and_ca_come_from_the_admin_kubeconfig(kube_api: ApiServer, kubeconfig: Path) -> None:
    rc, out = run_playbook(
        identity_play(
            baremetal_lb_kubeconfig=str(kubeconfig), baremetal_lb_speaker_api_server="http://198.51.100.11:6443"
        )
    )
    assert rc == 0, out
    result = [r for r in task_results(out, "result")][0]["msg"]
    assert result["api_server"] == kube_api.url  # what the module reached; the override is the role's business
    assert result["api_ca_cert"] == ""  # a plain-http kubeconfig has no CA
    sa = client.CoreV1Api(_admin(kubeconfig)).read_namespaced_service_account("baremetal-lb-speaker", "metallb-system")
    assert sa.metadata.name == "baremetal-lb-speaker"


def test_cluster_endpoint_reads_the_kubeconfigs_ca(tmp_path: Path) -> None:
    import sys

    if str(collection_path()) not in sys.path:
        sys.path.insert(0, str(collection_path()))
    from ansible_collections.baremetal.lb.plugins.module_utils.speaker_identity import cluster_endpoint

    path = tmp_path / "admin.kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "c",
                        "cluster": {
                            "server": "https://198.51.100.11:6443",
                            "certificate-authority-data": base64.b64encode(CA.encode()).decode(),
                        },
                    }
                ],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(path), client_configuration=configuration, persist_config=False)
    assert cluster_endpoint(configuration) == {"api_server": "https://198.51.100.11:6443", "api_ca_cert": CA}


def _admin(kubeconfig: Path) -> client.ApiClient:
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration, persist_config=False)
    return client.ApiClient(configuration)
