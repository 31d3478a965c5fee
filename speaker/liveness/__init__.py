"""Which speakers are alive, by heartbeats: core, UDP runner, codec, key.

``core``: the heartbeat decisions (``Core``) and ``MembershipSettings``; ``heartbeats``: the socket thread that runs
it; ``wire``: the authenticated packet codec; ``memberkey``: the key from MetalLB's memberlist Secret and whether
Layer 2 uses heartbeats or the Lease fallback (the Leases themselves: ``speaker/kube/speakerlease.py``);
``__main__``: one member alone (``python -m speaker.liveness``, for tests and firewall checks).
"""
