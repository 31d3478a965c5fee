"""Real ``baremetal-lb speaker`` processes against the API emulator, driven through the official client."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.endpointslices import READY, families_of, put_endpoints
from tests.kubeapi import DEFAULT_TOKEN, ApiServer
from tests.waiting import free_port, wait_for  # re-exported for the tests

NS = "metallb-system"
ROOT = Path(__file__).resolve().parents[2]


class SpeakerProcess:
    """One speaker as a user runs it: ``python -m speaker speaker --kubeconfig … --node-name …``."""

    def __init__(
        self,
        kubeconfig: Path,
        node: str,
        tmp: Path,
        *,
        lease: tuple[str, str, str] = ("3s", "2s", "0.3s"),
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.node = node
        self.port = free_port()
        self.config = tmp / f"speaker-{node}.yaml"
        duration, renew, retry = lease
        text = (
            f"node_name: {node}\nnamespace: {NS}\nlog_level: debug\nmetrics_listen: 127.0.0.1:{self.port}\n"
            f"lease: {{duration: {duration}, renew_deadline: {renew}, retry_period: {retry}}}\n"
        )
        # In the root namespace: allocation only. Layer 2 would answer ARP on this machine's real interfaces.
        extra = {"layer2": {"enabled": False}, **(extra or {})}
        for k, v in extra.items():
            text += f"{k}: {json.dumps(v)}\n"
        self.config.write_text(text)
        self.kubeconfig = kubeconfig
        self.log = tmp / f"speaker-{node}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> SpeakerProcess:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env.pop("KUBECONFIG", None)
        self._logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "speaker",
                "speaker",
                "--config",
                str(self.config),
                "--kubeconfig",
                str(self.kubeconfig),
            ],
            env=env,
            stdout=self._logf,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        wait_for(f"speaker {self.node} to serve /status", lambda: self.status() is not None, timeout=20)
        return self

    def status(self) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/status", timeout=2) as r:
                return json.load(r)
        except OSError:
            return None

    def is_leader(self) -> bool:
        st = self.status()
        return bool(st and st["allocator_leader"])

    def terminate(self, timeout: float = 10) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout)
        self._logf.close()
        return rc

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        if hasattr(self, "_logf"):
            self._logf.close()

    def logs(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


ADMIN_RULES = [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]


@pytest.fixture
def rbac_kube_api() -> Iterator[ApiServer]:
    """The emulator with RBAC on: the test's admin token may do anything, every other token needs RBAC objects.
    A test module that checks real credentials makes it its ``kube_api`` (so the shared fixtures use it)."""
    server = ApiServer(0, crd_dirs=[ROOT / "speaker" / "crds"], authz={DEFAULT_TOKEN: ADMIN_RULES}, rbac=True).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def speakers(
    kubeconfig: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., SpeakerProcess]]:
    """Factory: ``speakers("node-1")`` starts a speaker; all are killed at teardown, logs shown on failure."""
    started: list[SpeakerProcess] = []

    def start(node: str = "node-1", **kw: Any) -> SpeakerProcess:
        sp = SpeakerProcess(kubeconfig, node, tmp_path, **kw).start()
        started.append(sp)
        return sp

    yield start
    for sp in started:
        sp.kill()
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        for sp in started:
            print(f"----- speaker {sp.node} log -----\n{sp.logs()[-6000:]}")


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


class Cluster:
    """What a user does with kubectl, through the official client."""

    def __init__(self, api: client.ApiClient) -> None:
        self.core = client.CoreV1Api(api)
        self.custom = client.CustomObjectsApi(api)
        self.core.create_namespace({"metadata": {"name": NS}})

    def pool(self, name: str, addresses: list[str], **spec: Any) -> dict[str, Any]:
        return self.custom.create_namespaced_custom_object(
            "metallb.io",
            "v1beta1",
            NS,
            "ipaddresspools",
            {
                "apiVersion": "metallb.io/v1beta1",
                "kind": "IPAddressPool",
                "metadata": {"name": name},
                "spec": {"addresses": addresses, **spec},
            },
        )

    def patch_pool(self, name: str, spec: dict[str, Any]) -> None:
        self.custom.patch_namespaced_custom_object(
            "metallb.io",
            "v1beta1",
            NS,
            "ipaddresspools",
            name,
            {"spec": spec},
            _content_type="application/merge-patch+json",
        )

    def get_pool(self, name: str) -> dict[str, Any]:
        return self.custom.get_namespaced_custom_object("metallb.io", "v1beta1", NS, "ipaddresspools", name)

    def namespace(self, name: str, labels: dict[str, str] | None = None) -> None:
        self.core.create_namespace({"metadata": {"name": name, "labels": labels or {}}})

    def service(
        self,
        name: str,
        ns: str = "default",
        *,
        ports: list[tuple[str, int]] | None = None,
        annotations: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
        endpoints: Sequence[str | None] | None = (None,),
        **spec: Any,
    ) -> dict[str, Any]:
        """A LoadBalancer Service, and — as a real cluster's EndpointSlice controller would once its Pods are up —
        its EndpointSlice (tests/endpointslices.py): ``endpoints`` names the node of each ready endpoint (None: one
        whose node is not named, the default: enough for ``externalTrafficPolicy: Cluster``); ``endpoints=None``:
        no slice (Pods that never came up)."""
        body = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": ns, "annotations": annotations or {}, "labels": labels or {}},
            "spec": {
                "type": "LoadBalancer",
                "selector": {"app": name},
                "ports": [{"name": f"{p.lower()}{n}", "protocol": p, "port": n} for p, n in (ports or [("TCP", 80)])],
                **spec,
            },
        }
        if endpoints is not None:  # first, as Pods usually are: the speaker sees the Service with its endpoints
            self.endpoints(name, endpoints, ns=ns, service=body)
        self.core.create_namespaced_service(ns, body)
        return body

    def endpoints(
        self,
        name: str,
        nodes: Sequence[str | None] = (None,),
        *,
        ns: str = "default",
        conditions: Mapping[str, bool] = READY,
        service: Mapping[str, Any] | None = None,
    ) -> None:
        """Set the Service's endpoints (create or replace its EndpointSlices): one per entry of ``nodes``, each with
        ``conditions`` (``tests.endpointslices.READY``, ``NOT_READY``, ``DRAINING``); ``nodes=()``: none (scaled
        to zero)."""
        spec = (service if service is not None else self.svc(name, ns))["spec"]
        put_endpoints(
            self.core.api_client,
            name,
            ns,
            nodes,
            families=families_of(spec),
            ports=spec["ports"],
            conditions=conditions,
        )

    def svc(self, name: str, ns: str = "default") -> dict[str, Any]:
        resp = self.core.read_namespaced_service(name, ns, _preload_content=False)
        return json.loads(resp.data)

    def ips(self, name: str, ns: str = "default") -> list[str]:
        ingress = ((self.svc(name, ns).get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        return [i["ip"] for i in ingress]

    def wait_ips(self, name: str, ns: str = "default", count: int = 1, timeout: float = 15) -> list[str]:
        return wait_for(
            f"{ns}/{name} to get {count} address(es)",
            lambda: (ips := self.ips(name, ns)) and len(ips) >= count and ips,
            timeout,
        )

    def announcements(self, plural: str, service: str | None = None) -> list[tuple[str, str, list[str] | None]]:
        """ServiceL2Status (``servicel2statuses``) / ServiceBGPStatus (``servicebgpstatuses``) objects as they
        are: ``(node, Service name, interface or peer names)``, sorted; the names are ``None`` while the status is
        not written yet. A real API server drops ``status`` on create when the CRD has a status subresource, so
        the speaker creates first and writes status second, and a listing can fall between the two: node and
        Service come from the labels, set at create. A status that contradicts its labels fails the test."""
        items = self.custom.list_namespaced_custom_object("metallb.io", "v1beta1", NS, plural)["items"]
        out = []
        for o in items:
            labels = (o.get("metadata") or {}).get("labels") or {}
            node, name = labels.get("metallb.io/node", ""), labels.get("metallb.io/service-name", "")
            if service is not None and name != service:
                continue
            status = o.get("status")
            names = None
            if status is not None:
                assert (status.get("node"), status.get("serviceName"), status.get("serviceNamespace")) == (
                    node,
                    name,
                    labels.get("metallb.io/service-namespace"),
                ), f"status contradicts labels: {o}"
                names = [
                    i["name"] if isinstance(i, dict) else i
                    for i in status.get("interfaces" if plural == "servicel2statuses" else "peers") or []
                ]
            out.append((node, name, names))
        return sorted(out, key=lambda t: (t[0], t[1]))

    def events(self, name: str, ns: str = "default", reason: str | None = None) -> list[dict[str, Any]]:
        data = json.loads(self.core.list_namespaced_event(ns, _preload_content=False).data)
        return [
            e
            for e in data["items"]
            if e["involvedObject"].get("name") == name and (reason is None or e.get("reason") == reason)
        ]

    def wait_event(self, name: str, reason: str, ns: str = "default", timeout: float = 15) -> dict[str, Any]:
        return wait_for(
            f"a {reason} event on {ns}/{name}", lambda: (ev := self.events(name, ns, reason)) and ev[-1], timeout
        )


@pytest.fixture
def cluster(kube_client: client.ApiClient) -> Cluster:
    return Cluster(kube_client)
