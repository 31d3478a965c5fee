"""Contract fakes of router APIs that cannot run on these machines (pfSense, OPNsense) and of OpenWrt's ``uci``.

They are FAKES: small servers written from the vendors' documented APIs (paths, field names, auth, apply step,
error shapes — see docs/router.md for the versions followed), not the real products. They exist so that the
modules' side of the contract is tested; they cannot prove that a real router behaves the same way.
"""
