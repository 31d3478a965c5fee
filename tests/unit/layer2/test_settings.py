"""``layer2.responder`` (who answers ARP/NDP): the config knob and the Announcer's check."""

import pytest

from speaker.config.node import ConfigError, build_speaker_config
from speaker.layer2 import Announcer, Layer2Settings


def test_the_responder_runs_in_its_own_process_by_default():
    assert build_speaker_config({}).layer2.responder == "process"
    assert Layer2Settings().responder == "process"
    assert build_speaker_config({"layer2": {"responder": "thread"}}).layer2.responder == "thread"


@pytest.mark.parametrize("value", ["fork", "", None, 1, True])
def test_a_bad_responder_names_the_field_and_the_value(value):
    with pytest.raises(ConfigError) as exc:
        build_speaker_config({"layer2": {"responder": value}})
    assert str(exc.value) == f"layer2.responder: {value!r} must be one of process, thread"


def test_the_announcer_refuses_an_unknown_mode_before_opening_anything():
    with pytest.raises(ValueError, match="layer2: responder 'fork' must be one of process, thread"):
        Announcer("n", settings=Layer2Settings(responder="fork"))
