"""``scripts/ansible-test``: ``ansible-test sanity`` and ``ansible-test units`` (the module unit tests in
tests/unit/plugins/modules/ and module_utils/) on a copy of the collection, as ``make sanity`` runs them.

The first run on a machine builds ansible-test's sanity virtualenvs from PyPI (~1 min); later runs reuse them
(~20 s). The script writes nothing in the repo.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 600  # seconds; measured: 64 s with an empty ~/.ansible (fresh machine), 16 s after that

pytestmark = [pytest.mark.slow, pytest.mark.timeout(TIMEOUT + 60)]


def test_ansible_test_sanity_and_units_pass() -> None:
    # ANSIBLE_* settings of the surrounding session (collections path, callbacks) are not ansible-test's.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env["VENV"] = str(Path(sys.executable).parent.parent)  # the venv running these tests holds ansible-core
    proc = subprocess.Popen(
        [str(ROOT / "scripts" / "ansible-test")],
        cwd=ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        out, _err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # ansible-test and its pylint/pytest children too
        out, _err = proc.communicate()
        pytest.fail(f"scripts/ansible-test did not finish in {TIMEOUT} s; last output:\n{_tail(out)}")
    assert proc.returncode == 0, f"scripts/ansible-test failed (rc {proc.returncode}):\n{_tail(out)}"
    assert "sanity: rc 0" in out and "units: rc 0" in out, _tail(out)
    units = out.split("=== ansible-test units", 1)[-1]
    assert sum(int(n) for n in re.findall(r"=+ (\d+) passed", units)) > 0, _tail(out)  # tests ran, not all skipped


def _tail(out: str, lines: int = 60) -> str:
    """The errors ansible-test reported (they come mid-output, before the units phase), then the last lines."""
    text = out.splitlines()
    errors = [line for line in text if line.startswith(("ERROR:", "FATAL:"))][:40]
    return "\n".join(["--- errors:", *errors, f"--- last {lines} lines:", *text[-lines:]])
