"""The speaker's config file: defaults, overrides, and errors that name the field and the value."""

import pytest

from speaker.config.node import ConfigError, build_speaker_config, duration_setting, load_speaker_config


def test_defaults_are_usable():
    cfg = build_speaker_config({"node_name": "node-1"})
    assert cfg.namespace == "metallb-system"
    assert cfg.lease.duration == 15 and cfg.lease.renew_deadline == 10 and cfg.lease.retry_period == 2
    assert cfg.load_balancer_class is None


def test_full_file(tmp_path):
    f = tmp_path / "speaker.yaml"
    f.write_text(
        "node_name: worker-2\nnamespace: lb\nkubeconfig: /etc/baremetal-lb/kubeconfig\n"
        "load_balancer_class: baremetal-lb.io/lb\nlog_level: debug\nmetrics_listen: '[::1]:9000'\n"
        "lease: {name: alloc, duration: 1m, renew_deadline: 40s, retry_period: 1500ms}\n"
    )
    cfg = load_speaker_config(f)
    assert (cfg.node_name, cfg.namespace, cfg.load_balancer_class) == ("worker-2", "lb", "baremetal-lb.io/lb")
    assert (cfg.lease.name, cfg.lease.duration, cfg.lease.renew_deadline, cfg.lease.retry_period) == (
        "alloc",
        60,
        40,
        1.5,
    )


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"node_nmae": "x"}, "node_nmae: unknown setting"),
        ({"node_name": "Node_1"}, "node_name: 'Node_1' is not a valid Kubernetes node name"),
        ({"namespace": "a.b"}, "namespace: 'a.b' is not a valid namespace name"),
        ({"log_level": "loud"}, "log_level: 'loud' is not one of"),
        ({"metrics_listen": "localhost:80"}, "metrics_listen: 'localhost:80' is not an address:port"),
        ({"lease": {"duration": "soon"}}, "lease.duration: 'soon' is not a duration"),
        ({"lease": {"duration": "5s"}}, "need duration > renew_deadline > retry_period, got 5s, 10s, 2s"),
        ({"lease": {"retyr_period": "1s"}}, "lease.retyr_period: unknown setting"),
        ({"status_writers": 0}, "status_writers: 0 must be an integer from 1 to 64"),
        ({"kubeconfig": ""}, "kubeconfig: '' must be a non-empty string"),
        ([1, 2], "the top level must be a mapping"),
    ],
)
def test_errors_name_field_and_value(raw, message):
    with pytest.raises(ConfigError) as exc:
        build_speaker_config(raw)
    assert message in str(exc.value)


def test_command_line_overrides_file_and_is_validated():
    cfg = build_speaker_config({"node_name": "a", "namespace": "lb"})
    assert cfg.with_overrides(node_name="b", namespace=None).node_name == "b"
    assert cfg.with_overrides(node_name="b", namespace=None).namespace == "lb"
    with pytest.raises(ConfigError, match="node_name: 'B!'"):
        cfg.with_overrides(node_name="B!")


def test_missing_explicit_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_speaker_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize("text, seconds", [("15s", 15), ("1m30s", 90), ("500ms", 0.5), ("1h", 3600), (2, 2.0)])
def test_durations(text, seconds):
    assert duration_setting(text, "x") == seconds


def test_layer2_and_membership_sections():
    cfg = build_speaker_config(
        {
            "layer2": {"probe": False, "refresh_interval": "30s"},
            "membership": {
                "key_file": "/etc/baremetal-lb/membership.key",
                "interval": "100ms",
                "dead_after": "400ms",
                "peers": {"n2": "198.51.100.12"},
            },
        }
    )
    assert cfg.layer2.probe is False and cfg.layer2.refresh_interval == 30
    assert cfg.membership.interval == 0.1 and cfg.membership.peers == (("n2", "198.51.100.12"),)
    assert build_speaker_config({}).membership.key_file is None


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"layer2": {"probe": "yes"}}, "layer2.probe: 'yes' must be true or false"),
        ({"layer2": {"arp": 1}}, "layer2.arp: unknown setting"),
        ({"membership": {"interval": "1s", "dead_after": "500ms"}}, "membership.dead_after: 0.5s must be longer"),
        ({"membership": {"peers": {"n2": "node-two"}}}, "membership.peers.n2: 'node-two' is not an IP address"),
        ({"membership": {"port": 70000}}, "membership.port: 70000 is not a UDP port"),
    ],
)
def test_layer2_and_membership_errors(raw, message):
    with pytest.raises(ConfigError) as exc:
        build_speaker_config(raw)
    assert message in str(exc.value)


def test_heartbeat_key_from_the_memberlist_secret_by_default():
    m = build_speaker_config({}).membership
    assert (m.key_file, m.secret_name, m.create_secret, m.key_overlap) == (None, "memberlist", True, 120.0)
    m = build_speaker_config(
        {"membership": {"secret_name": "metallb-memberlist", "create_secret": False, "key_overlap": "5m"}}
    ).membership
    assert (m.secret_name, m.create_secret, m.key_overlap) == ("metallb-memberlist", False, 300.0)


@pytest.mark.parametrize(
    "raw, message",
    [
        (
            {"membership": {"secret_name": "Not_A_Name"}},
            "membership.secret_name: 'Not_A_Name' is not a valid Secret name",
        ),
        ({"membership": {"create_secret": "yes"}}, "membership.create_secret: 'yes' must be true or false"),
        ({"membership": {"key_overlap": "0s"}}, "membership.key_overlap: '0s' must be positive"),
        ({"ignore_exclude_lb": "true"}, "ignore_exclude_lb: 'true' must be true or false"),
    ],
)
def test_new_settings_name_field_and_value(raw, message):
    with pytest.raises(ConfigError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        build_speaker_config(raw)


def test_ignore_exclude_lb_from_file_and_command_line():
    assert build_speaker_config({"ignore_exclude_lb": True}).ignore_exclude_lb is True
    assert build_speaker_config({}).with_overrides(ignore_exclude_lb=True).ignore_exclude_lb is True
    assert build_speaker_config({}).ignore_exclude_lb is False
