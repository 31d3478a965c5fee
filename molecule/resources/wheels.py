"""Build what the speaker role installs in Molecule: this repo's wheel and a wheelhouse of its dependencies.

    python molecule/resources/wheels.py OUTDIR [--version-suffix .post1]

prints one JSON line ``{"wheel": PATH, "version": V, "wheelhouse": DIR}``.

* The wheel is built from the working tree (``pip wheel --no-deps --no-build-isolation``, ~2 s). With
  ``--version-suffix`` it is built from a copy whose ``speaker.__version__`` has the suffix appended: the
  upgrade scenario's "wheel B".
* The wheelhouse holds the wheel's dependencies (kubernetes, PyYAML, prometheus_client, scapy, pyroute2 and
  theirs) as binary wheels for the node image's Python (Debian 12: CPython 3.11, this machine's architecture).
  It is cached under ``${BLB_WHEEL_CACHE:-~/.cache/baremetal-lb/wheelhouse}/<hash of the requirements>``: the
  first run downloads from the package index with pip, every later run is offline. The role installs from it
  with ``pip --no-index --find-links`` (the node never reaches an index).
"""

from __future__ import annotations

import argparse
import email.parser
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NODE_PYTHON = "3.11"  # Debian 12's python3 (scripts/build-test-image)


def build_wheel(out: Path, suffix: str = "") -> Path:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        # Always from a copy: setuptools writes build/ and *.egg-info next to the sources.
        src = Path(tmp) / "src"
        src.mkdir()
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(ROOT / name, src / name)
        shutil.copytree(ROOT / "speaker", src / "speaker", ignore=shutil.ignore_patterns("__pycache__"))
        if suffix:
            init = src / "speaker" / "__init__.py"
            text = init.read_text()
            init.write_text(re.sub(r'__version__ = "([^"]+)"', lambda m: f'__version__ = "{m.group(1)}{suffix}"', text))
        build = Path(tmp) / "dist"
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                        "--disable-pip-version-check", "-w", str(build), str(src)],
                       check=True, cwd=tmp, stdout=subprocess.DEVNULL)
        (wheel,) = build.glob("baremetal_lb-*.whl")
        dest = out / wheel.name
        shutil.copy2(wheel, dest)
        return dest


def requirements(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        msg = email.parser.Parser().parsestr(zf.read(meta).decode())
    return sorted(r for r in msg.get_all("Requires-Dist") or [] if "extra ==" not in r)


def wheelhouse(wheel: Path) -> Path:
    reqs = requirements(wheel)
    machine = platform.machine()
    key = hashlib.sha256(json.dumps([reqs, NODE_PYTHON, machine]).encode()).hexdigest()[:12]
    cache = Path(os.environ.get("BLB_WHEEL_CACHE") or Path.home() / ".cache" / "baremetal-lb" / "wheelhouse")
    target = cache / key
    if (target / ".complete").exists():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=cache, prefix=f"{key}."))
    try:
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "-d", str(tmp),
               "--only-binary=:all:", "--python-version", NODE_PYTHON, "--implementation", "cp",
               "--abi", f"cp{NODE_PYTHON.replace('.', '')}"]
        for plat in (f"manylinux2014_{machine}", f"manylinux_2_17_{machine}", f"manylinux_2_28_{machine}"):
            cmd += ["--platform", plat]
        subprocess.run(cmd + reqs, check=True, stdout=subprocess.DEVNULL)
        (tmp / ".complete").write_text("\n".join(reqs) + "\n")
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--version-suffix", default="")
    args = parser.parse_args(argv)
    wheel = build_wheel(args.outdir, args.version_suffix)
    version = wheel.name.split("-")[1]
    print(json.dumps({"wheel": str(wheel), "version": version, "wheelhouse": str(wheelhouse(wheel))}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
