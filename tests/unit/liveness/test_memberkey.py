"""The heartbeat key from MetalLB's memberlist Secret, and the choice between heartbeats and Leases (pure)."""

from __future__ import annotations

import base64

import pytest

from speaker.liveness.memberkey import HEARTBEATS, LEASES, SecretKeyError, key_from_secret, liveness_source, new_secret


def _secret(value: bytes | None) -> dict:
    return {"data": {} if value is None else {"secretkey": base64.b64encode(value).decode()}}


def test_metallbs_value_is_the_key_as_text():
    value = base64.b64encode(bytes(range(16))).rstrip(b"=")  # Go's RawStdEncoding, as CreateMlSecret writes it
    assert key_from_secret(_secret(value), "Secret x") == value


@pytest.mark.parametrize(
    "secret, message",
    [
        (_secret(None), "Secret ns/memberlist: data.secretkey is missing"),
        ({"data": {"secretkey": "not base64!"}}, "data.secretkey is not base64"),
        (_secret(b"short"), "data.secretkey is 5 bytes; at least 16 are needed"),
    ],
)
def test_unusable_secrets_are_named_without_the_value(secret, message):
    with pytest.raises(SecretKeyError, match=message) as exc:
        key_from_secret(secret, "Secret ns/memberlist")
    assert "short" not in str(exc.value)


def test_new_secret_is_in_metallbs_format_and_readable_back():
    body = new_secret("memberlist", "metallb-system", lambda n: b"\x01" * n)
    assert body["metadata"]["name"] == "memberlist" and set(body["data"]) == {"secretkey"}
    value = key_from_secret(body, "x")
    assert len(value) == 22 and base64.b64decode(value + b"==") == b"\x01" * 16


def _src(**kw):
    args = dict(
        key_known=True,
        no_key_reason=None,
        switched=False,
        heartbeat_alive=frozenset({"a"}),
        lease_alive=frozenset({"a"}),
        lease_ready=True,
        since_key=0.0,
        catch_up=2.0,
    )
    args.update(kw)
    return liveness_source(**args)


def test_without_a_key_the_leases_decide_and_say_why():
    src = _src(key_known=False, no_key_reason="cannot read Secret ns/memberlist (HTTP 403 Forbidden)")
    assert (src.mode, src.reason) == (LEASES, "cannot read Secret ns/memberlist (HTTP 403 Forbidden)")


def test_heartbeats_take_over_once_they_have_found_everyone_the_leases_know():
    src = _src(heartbeat_alive=frozenset({"a"}), lease_alive=frozenset({"a", "b", "c"}))
    assert src.mode == LEASES and src.reason == "switching to heartbeats: waiting to hear from b, c"
    assert _src(heartbeat_alive=frozenset({"a", "b", "c"}), lease_alive=frozenset({"a", "b", "c"})).mode == HEARTBEATS
    # a Lease view not read yet knows only this node: that is no evidence
    assert _src(lease_ready=False).mode == LEASES
    # a peer that never sends heartbeats (no key, firewall) does not hold this node on Leases for ever
    assert _src(heartbeat_alive=frozenset({"a"}), lease_alive=frozenset({"a", "b"}), since_key=2.0).mode == HEARTBEATS


def test_the_switch_is_final():
    assert _src(switched=True, key_known=False).mode == HEARTBEATS
