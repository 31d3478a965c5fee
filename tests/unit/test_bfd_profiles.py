"""BFDProfile: the CRD is installed so MetalLB's BFD samples apply; the native speaker refuses BFD by name, and tells
a peer naming an existing profile from one naming a profile that does not exist (a typo). The speaker watches the
profiles (speaker/kube/kinds.py), so what its config builder sees here is what the daemon sees."""

from __future__ import annotations

from pathlib import Path

import pytest

from speaker.cli import main
from speaker.config.cluster import build_config
from speaker.controllers.views import ViewSource
from speaker.kube.kinds import Caches
from speaker.plan.allocation import config_actions

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "tests/data/metallb/samples/configsamples_bgppeer_with_bfdprofile.yaml"


def peer(profile):
    return {
        "apiVersion": "metallb.io/v1beta2",
        "kind": "BGPPeer",
        "metadata": {"name": "peer", "namespace": "metallb-system"},
        "spec": {"myASN": 64512, "peerASN": 64512, "peerAddress": "192.0.2.1", "bfdProfile": profile},
    }


def profile(name):
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "BFDProfile",
        "metadata": {"name": name, "namespace": "metallb-system"},
        "spec": {"receiveInterval": 380},
    }


# (description, profiles in the cluster, the peer's error)
CASES = [
    (
        "the profile exists",
        ["fast"],
        "BGPPeer peer: spec.bfdProfile: 'fast': BFD is not supported by the native BGP speaker "
        "(BFDProfile fast exists, "
        "but nothing here can run it)",
    ),
    (
        "the profile does not exist",
        ["slow"],
        "BGPPeer peer: spec.bfdProfile: 'fast': BFD is not supported by the native BGP speaker, and no BFDProfile "
        "'fast' exists either",
    ),
    (
        "no profile at all",
        [],
        "BGPPeer peer: spec.bfdProfile: 'fast': BFD is not supported by the native BGP speaker, and no BFDProfile "
        "'fast' exists either",
    ),
]


@pytest.mark.parametrize(("profiles", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_the_peer_is_refused_by_name_and_the_profile_told_apart(profiles, message):
    cfg = build_config((), (), (), [peer("fast")], (), bfd_profiles=[profile(p) for p in profiles])
    assert message in [str(e) for e in cfg.errors]
    assert cfg.peers == {}
    # every profile gets its own error (an InvalidConfig Event on it)
    assert sorted(e.name for e in cfg.errors if e.kind == "BFDProfile") == sorted(profiles)


class Cache:
    def __init__(self, objs):
        self.objs = objs

    def get(self, key):
        return None

    def items(self):
        return list(self.objs)


def test_the_daemons_view_reads_the_watched_profiles_and_events_name_them():
    """What the daemon builds from its caches: the BFDProfile cache reaches the builder, and the allocator's
    InvalidConfig Event is about the BFDProfile object itself."""
    caches = Caches(bgppeers=Cache([peer("fast")]), bfdprofiles=Cache([profile("fast")]))
    cfg = ViewSource(caches, load_balancer_class=None).config()
    assert any("BFDProfile fast exists" in str(e) for e in cfg.errors)
    says = config_actions(cfg, "metallb-system", lambda kind, name: None)
    about = {(s.event.involved[1], s.event.involved[3]) for s in says}
    assert ("BFDProfile", "fast") in about and ("BGPPeer", "peer") in about


def test_check_config_on_a_bfdprofile_only_file(tmp_path, capsys):
    """A file of BFDProfiles alone is a manifest, not a speaker config, and its profile is refused by name."""
    only = tmp_path / "bfd.yaml"
    only.write_text(SAMPLE.read_text().split("\n---\n")[0])
    assert main(["check-config", str(only)]) == 1
    err = capsys.readouterr().err
    assert "BFDProfile testbfdprofile: BFD is not supported by the native BGP speaker" in err
    assert "speaker config" not in err


def test_check_config_on_metallbs_bfd_sample(tmp_path, capsys):
    assert main(["check-config", str(SAMPLE)]) == 1
    err = capsys.readouterr().err
    assert (
        "BGPPeer peer: spec.bfdProfile: 'testbfdprofile': BFD is not supported by the native BGP speaker "
        "(BFDProfile testbfdprofile exists, but nothing here can run it)"
    ) in err
