"""baremetal.lb.router: no templated argument dict (ansible-core 2.19 warns "Using a template for task args is
unsafe"), and the explicit arguments that replaced it pass the module exactly what the old
``combine(baremetal_lb_router_options)`` did. Runs against the pfSense contract FAKE; the role's other tests are in
tests/unit/plugins/test_dhcp_router_role.py."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from tests.collection import PYTHON, VENV_BIN, ansible_env, collection_path, run_playbook, task_result, task_results
from tests.fakes.pfsense import FakePfsense

REPO = Path(__file__).resolve().parents[3]
ROLE = REPO / "roles" / "router"
PLAYBOOK = REPO / "playbooks" / "router.yml"
POOLS = [{"name": "lan", "addresses": ["10.1.1.240-10.1.1.250"], "mode": "layer2", "router": {"scope": "lan"}}]
UNSAFE = "Using a template for task args is unsafe"

sys.path.insert(0, str(collection_path()))
from ansible_collections.baremetal.lb.plugins.module_utils.dhcp_module import ARG_SPEC  # noqa: E402


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
                            "baremetal_lb_router_api_key": "pf-secret-key",
                            **extra,
                        }
                    }
                }
            }
        }
    }


def run_as_a_person_sees_it(inv: dict[str, Any], extra_vars: dict[str, Any]) -> tuple[int, str]:
    """ansible-playbook with the default stdout callback (the tests' JSON callback does not print warnings)."""
    with tempfile.TemporaryDirectory(prefix="blb-router-", dir=collection_path() / "tmp") as tmp:
        (Path(tmp) / "inventory.yml").write_text(yaml.safe_dump(inv))
        (Path(tmp) / "vars.yml").write_text(yaml.safe_dump(extra_vars))
        proc = subprocess.run(
            [str(VENV_BIN / "ansible-playbook"), "-i", f"{tmp}/inventory.yml", str(PLAYBOOK), "-e", f"@{tmp}/vars.yml"],
            env=ansible_env({"ANSIBLE_STDOUT_CALLBACK": "default"}),
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp,
        )
    return proc.returncode, proc.stdout + proc.stderr


def test_role_run_prints_no_unsafe_template_warning():
    with FakePfsense(auth_methods=("BasicAuth", "KeyAuth")) as pf:
        rc, text = run_as_a_person_sees_it(
            inventory(pf.url, baremetal_lb_router_options={"subnet_cmds": "never"}), {"baremetal_lb_pools": POOLS}
        )
        assert rc == 0, text
        assert "changed: [gw -> localhost] => (item=lan 10.1.1.240-10.1.1.250)" in text, text
        assert UNSAFE not in text and "[WARNING]" not in text, text
        assert pf.applied["lan"]["range_to"] == "10.1.1.239"


def test_no_role_task_takes_its_arguments_from_one_template():
    # every role: ansible-core 2.19 warns "Using a template for task args is unsafe" for this form
    files = sorted((REPO / "roles").glob("*/tasks/*.yml"))
    assert {f.parent.parent.name for f in files} == {"router", "pools", "speaker"}
    for tasks_file in files:
        for task in yaml.safe_load(tasks_file.read_text()) or []:
            for key, value in task.items():
                if "." in key and key.count(".") >= 2:  # a module by FQCN
                    assert not (isinstance(value, str) and "{{" in value), f"{tasks_file}: {task.get('name')}"


def test_the_task_passes_every_module_option_and_the_specs_match_the_module():
    (reserve,) = [
        t for t in yaml.safe_load((ROLE / "tasks" / "main.yml").read_text()) if "baremetal.lb.dhcp_reservation" in t
    ]
    args = reserve["baremetal.lb.dhcp_reservation"]
    assert set(args) == set(ARG_SPEC)
    specs = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    backend_options = specs["baremetal_lb_router_options"]["options"]
    for name, spec in backend_options.items():
        module = ARG_SPEC[name]
        assert (spec["type"], spec.get("choices"), spec.get("elements")) == (
            module["type"],
            module.get("choices"),
            module.get("elements"),
        ), name
        assert "default" not in spec and "required" not in spec, name  # the module's defaults apply
        assert args[name] == f"{{{{ baremetal_lb_router_options.{name} | default(omit) }}}}"
    # every module option is either a role variable of its own or a backend option
    own = {
        "backend",
        "range",
        "state",
        "scope",
        "accept_active_leases",
        "api_url",
        "api_key",
        "api_secret",
        "api_username",
        "api_password",
        "ca_path",
        "validate_certs",
        "timeout",
    }
    assert own | set(backend_options) == set(ARG_SPEC) and not own & set(backend_options)


def test_module_gets_what_the_combine_form_gave_it():
    """The arguments the module receives, for the cases the old ``args | combine(options)`` handled."""
    pools = POOLS + [{"name": "dmz", "addresses": ["10.1.1.230"], "router": {}, "state": "absent"}]
    with FakePfsense(auth_methods=("BasicAuth", "KeyAuth")) as pf:
        inv = inventory(
            pf.url,
            baremetal_lb_router_options={
                "conf_file": "/etc/dnsmasq.d/lan.conf",
                "restart_command": ["rc-service", "dnsmasq", "restart"],
                "opnsense_dhcp": "dnsmasq",
            },
            baremetal_lb_router_accept_active_leases=True,
            baremetal_lb_router_timeout=7,
        )
        rc, out = run_playbook(PLAYBOOK.read_text(), inventory=inv, extra_vars={"baremetal_lb_pools": pools})
        assert rc == 0, out
        lan, dmz = [r["invocation"]["module_args"] for r in task_result(out, "Reserve | keep")["results"]]
    assert lan == {
        "backend": "pfsense",
        "range": "10.1.1.240-10.1.1.250",
        "state": "present",
        "scope": "lan",
        "accept_active_leases": True,
        "api_url": pf.url,
        "api_key": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER",
        "api_secret": None,
        "api_username": None,
        "api_password": None,
        "ca_path": None,
        "validate_certs": True,
        "timeout": 7,
        # given in baremetal_lb_router_options, passed as they are
        "conf_file": "/etc/dnsmasq.d/lan.conf",
        "restart_command": ["rc-service", "dnsmasq", "restart"],
        "opnsense_dhcp": "dnsmasq",
        # not given: omitted, so the module's own defaults
        "subnet_cmds": "auto",
        "config_dir": None,
        "lease_file": None,
        "service": None,
        "dnsmasq_binary": "dnsmasq",
        "uci_command": "uci",
        "openwrt_transport": None,
    }
    # router: {} and no baremetal_lb_router_scope: scope omitted (the module finds it); state from the pool
    assert (dmz["range"], dmz["state"], dmz["scope"]) == ("10.1.1.230", "absent", None)


def test_an_unknown_option_key_is_refused_before_any_task():
    with FakePfsense(auth_methods=("BasicAuth", "KeyAuth")) as pf:
        rc, out = run_playbook(
            PLAYBOOK.read_text(),
            inventory=inventory(pf.url, baremetal_lb_router_options={"validate_certs": False}),
            extra_vars={"baremetal_lb_pools": POOLS},
        )
        assert rc != 0
        (failed,) = [r for r in task_results(out) if r["_status"] == "failed"]
        assert "baremetal_lb_router_options.validate_certs" in failed["msg"], failed
        assert "Supported parameters include: conf_file, config_dir" in failed["msg"], failed
        assert pf.log == []  # the router was not even asked
