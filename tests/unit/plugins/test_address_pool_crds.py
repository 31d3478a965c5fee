"""plugins/module_utils/crds/metallb.py is exactly what scripts/gen-module-crds makes from speaker/crds/."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from importlib.machinery import SourceFileLoader
from pathlib import Path

from speaker.crds import CRD_FILES, load_crds

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "scripts" / "gen-module-crds"
GENERATED = REPO / "plugins" / "module_utils" / "crds" / "metallb.py"


def _load(path: Path):
    spec = importlib.util.spec_from_file_location("blb_generated_crds", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_file_is_up_to_date():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"{proc.stderr.strip()} (the module's CRDs differ from speaker/crds/)"


def test_generated_data_equals_speaker_crds():
    generated = _load(GENERATED)
    assert load_crds() == generated.CRDS
    assert generated.SOURCE_FILES == CRD_FILES


def test_generator_renders_what_is_committed():
    loader = SourceFileLoader("blb_gen_module_crds", str(SCRIPT))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    gen = importlib.util.module_from_spec(spec)
    loader.exec_module(gen)
    assert gen.render() == GENERATED.read_text(encoding="utf-8")
