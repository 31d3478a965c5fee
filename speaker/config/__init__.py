"""Configuration, read and validated once into frozen values.

``node``: the speaker's own file (``/etc/baremetal-lb/speaker.yaml``); ``cluster``: the metallb.io objects ->
``ClusterConfig`` (``build_config``), every error naming the object and the field; ``durations``: the one duration
parser both use. Other sections' settings types live with their code: ``speaker/layer2/settings.py``,
``speaker/liveness/core.py``.
"""
