"""The speaker role's interface and templates, without a node: defaults vs argument_specs, house rules
(STYLE.md "The roles"), and what the templates render (the config passes the speaker's own validation, the unit
has what systemd needs to supervise and confine the speaker). Molecule covers a real node."""

from __future__ import annotations

import base64
import configparser
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from speaker.config.node import build_speaker_config
from tests.collection import run_playbook, task_result

ROLE = Path(__file__).resolve().parents[3] / "roles" / "speaker"
# The one description of the cluster: the same variables in every role that reaches it (docs/roles.md).
SHARED = {"baremetal_lb_kubeconfig", "baremetal_lb_kube_context", "baremetal_lb_namespace"}


def _yaml(rel: str) -> Any:
    return yaml.safe_load((ROLE / rel).read_text())


def test_defaults_are_mirrored_by_argument_specs() -> None:
    defaults = _yaml("defaults/main.yml")
    options = _yaml("meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    assert set(defaults) == set(options), (
        f"only in defaults: {sorted(set(defaults) - set(options))}; "
        f"only in specs: {sorted(set(options) - set(defaults))}"
    )
    for name, spec in options.items():
        assert spec.get("default") == defaults[name], f"{name}: default differs between defaults/ and argument_specs"
        assert spec.get("description"), f"{name}: no description"
        assert name.startswith("baremetal_lb_speaker_") or name in SHARED, name


def test_shared_cluster_variables_mean_the_same_in_every_role() -> None:
    roles = ROLE.parent
    seen: dict[str, dict[str, Any]] = {}
    for role in ("pools", "speaker"):
        defaults = yaml.safe_load((roles / role / "defaults" / "main.yml").read_text())
        assert set(defaults) >= SHARED, (role, SHARED - set(defaults))
        for name in SHARED:
            seen.setdefault(name, {})[role] = defaults[name]
    assert all(len(set(map(str, by_role.values()))) == 1 for by_role in seen.values()), seen


def test_vars_hold_only_internals() -> None:
    assert all(k.startswith("__baremetal_lb_") for k in _yaml("vars/main.yml"))


def test_tasks_run_in_tagged_phases() -> None:
    tasks = _yaml("tasks/main.yml")
    phases = [(t["ansible.builtin.include_tasks"]["file"], t["tags"]) for t in tasks]
    assert [f for f, _ in phases] == [
        "preflight.yml",
        "install.yml",
        "identity.yml",
        "configure.yml",
        "firewall.yml",
        "run.yml",
        "absent.yml",
    ]
    assert all(tags for _, tags in phases)


def test_unit_template_and_handler_follow_house_rules() -> None:
    unit = (ROLE / "templates" / "baremetal-lb-speaker.service.j2").read_text()
    assert unit.startswith("{{ ansible_managed | comment }}")
    (handler,) = _yaml("handlers/main.yml")
    assert handler["listen"] == "baremetal-lb speaker changed"
    assert handler["ansible.builtin.systemd_service"]["daemon_reload"] is True
    assert handler["ansible.builtin.systemd_service"]["state"] == "restarted"


def render(
    out: Path, task_vars: str, templates: str = "speaker.yaml, kubeconfig, baremetal-lb-speaker.service"
) -> dict[str, str]:
    """The role's templates rendered as the role renders them (defaults and vars as files, inventory as task
    vars above them); ``task_vars`` is YAML lines at the task's vars indentation."""
    play = f"""
- hosts: localhost
  gather_facts: false
  vars_files:
    - {ROLE}/defaults/main.yml
    - {ROLE}/vars/main.yml
  tasks:
    - name: render
      vars:  # task vars: above the role files loaded as vars_files
        ansible_managed: managed by the test
        baremetal_lb_speaker_node_name: worker-1
{task_vars}
      ansible.builtin.template:
        src: "{ROLE}/templates/{{{{ item }}}}.j2"
        dest: "{out}/{{{{ item }}}}"
        mode: "0600"
      loop: [{templates}]
"""
    rc, res = run_playbook(play)
    assert rc == 0, task_result(res, "render") if "plays" in res else res
    return {p.name: p.read_text() for p in out.iterdir()}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return render(
        tmp_path_factory.mktemp("render"),
        IDENTITY
        + """
        baremetal_lb_speaker_extra_config: {lease: {duration: 20s}, status_writers: 8}""",
    )


