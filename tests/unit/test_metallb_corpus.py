"""MetalLB's own manifests and config-test cases (tests/data/metallb/cases.yaml) get MetalLB's verdict here.

Each case is run twice: through ``baremetal-lb check-config`` (the CLI entry point, in-process) and through the
in-speaker config builder (``build_config``, fed the objects grouped by kind as the informers feed it). Both must
give MetalLB's verdict, or the documented difference recorded for the case, whose key must have its entry in
docs/speaker.md ("Differences from MetalLB"). A rejection must name the field MetalLB's error is about.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from speaker.cli import load_manifest, main
from speaker.config.cluster import ClusterConfig, build_config

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "metallb"
INDEX = yaml.safe_load((DATA / "cases.yaml").read_text())
CASES: list[dict[str, Any]] = INDEX["cases"]
DIFFERENCES_DOC = (ROOT / "docs" / "speaker.md").read_text()
KINDS = ("IPAddressPool", "L2Advertisement", "BGPAdvertisement", "BGPPeer", "Community", "BFDProfile")


def _docs(case: dict[str, Any]) -> list[Any]:
    docs: list[Any] = []
    for name in case["files"]:
        docs += load_manifest((DATA / name).read_text())
    return docs


def _speaker_config(docs: list[Any]) -> ClusterConfig:
    """What the speaker builds from these objects once applied: Secrets by name, as the informer holds them."""
    by_kind: dict[str, list[Any]] = {k: [] for k in KINDS}
    secrets: dict[str, Any] = {}
    for d in docs:
        if not isinstance(d, dict):
            continue
        if d.get("kind") == "Secret":
            secrets[d["metadata"]["name"]] = d
        elif d.get("kind") in by_kind:
            by_kind[d["kind"]].append(d)
    return build_config(
        by_kind["IPAddressPool"],
        by_kind["L2Advertisement"],
        by_kind["BGPAdvertisement"],
        by_kind["BGPPeer"],
        by_kind["Community"],
        bfd_profiles=by_kind["BFDProfile"],
        secrets=secrets,
    )


def _expected(case: dict[str, Any]) -> str:
    return case.get("ours", case["metallb"])


def _names_field(errors: list[str], field: str) -> bool:
    return any(f": {field}" in e or e.startswith(f"{field} ") or f" {field}:" in e for e in errors)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_build_config_verdict(case: dict[str, Any]) -> None:
    cfg = _speaker_config(_docs(case))
    errors = [str(e) for e in cfg.errors]
    verdict = "rejected" if errors else "accepted"
    if case.get("builder") == "not-read":  # a kind the speaker does not watch: nothing reaches the builder
        assert verdict == "accepted", errors
        return
    assert verdict == _expected(case), f"{case['source']}: MetalLB {case['metallb']}, ours {verdict}: {errors}"
    if verdict == "rejected":
        assert _names_field(errors, case["field"]), f"{case['source']}: no error names {case['field']}: {errors}"


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_check_config_verdict(case: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text("\n---\n".join((DATA / f).read_text() for f in case["files"]))
    rc = main(["check-config", str(manifest)])
    out = capsys.readouterr()
    assert rc in (0, 1), out.err
    verdict = "accepted" if rc == 0 else "rejected"
    assert verdict == _expected(case), f"{case['source']}: check-config said {verdict}: {out.err}"
    if verdict == "rejected":
        assert _names_field(out.err.splitlines(), case["field"]), out.err


def test_every_difference_is_documented_and_counted(capsys: pytest.CaptureFixture[str]) -> None:
    section = DIFFERENCES_DOC.split("## Differences from MetalLB", 1)
    assert len(section) == 2, "docs/speaker.md has no 'Differences from MetalLB' section"
    body = section[1].split("\n## ", 1)[0]
    accepted = sum(1 for c in CASES if c["metallb"] == "accepted" and "difference" not in c)
    rejected = sum(1 for c in CASES if c["metallb"] == "rejected" and "difference" not in c)
    different = [c for c in CASES if "difference" in c]
    for c in different:
        assert c.get("ours") and c["ours"] != c["metallb"], c["id"]
        assert re.search(rf"`{re.escape(c['difference'])}`", body), (
            f"difference {c['difference']} is not in docs/speaker.md"
        )
    assert accepted + rejected + len(different) == len(CASES)
    with capsys.disabled():
        print(
            f"\nMetalLB corpus: {accepted} MetalLB manifests accepted, {rejected} MetalLB-rejected configs rejected, "
            f"{len(different)} documented differences"
        )


def test_sexagesimal_looking_values_stay_strings() -> None:
    """kubectl (go-yaml) reads ``1234:1`` as a string; YAML 1.1 would make it 74041."""
    (doc,) = load_manifest("value: 1234:1\nother: 190:20:30.15\nn: 42\nb: true\n")
    assert doc == {"value": "1234:1", "other": "190:20:30.15", "n": 42, "b": True}


def test_check_config_subprocess_reads_secrets_in_the_same_file(tmp_path: Path) -> None:
    """The installed command, end to end: the Secret in the same manifest resolves the peer's password."""
    import subprocess
    import sys

    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        (DATA / "samples/configsamples_bgppeer_withsecret.yaml").read_text()
        + "\n---\n"
        + (DATA / "extra/secret_secretname.yaml").read_text()
    )
    run = subprocess.run(
        [sys.executable, "-m", "speaker", "check-config", str(manifest)], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    assert "not-a-real-password" not in run.stdout + run.stderr


def test_host_bits_warning_names_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text((DATA / "samples/website_configuration_advanced_bgp_configuration_L32.yaml").read_text())
    assert main(["check-config", str(manifest)]) == 0
    err = capsys.readouterr().err
    assert (
        "warning: IPAddressPool first-pool: spec.addresses[0]: '198.51.100.10/24' has host bits set; used as "
        "198.51.100.0/24" in err
    )
