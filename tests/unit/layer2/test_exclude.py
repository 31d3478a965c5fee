"""MetalLB's ``metallb-excludel2`` ConfigMap → the interfaces Layer 2 never answers on (pure parsing).

The format: metallb/metallb ``config/native/exclude-l2-config.yaml`` (the ConfigMap MetalLB ships) and
``speaker/main.go`` line 587 (``parseAnnouncedInterfacesToExclude``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from speaker.cli import load_manifest
from speaker.layer2.exclude import DEFAULT, DEFAULT_PATTERNS, ExclusionError, from_configmap

ROOT = Path(__file__).resolve().parents[3]
NS = "metallb-system"


def cm(text):
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "metallb-excludel2", "namespace": NS},
        "data": {"excludel2.yaml": text},
    }


def test_metallbs_own_configmap_is_its_default_list():
    """The ConfigMap of MetalLB's native manifest, as kubectl would send it (tests/data/metallb/extra/)."""
    (doc,) = load_manifest((ROOT / "tests/data/metallb/extra/excludel2_default.yaml").read_text())
    ex = from_configmap(doc, NS)
    assert ex.patterns == DEFAULT_PATTERNS
    assert ex.source == "ConfigMap metallb-system/metallb-excludel2"


# (description, the excludel2.yaml text, interface names excluded, names not excluded)
ACCEPTED = [
    ("flow list", 'announcedInterfacesToExclude: ["^eth1$", "^bond.*"]', ["eth1", "bond0"], ["eth10", "eth0"]),
    ("block list", "announcedInterfacesToExclude:\n- ^eth1$\n- wg", ["eth1", "wg0", "mywg"], ["eth0"]),
    ("unanchored, as Go's MatchString", "announcedInterfacesToExclude: [vlan]", ["vlan20", "eth0.vlan"], ["eth0"]),
    ("the key case-insensitively, as encoding/json", "AnnouncedInterfacesToExclude: [x]", ["x0"], ["eth0"]),
    ("other keys ignored", "somethingElse: 3\nannouncedInterfacesToExclude: [x]", ["x0"], ["eth0"]),
    ("an empty list: nothing", "announcedInterfacesToExclude: []", [], ["docker0", "veth1", "lo"]),
    ("no list: nothing", "{}", [], ["docker0"]),
    ("an empty document: nothing", "", [], ["docker0"]),
]


@pytest.mark.parametrize(("text", "excluded", "kept"), [c[1:] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED])
def test_accepted(text, excluded, kept):
    ex = from_configmap(cm(text), NS)
    assert [n for n in excluded if ex.match(n) is None] == []
    assert [n for n in kept if ex.match(n) is not None] == []


def test_no_configmap_means_metallbs_shipped_list_and_no_key_means_nothing():
    assert from_configmap(None, NS) == DEFAULT
    assert DEFAULT.match("docker0") == "^docker.*" and DEFAULT.match("lo") == "^lo$"
    assert DEFAULT.match("eth0") is None and DEFAULT.match("lo0") is None and DEFAULT.match("eno1") is None
    other_key = {"metadata": {"name": "metallb-excludel2"}, "data": {"config.yaml": "x"}}
    assert from_configmap(other_key, NS).patterns == ()


# (description, text, what the error must say) — each one MetalLB's speaker refuses to start with.
REFUSED = [
    (
        "a pattern that does not compile",
        'announcedInterfacesToExclude: ["^eth0$", "eth[0"]',
        "data.excludel2.yaml: announcedInterfacesToExclude[1]: 'eth[0' is not a valid regular expression",
    ),
    (
        "an entry that is not a string",
        "announcedInterfacesToExclude: [eth0, 42]",
        "announcedInterfacesToExclude[1]: 42 is not a string",
    ),
    (
        "not a list",
        "announcedInterfacesToExclude: eth0",
        "announcedInterfacesToExclude: 'eth0' is not a list of regular expressions",
    ),
    ("not YAML", "announcedInterfacesToExclude: [eth0", "data.excludel2.yaml: not valid YAML"),
    ("not a mapping", "- eth0", "data.excludel2.yaml: ['eth0'] is not a mapping with announcedInterfacesToExclude"),
]


@pytest.mark.parametrize(("text", "message"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_refused_with_the_key_and_the_value(text, message):
    with pytest.raises(ExclusionError) as err:
        from_configmap(cm(text), NS)
    assert str(err.value).startswith("ConfigMap metallb-system/metallb-excludel2: ")
    assert message in str(err.value)