# What baremetal.lb.speaker_identity returns (the token, and the server and CA of the admin kubeconfig it used).
IDENTITY = """\
        __baremetal_lb_speaker_identity_result:
          token: s3cr3t-token
          api_server: https://10.1.1.10:6443
          api_ca_cert: "-----BEGIN CERTIFICATE-----\\nADMIN\\n-----END CERTIFICATE-----"
          ca_cert: "-----BEGIN CERTIFICATE-----\\nSECRET\\n-----END CERTIFICATE-----\""""


def kubeconfig_cluster(text: str) -> dict[str, Any]:
    return yaml.safe_load(text)["clusters"][0]["cluster"]


def test_config_is_what_the_speaker_accepts(rendered: dict[str, str]) -> None:
    raw = yaml.safe_load(rendered["speaker.yaml"])
    assert rendered["speaker.yaml"].startswith("#")
    cfg = build_speaker_config(raw)
    assert cfg.node_name == "worker-1"
    assert cfg.kubeconfig == "/etc/baremetal-lb/kubeconfig"
    assert cfg.lease.duration == 20 and cfg.lease.renew_deadline == 10  # extra_config merged, not replaced
    assert cfg.status_writers == 8
    assert cfg.load_balancer_class is None


def test_kubeconfig_carries_the_token_and_ca(rendered: dict[str, str]) -> None:
    kc = yaml.safe_load(rendered["kubeconfig"])
    assert kc["users"][0]["user"]["token"] == "s3cr3t-token"
    assert kc["clusters"][0]["cluster"]["server"] == "https://10.1.1.10:6443"
    ca = base64.b64decode(kc["clusters"][0]["cluster"]["certificate-authority-data"]).decode()
    assert "ADMIN" in ca  # the admin kubeconfig's CA: the one the control node trusts for that server
    assert kc["contexts"][0]["context"]["namespace"] == "metallb-system"


def test_kubeconfig_overrides_win_over_the_identity(tmp_path: Path) -> None:
    out = render(
        tmp_path,
        IDENTITY
        + """
        baremetal_lb_namespace: lb
        baremetal_lb_speaker_api_server: https://10.1.1.11:6443
        baremetal_lb_speaker_api_ca_cert: "-----BEGIN CERTIFICATE-----\\nMINE\\n-----END CERTIFICATE-----\"""",
        templates="kubeconfig",
    )
    kc = yaml.safe_load(out["kubeconfig"])
    cluster = kc["clusters"][0]["cluster"]
    assert cluster["server"] == "https://10.1.1.11:6443"
    assert "MINE" in base64.b64decode(cluster["certificate-authority-data"]).decode()
    assert kc["users"][0]["user"]["token"] == "s3cr3t-token"
    assert kc["contexts"][0]["context"]["namespace"] == "lb"


def test_kubeconfig_without_the_identity_uses_the_given_token(tmp_path: Path) -> None:
    out = render(
        tmp_path,
        """\
        baremetal_lb_speaker_identity: false
        baremetal_lb_speaker_api_server: http://10.1.1.11:8080
        baremetal_lb_speaker_api_token: byo-token""",
        templates="kubeconfig",
    )
    kc = yaml.safe_load(out["kubeconfig"])
    assert kc["users"][0]["user"]["token"] == "byo-token"
    assert kc["clusters"][0]["cluster"] == {"server": "http://10.1.1.11:8080"}


