"""The fake OPNsense (tests/fakes/opnsense.py) against the 51 answers recorded from OPNsense's own PHP API stack.

Every request in tests/data/opnsense/requests.jsonl is sent, in order, over HTTP to the fake, starting from an empty
config (the recording's six setup requests build the state themselves), and the answer is compared with the
recorded one **byte for byte** (status and body): the body is what the client parses, and the goldens were kept as
``Response::send()`` emitted them, so any difference - a key order, an escaped ``/``, a string where the router
sends a list - is a difference a client could trip on. The one exception is the uuid that ``add_range`` makes up
(random in OPNsense too): there the uuid is checked to be a v4 uuid and the rest of the bytes compared.

State, as the recording's README describes: reads see the setup state; each change case starts from the setup state
and is rolled back afterwards, except for the reads whose ``state`` names the change they follow.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.opnsense import FakeOpnsense

DATA = Path(__file__).resolve().parents[2] / "data" / "opnsense"
REQUESTS = [json.loads(line) for line in (DATA / "requests.jsonl").read_text().splitlines() if line.strip()]
UUID4 = re.compile(r'"uuid":"([0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})"')


def send(fake: FakeOpnsense, method: str, path: str, body: Any, secret: str = "opn-secret") -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    token = base64.b64encode(f"opn-key:{secret}".encode()).decode()
    req = urllib.request.Request(
        fake.url + path,
        data=data,
        method=method,
        headers={"Authorization": "Basic " + token, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_every_recorded_request_gets_the_recorded_answer_byte_for_byte():
    assert len(REQUESTS) == 51
    compared = []
    with FakeOpnsense(setup=False) as fake:
        baseline = None
        previous = None
        for rec in REQUESTS:
            state = rec["state"]
            if not state.startswith("setup step"):
                if baseline is None:
                    baseline = fake.snapshot()
                follows = state.startswith("setup state + the change saved by ")
                if not (follows and state.endswith(previous or "\0")):
                    fake.restore(baseline)
            secret = "wrong-secret" if rec["name"] == "auth_failed" else "opn-secret"
            status, got = send(fake, rec["method"], rec["path"], rec["request"], secret)
            want = (DATA / rec["response_file"]).read_bytes()
            if rec["name"].startswith("dnsmasq_add_range"):
                assert UUID4.search(got.decode()), got
                got, want = (
                    UUID4.sub('"uuid":"<uuid4>"', got.decode()).encode(),
                    UUID4.sub('"uuid":"<uuid4>"', want.decode()).encode(),
                )
            assert (rec["name"], status, got) == (rec["name"], rec["http_status"], want)
            compared.append(rec["name"])
            if not state.startswith("setup state + "):
                previous = rec["name"]
    print(f"\n{len(compared)} recorded OPNsense answers reproduced by the fake")
    assert len(compared) == 51


@pytest.mark.parametrize("name", ["kea_getSubnet", "dnsmasq_get_range_without_mask", "kea_searchReservation"])
def test_the_default_fake_is_the_recorded_setup_state(name):
    # the fake every other test starts from is exactly what the recording's setup requests produced
    rec = next(r for r in REQUESTS if r["name"] == name)
    with FakeOpnsense() as fake:
        assert send(fake, rec["method"], rec["path"], rec["request"]) == (
            200,
            (DATA / rec["response_file"]).read_bytes(),
        )
