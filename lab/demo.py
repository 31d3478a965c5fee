"""The README's main command (until the full lab lands): the speaker against the API emulator.

Starts the Kubernetes API emulator, creates the seed's pool (10.1.1.240-10.1.1.250, LAN 10.1.1.0/24), runs a
real ``baremetal-lb speaker`` process against it, creates a few LoadBalancer Services the way a user would
(Traefik first), and prints what each got. Everything runs on loopback and is stopped at the end.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kubernetes import client

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.kubeapi import ApiServer, write_kubeconfig  # noqa: E402  (the emulator is a test fixture)

NS = "metallb-system"


def service(
    name: str, ns: str, ports: list[tuple[str, int]], annotations: dict[str, str] | None = None, **spec: object
) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns, "annotations": annotations or {}},
        "spec": {
            "type": "LoadBalancer",
            "selector": {"app": name},
            "ports": [{"name": f"{p.lower()}-{n}", "protocol": p, "port": n} for p, n in ports],
            **spec,
        },
    }


def main() -> int:
    with (
        tempfile.TemporaryDirectory(prefix="baremetal-lb-demo-") as tmp,
        ApiServer(port=0, crd_dirs=[ROOT / "speaker" / "crds"]) as api,
    ):
        kubeconfig = Path(tmp) / "kubeconfig"
        write_kubeconfig(kubeconfig, api.url)
        kc = client.ApiClient(client.Configuration(host=api.url))
        core, custom = client.CoreV1Api(kc), client.CustomObjectsApi(kc)
        core.create_namespace({"metadata": {"name": NS}})
        core.create_namespace({"metadata": {"name": "traefik"}})
        custom.create_namespaced_custom_object(
            "metallb.io",
            "v1beta1",
            NS,
            "ipaddresspools",
            {
                "apiVersion": "metallb.io/v1beta1",
                "kind": "IPAddressPool",
                "metadata": {"name": "lan"},
                "spec": {"addresses": ["10.1.1.240-10.1.1.250"]},
            },
        )
        custom.create_namespaced_custom_object(
            "metallb.io",
            "v1beta1",
            NS,
            "l2advertisements",
            {
                "apiVersion": "metallb.io/v1beta1",
                "kind": "L2Advertisement",
                "metadata": {"name": "lan"},
                "spec": {"ipAddressPools": ["lan"]},
            },
        )
        print(f"API emulator at {api.url}; pool 'lan' = 10.1.1.240-10.1.1.250 in {NS}")

        env = dict(os.environ, PYTHONUNBUFFERED="1")
        config = Path(tmp) / "speaker.yaml"
        # Allocation only: this demo runs in the machine's own network namespace, where answering ARP for
        # 10.1.1.240 could disturb a real LAN. The Layer 2 lab runs speakers in namespaces of their own.
        config.write_text("layer2: {enabled: false}\n")
        speaker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "speaker",
                "speaker",
                "--config",
                str(config),
                "--kubeconfig",
                str(kubeconfig),
                "--node-name",
                "node-1",
                "--namespace",
                NS,
                "--metrics-listen",
                "127.0.0.1:0",
            ],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            # Traefik first, as in the seed: it gets the pool's first address, 10.1.1.240.
            core.create_namespaced_service("traefik", service("traefik", "traefik", [("TCP", 80), ("TCP", 443)]))
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                lb = core.read_namespaced_service("traefik", "traefik").status.load_balancer
                if lb and lb.ingress:
                    break
                time.sleep(0.1)
            core.create_namespaced_service("default", service("whoami", "default", [("TCP", 80)]))
            core.create_namespaced_service(
                "default", service("dns-tcp", "default", [("TCP", 53)], {"metallb.io/allow-shared-ip": "dns"})
            )
            core.create_namespaced_service(
                "default", service("dns-udp", "default", [("UDP", 53)], {"metallb.io/allow-shared-ip": "dns"})
            )
            core.create_namespaced_service(
                "default", service("printer", "default", [("TCP", 631)], {"metallb.io/loadBalancerIPs": "10.1.1.250"})
            )
            wanted = [
                ("traefik", "traefik"),
                ("default", "whoami"),
                ("default", "dns-tcp"),
                ("default", "dns-udp"),
                ("default", "printer"),
            ]
            deadline = time.monotonic() + 30
            got: dict[str, list[str]] = {}
            while time.monotonic() < deadline and len(got) < len(wanted):
                for ns, name in wanted:
                    svc = core.read_namespaced_service(name, ns)
                    ingress = (svc.status.load_balancer.ingress or []) if svc.status.load_balancer else []
                    if ingress:
                        got[f"{ns}/{name}"] = [i.ip for i in ingress]
                time.sleep(0.2)
            print(f"\n{'SERVICE':<20} {'EXTERNAL-IP':<16} POOL")
            for ns, name in wanted:
                svc = core.read_namespaced_service(name, ns)
                pool = (svc.metadata.annotations or {}).get("metallb.io/ip-allocated-from-pool", "-")
                print(f"{ns + '/' + name:<20} {', '.join(got.get(f'{ns}/{name}', ['<pending>'])):<16} {pool}")
            pool = custom.get_namespaced_custom_object_status("metallb.io", "v1beta1", NS, "ipaddresspools", "lan")
            st = pool.get("status") or {}
            print(f"\npool lan: {st.get('assignedIPv4', '?')} assigned, {st.get('availableIPv4', '?')} available")
            print(
                "\nhttp://10.1.1.240 is Traefik's address; with the Layer 2 announcer (next issue) the LAN reaches it."
            )
            return 0 if len(got) == len(wanted) else 1
        finally:
            speaker.send_signal(signal.SIGTERM)
            try:
                _, err = speaker.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                speaker.kill()
                _, err = speaker.communicate()
            print("\nspeaker log:\n  " + "\n  ".join(err.strip().splitlines()[-12:]))


if __name__ == "__main__":
    sys.exit(main())