def test_unit_is_notify_watched_and_confined(rendered: dict[str, str]) -> None:
    text = rendered["baremetal-lb-speaker.service"]
    parser = configparser.ConfigParser(strict=False, interpolation=None, allow_no_value=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(text)
    svc = parser["Service"]
    assert svc["Type"] == "notify"
    assert svc["WatchdogSec"] == "30"
    assert svc["Restart"] == "on-failure"
    assert svc["ExecStart"] == "/opt/baremetal-lb/venv/bin/baremetal-lb speaker --config /etc/baremetal-lb/speaker.yaml"
    caps = {"CAP_NET_RAW", "CAP_NET_ADMIN", "CAP_NET_BIND_SERVICE"}
    assert set(svc["CapabilityBoundingSet"].split()) == caps == set(svc["AmbientCapabilities"].split())
    assert set(svc["RestrictAddressFamilies"].split()) == {"AF_INET", "AF_INET6", "AF_NETLINK", "AF_PACKET", "AF_UNIX"}
    for key, value in {
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "NoNewPrivileges": "yes",
        "PrivateDevices": "yes",
    }.items():
        assert svc[key] == value, key
    assert re.search(r"^SystemCallFilter=@system-service$", text, re.M)
    assert parser["Install"]["WantedBy"] == "multi-user.target"


def test_realtime_priority_opens_exactly_what_sched_fifo_needs(tmp_path) -> None:
    """With a priority the unit gets CAP_SYS_NICE, RestrictRealtime=no and sched_setscheduler back; the config
    carries layer2.realtime_priority; without one (the rendered fixture) none of that is there."""
    out = render(
        tmp_path,
        """\
        __baremetal_lb_speaker_token: t
        __baremetal_lb_speaker_ca: ""
        baremetal_lb_speaker_realtime_priority: 50""",
        templates="speaker.yaml, baremetal-lb-speaker.service",
    )
    unit = out["baremetal-lb-speaker.service"]
    caps = {"CAP_NET_RAW", "CAP_NET_ADMIN", "CAP_NET_BIND_SERVICE", "CAP_SYS_NICE"}
    assert set(re.search(r"^CapabilityBoundingSet=(.*)$", unit, re.M).group(1).split()) == caps
    assert set(re.search(r"^AmbientCapabilities=(.*)$", unit, re.M).group(1).split()) == caps
    assert re.search(r"^RestrictRealtime=no$", unit, re.M) and not re.search(r"^RestrictRealtime=yes$", unit, re.M)
    filters = re.findall(r"^SystemCallFilter=(.*)$", unit, re.M)
    assert filters == ["@system-service", "~@privileged @resources", "sched_setscheduler sched_setattr"]
    cfg = build_speaker_config(yaml.safe_load(out["speaker.yaml"]))
    assert cfg.layer2.realtime_priority == 50


def test_without_realtime_priority_the_unit_stays_confined(rendered: dict[str, str]) -> None:
    unit = rendered["baremetal-lb-speaker.service"]
    assert re.search(r"^RestrictRealtime=yes$", unit, re.M)
    assert "CAP_SYS_NICE" not in unit and "sched_setscheduler" not in unit
    assert build_speaker_config(yaml.safe_load(rendered["speaker.yaml"])).layer2.realtime_priority == 0


def test_preflight_refuses_an_unpinned_package_naming_the_variable() -> None:
    play = """
- hosts: localhost
  gather_facts: false
  roles:
    - role: baremetal.lb.speaker
      vars:
        baremetal_lb_speaker_package: baremetal-lb
        baremetal_lb_speaker_node_name: worker-1
        baremetal_lb_speaker_api_server: http://127.0.0.1:6443
        baremetal_lb_speaker_api_token: t
"""
    rc, res = run_playbook(play, tags="speaker_preflight")
    assert rc != 0
    failed = task_result(res, "The package is pinned")
    assert failed["_status"] == "failed"
    assert "baremetal_lb_speaker_package" in failed["msg"] and "pinned" in failed["msg"]


def test_argument_specs_refuse_a_bad_state() -> None:
    play = """
- hosts: localhost
  gather_facts: false
  roles:
    - role: baremetal.lb.speaker
      vars:
        baremetal_lb_speaker_state: removed
"""
    rc, res = run_playbook(play)
    assert rc != 0
    assert "baremetal_lb_speaker_state" in str(res)


FIREWALL_CASES = {
    "defaults": ("", [{"port": 7947, "proto": "udp", "what": "heartbeats between the speakers"}]),
    "metrics on the LAN, another heartbeat port": (
        """\
        baremetal_lb_speaker_metrics_listen: 0.0.0.0:9472
        baremetal_lb_speaker_extra_config: {membership: {port: 7000}}""",
        [
            {"port": 7000, "proto": "udp", "what": "heartbeats between the speakers"},
            {"port": 9472, "proto": "tcp", "what": "Prometheus metrics"},
        ],
    ),
    "BGP only, metrics on loopback": (
        """\
        baremetal_lb_speaker_extra_config: {layer2: {enabled: false}}""",
        [],
    ),
}


@pytest.mark.parametrize("case", sorted(FIREWALL_CASES))
def test_firewall_opens_what_the_config_makes_the_speaker_receive(tmp_path, case) -> None:
    task_vars, want = FIREWALL_CASES[case]
    play = f"""
- hosts: localhost
  gather_facts: false
  vars_files:
    - {ROLE}/defaults/main.yml
    - {ROLE}/vars/main.yml
  tasks:
    - name: ports
      vars:
        baremetal_lb_speaker_node_name: worker-1
{task_vars}
      ansible.builtin.debug:
        var: __baremetal_lb_speaker_firewall_ports
"""
    rc, res = run_playbook(play)
    assert rc == 0, res
    assert task_result(res, "ports")["__baremetal_lb_speaker_firewall_ports"] == want


@pytest.mark.parametrize(
    "firewall, module", [("ufw", "community.general.ufw"), ("firewalld", "ansible.posix.firewalld")]
)
def test_firewall_tasks_hand_those_ports_to_the_firewall_module(firewall, module) -> None:
    """The tasks as the role runs them, in check mode. Whether the module then finds ufw/firewalld on this machine
    does not matter here: what it was asked to do (its module_args) is what is checked; the other firewall's task
    is skipped. Off by default: with `none` the role does not include the file at all."""
    play = f"""
- hosts: localhost
  gather_facts: false
  vars_files:
    - {ROLE}/defaults/main.yml
    - {ROLE}/vars/main.yml
  tasks:
    - name: firewall
      ansible.builtin.include_tasks:
        file: {ROLE}/tasks/firewall.yml
        apply: {{ignore_errors: true}}  # no ufw/firewalld here: the module's arguments are what is checked
      vars:  # task vars: above the role files loaded as vars_files
        baremetal_lb_speaker_node_name: worker-1
        baremetal_lb_speaker_firewall: {firewall}
"""
    # the firewall modules come from the `ansible` package's collections (a test dependency)
    rc, res = run_playbook(play, check=True, env={"ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "true"})
    tasks = [t for p in res["plays"] for t in p["tasks"]]
    ran = [t for t in tasks if t["task"]["name"].startswith("Open the speaker's ports with")]
    assert len(ran) == 2, res
    used = [t for t in ran if t["hosts"]["localhost"]["_status"] != "skipped"]
    assert [t["task"]["name"] for t in used] == [f"Open the speaker's ports with {firewall}"]
    [item] = used[0]["hosts"]["localhost"]["results"]
    args = item["invocation"]["module_args"]
    if firewall == "ufw":
        assert (args["rule"], args["port"], args["proto"]) == ("allow", "7947", "udp")
    else:
        assert (args["port"], args["permanent"], args["immediate"], args["state"]) == (
            "7947/udp",
            True,
            True,
            "enabled",
        )
    main = _yaml("tasks/main.yml")
    [include] = [t for t in main if t["ansible.builtin.include_tasks"]["file"] == "firewall.yml"]
    assert "baremetal_lb_speaker_firewall != 'none'" in include["when"]
    assert _yaml("defaults/main.yml")["baremetal_lb_speaker_firewall"] == "none"


def test_metrics_token_and_listen_reach_the_config(tmp_path: Path) -> None:
    """A token makes the config name the token file (the role writes the secret there, not into the config)."""
    out = render(
        tmp_path,
        """\
        __baremetal_lb_speaker_token: t
        __baremetal_lb_speaker_ca: ""
        baremetal_lb_speaker_metrics_listen: 0.0.0.0:7472
        baremetal_lb_speaker_metrics_bearer_token: scrape-s3cr3t
        baremetal_lb_speaker_metrics_tls_cert: "-----BEGIN CERTIFICATE-----\\nC\\n-----END CERTIFICATE-----"
        baremetal_lb_speaker_metrics_tls_key: "-----BEGIN PRIVATE KEY-----\\nK3Y\\n-----END PRIVATE KEY-----\"""",
        templates="speaker.yaml",
    )
    assert "scrape-s3cr3t" not in out["speaker.yaml"] and "K3Y" not in out["speaker.yaml"]
    cfg = build_speaker_config(yaml.safe_load(out["speaker.yaml"]))
    assert cfg.metrics_listen == "0.0.0.0:7472"
    assert cfg.metrics_bearer_token_file == "/etc/baremetal-lb/metrics.token"
    assert (cfg.metrics_tls_cert_file, cfg.metrics_tls_key_file) == (
        "/etc/baremetal-lb/metrics.crt",
        "/etc/baremetal-lb/metrics.key",
    )


def test_without_a_metrics_token_the_config_names_none(rendered: dict[str, str]) -> None:
    cfg = build_speaker_config(yaml.safe_load(rendered["speaker.yaml"]))
    assert cfg.metrics_bearer_token_file is None and cfg.metrics_tls_cert_file is None
