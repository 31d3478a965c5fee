"""Build what the speaker role installs in Molecule: this repo's wheel and a wheelhouse of its dependencies.

    python molecule/resources/wheels.py OUTDIR [--version-suffix .post1]

prints one JSON line ``{"wheel": PATH, "version": V, "wheelhouse": DIR}``.

The release builder does the work (scripts/dist.py, what ``make dist`` runs): the wheel from the working tree
(``--version-suffix`` appends to ``speaker.__version__``: the upgrade scenario's "wheel B"), and the wheelhouse for
the node image's Python only (Debian 12: CPython 3.11, this machine's architecture), cached under
``${BLB_WHEEL_CACHE:-~/.cache/baremetal-lb/wheelhouse}``: the first run downloads with pip, later runs are offline.
The role installs from it with ``pip --no-index --find-links`` (the node never reaches an index).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NODE_PYTHON = "3.11"  # Debian 12's python3 (scripts/build-test-image)


def _dist():  # scripts/dist.py is a script, not a package: load it by path
    spec = importlib.util.spec_from_file_location("blb_dist", ROOT / "scripts" / "dist.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--version-suffix", default="")
    args = parser.parse_args(argv)
    dist = _dist()
    wheel = dist.build_python_dists(args.outdir, version_suffix=args.version_suffix, sdist=False)["wheel"]
    house = dist.wheelhouse(wheel, [dist.Target(NODE_PYTHON, platform.machine())])
    print(json.dumps({"wheel": str(wheel), "version": wheel.name.split("-")[1], "wheelhouse": str(house)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
