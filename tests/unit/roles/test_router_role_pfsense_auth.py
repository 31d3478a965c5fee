"""baremetal.lb.router with pfSense's authentication as the REST API package ships it: a user name and password
(Basic, the only method a fresh install allows) or an API key, never both; the password never printed; a CA file
passed to the module. Runs against the pfSense contract FAKE (tests/fakes/pfsense.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.collection import PYTHON, run_playbook, task_result, task_results
from tests.fakes.pfsense import FakePfsense

PLAYBOOK = (Path(__file__).resolve().parents[3] / "playbooks" / "router.yml").read_text()
POOLS = [{"name": "lan", "addresses": ["10.1.1.240-10.1.1.250"], "mode": "layer2", "router": {"scope": "lan"}}]


def inventory(url: str, **extra: Any) -> dict[str, Any]:
    return {
        "all": {
            "children": {
                "routers": {
                    "hosts": {
                        "gw": {
                            "ansible_connection": "local",
                            "ansible_python_interpreter": PYTHON,
                            "baremetal_lb_router_backend": "pfsense",
                            "baremetal_lb_router_api_url": url,
                            **extra,
                        }
                    }
                }
            }
        }
    }


def self_signed_pem() -> bytes:
    """A self-signed certificate such as pfSense's web UI makes for itself (the CA file the module loads)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pfsense.home.arpa")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def test_a_fresh_install_with_a_user_and_password(tmp_path):
    ca = tmp_path / "pfsense-webui.pem"
    ca.write_bytes(self_signed_pem())
    with FakePfsense() as pf:  # Basic auth only, as the package installs
        pf.users["ansible"] = {"password": "n0t-in-the-log", "disabled": False, "privileges": ["page-all"]}
        inv = inventory(
            pf.url,
            baremetal_lb_router_api_username="ansible",
            baremetal_lb_router_api_password="n0t-in-the-log",
            baremetal_lb_router_ca_path=str(ca),
        )
        rc, out = run_playbook(PLAYBOOK, inventory=inv, extra_vars={"baremetal_lb_pools": POOLS})
        assert rc == 0, out
        (res,) = task_result(out, "Reserve | keep")["results"]
        assert res["changed"] and pf.applied["lan"]["range_to"] == "10.1.1.239"
        args = res["invocation"]["module_args"]
        assert (args["api_username"], args["api_password"], args["ca_path"], args["api_key"]) == (
            "ansible",
            "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER",
            str(ca),
            None,
        )
        assert "n0t-in-the-log" not in json.dumps(out)
        assert all(h.get("authorization", "").startswith("Basic ") for _, _, h in pf.log)


def test_preflight_wants_a_key_or_a_login_not_both_not_half():
    for extra in (
        {},
        {
            "baremetal_lb_router_api_key": "k",
            "baremetal_lb_router_api_username": "u",
            "baremetal_lb_router_api_password": "p",
        },
        {"baremetal_lb_router_api_username": "u"},
    ):
        with FakePfsense() as pf:
            rc, out = run_playbook(
                PLAYBOOK, inventory=inventory(pf.url, **extra), extra_vars={"baremetal_lb_pools": POOLS}
            )
            assert rc != 0
            (failed,) = [r for r in task_results(out) if r["_status"] == "failed"]
            assert (
                "backend pfsense needs either baremetal_lb_router_api_key (Key authentication) or "
                "baremetal_lb_router_api_username and baremetal_lb_router_api_password" in failed["msg"]
            ), failed
            assert pf.log == []
