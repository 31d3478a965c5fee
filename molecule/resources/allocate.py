"""From a node: create a pool and a LoadBalancer Service in the cluster, wait for the speaker to give it an
address, print ``{"service": ..., "ips": [...], "pool": ...}``; exit 1 on timeout. Runs with the speaker's venv
(which has the official client) as the cluster admin would (the speaker's own token may not create these).
Idempotent: existing objects are reused."""

import argparse
import json
import sys
import time

from kubernetes import client
from kubernetes.client.exceptions import ApiException

parser = argparse.ArgumentParser()
parser.add_argument("--server", required=True)
parser.add_argument("--token", required=True)
parser.add_argument("--namespace", default="metallb-system")
parser.add_argument("--timeout", type=float, default=20)
args = parser.parse_args()

conf = client.Configuration()
conf.host = args.server
conf.api_key = {"authorization": args.token}
conf.api_key_prefix = {"authorization": "Bearer"}
api = client.ApiClient(conf)
core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)


def create(fn, *a):
    try:
        fn(*a)
    except ApiException as exc:
        if exc.status != 409:
            raise


create(
    custom.create_namespaced_custom_object,
    "metallb.io",
    "v1beta1",
    args.namespace,
    "ipaddresspools",
    {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": "molecule"},
        "spec": {"addresses": ["192.0.2.240-192.0.2.250"]},
    },
)
create(
    core.create_namespaced_service,
    "default",
    {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "traefik"},
        "spec": {"type": "LoadBalancer", "selector": {"app": "traefik"}, "ports": [{"port": 80, "protocol": "TCP"}]},
    },
)
deadline = time.monotonic() + args.timeout
while time.monotonic() < deadline:
    svc = json.loads(core.read_namespaced_service("traefik", "default", _preload_content=False).data)
    ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    if ingress:
        print(
            json.dumps(
                {
                    "service": "default/traefik",
                    "ips": [i["ip"] for i in ingress],
                    "pool": svc["metadata"].get("annotations", {}).get("metallb.io/ip-allocated-from-pool"),
                }
            )
        )
        sys.exit(0)
    time.sleep(0.2)
print(f"default/traefik got no address within {args.timeout}s", file=sys.stderr)
sys.exit(1)
