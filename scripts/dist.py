#!/usr/bin/env python3
"""Build the release: the speaker's wheel and sdist, a wheelhouse of its dependencies, and the collection tarball
that carries both the wheel and the wheelhouse (``make dist``; docs/releasing.md).

    scripts/dist.py [--out dist]

writes into ``dist/``::

    baremetal_lb-V-py3-none-any.whl   the speaker (Python distribution baremetal-lb, Apache-2.0)
    baremetal_lb-V.tar.gz             its sdist
    wheelhouse/                       its runtime dependencies as binary wheels, for offline installs
    baremetal-lb-V.tar.gz             the Ansible collection baremetal.lb (GPL-3.0-or-later) with the wheel and the
                                      wheelhouse under roles/speaker/files/

and prints one JSON line naming them. One version for everything: ``galaxy.yml``'s ``version`` must equal
``speaker.__version__``, or nothing is built.

The wheelhouse is for the node Pythons of docs/nodes.md: CPython 3.11 and 3.12 (Debian 12 and Ubuntu 22.04's
python3.11 package, RHEL/Rocky 9's python3.11 or python3.12, Ubuntu 24.04's python3) on x86_64 and aarch64,
glibc-based (manylinux up to glibc 2.34, RHEL 9's: the oldest C library among those systems). Pure-Python wheels
serve them all; two dependencies ship compiled wheels (PyYAML, charset-normalizer), one per Python and machine.
Downloads are cached under ``${BLB_WHEEL_CACHE:-~/.cache/baremetal-lb/wheelhouse}/<hash of requirements and
targets>``: the first build reaches the package index with ``pip download``, later builds are offline.
``--index-url``/``--find-links`` pass through to pip (a local mirror).
"""

from __future__ import annotations

import argparse
import email.parser
import fnmatch
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

#: The node Pythons and machines the bundled wheelhouse serves (docs/nodes.md says why these).
PYTHONS: tuple[str, ...] = ("3.11", "3.12")
MACHINES: tuple[str, ...] = ("x86_64", "aarch64")
#: manylinux_2_X tags a node accepts: 2_17 (manylinux2014) up to RHEL 9's glibc 2.34.
GLIBC_MINORS = range(17, 35)
#: Where the collection carries the speaker (the speaker role's files/, which `copy: src=` searches).
BUNDLE_DIR = Path("roles/speaker/files")
WHEELHOUSE_TARGETS = "targets.json"


class ReleaseError(Exception):
    """Something a person must fix before a release can be built (message says what and where)."""


@dataclass(frozen=True)
class Target:
    python: str  # "3.11"
    machine: str  # "x86_64"

    def pip_args(self) -> list[str]:
        nodot = self.python.replace(".", "")
        args = [
            "--only-binary=:all:",
            "--implementation",
            "cp",
            "--python-version",
            self.python,
            "--abi",
            f"cp{nodot}",
            "--abi",
            "abi3",
            "--abi",
            "none",
        ]
        args += ["--platform", f"manylinux2014_{self.machine}"]
        for minor in GLIBC_MINORS:
            args += ["--platform", f"manylinux_2_{minor}_{self.machine}"]
        return args


def default_targets() -> list[Target]:
    return [Target(p, m) for p in PYTHONS for m in MACHINES]


def read_versions(root: Path = ROOT) -> tuple[str, str]:
    """``(galaxy.yml version, speaker.__version__)``, read from the files (nothing imported)."""
    galaxy = yaml.safe_load((root / "galaxy.yml").read_text(encoding="utf-8"))["version"]
    init = (root / "speaker" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"$', init, re.M)
    if not match:
        raise ReleaseError('speaker/__init__.py: no line __version__ = "..."')
    return str(galaxy), match.group(1)


def release_version(root: Path = ROOT) -> str:
    galaxy, speaker = read_versions(root)
    if galaxy != speaker:
        raise ReleaseError(
            f"galaxy.yml version {galaxy} differs from speaker/__init__.py __version__ {speaker}: "
            "the collection and the speaker it carries are released under one version number"
        )
    return galaxy


def build_python_dists(out: Path, *, version_suffix: str = "", sdist: bool = True) -> dict[str, Path]:
    """The speaker's wheel (and sdist) from a copy of the sources (setuptools writes build/ and *.egg-info next to
    them), without build isolation: setuptools and wheel come from this venv, so no index is needed.

    ``version_suffix`` builds a copy whose ``__version__`` has it appended (Molecule's upgrade "wheel B")."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="blb-dist-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for name in ("pyproject.toml", "README.md", "LICENSE"):
            shutil.copy2(ROOT / name, src / name)
        shutil.copytree(ROOT / "speaker", src / "speaker", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        if version_suffix:
            init = src / "speaker" / "__init__.py"
            init.write_text(
                re.sub(
                    r'__version__ = "([^"]+)"',
                    lambda m: f'__version__ = "{m.group(1)}{version_suffix}"',
                    init.read_text(),
                )
            )
        build = Path(tmp) / "out"
        build.mkdir()
        # The PEP 517 hooks called directly: what `python -m build --no-isolation` does, without the extra package.
        code = "import sys, setuptools.build_meta as b; d = sys.argv[1]; print(b.build_wheel(d))" + (
            "; print(b.build_sdist(d))" if sdist else ""
        )
        subprocess.run(
            [sys.executable, "-c", code, str(build)],
            cwd=src,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        found = {"wheel": next(build.glob("baremetal_lb-*.whl"))}
        if sdist:
            found["sdist"] = next(build.glob("baremetal_lb-*.tar.gz"))
        result = {}
        for kind, path in found.items():
            dest = out / path.name
            shutil.copy2(path, dest)
            result[kind] = dest
        return result


def requirements(wheel: Path) -> list[str]:
    """The wheel's runtime requirements (Requires-Dist without an extra), as pip takes them."""
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        msg = email.parser.Parser().parsestr(zf.read(meta).decode())
    return sorted(r for r in msg.get_all("Requires-Dist") or [] if "extra ==" not in r)


def tested_versions(reqs: list[str]) -> list[str]:
    """``name==version`` for every distribution in the closure of ``reqs`` as installed in this venv: the versions
    the test suite ran against, so the wheelhouse ships those rather than whatever the index has that day."""
    from importlib import metadata

    from packaging.requirements import Requirement

    pins: dict[str, str] = {}
    todo = [Requirement(r) for r in reqs]
    while todo:
        req = todo.pop()
        key = req.name.lower().replace("_", "-")
        if key in pins:
            continue
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            continue  # a requirement whose marker excludes this Python: pip resolves it per target
        pins[key] = dist.version
        for text in dist.requires or []:
            sub = Requirement(text)
            if sub.marker is None or "extra" not in str(sub.marker):
                todo.append(sub)
    return [f"{name}=={version}" for name, version in sorted(pins.items())]


def wheelhouse(
    wheel: Path, targets: list[Target], *, pip_index_args: list[str] | None = None, cache: Path | None = None
) -> Path:
    """A directory of binary wheels that satisfies ``wheel``'s requirements on every target (cached), in the
    versions this venv has (:func:`tested_versions`)."""
    reqs = requirements(wheel)
    pins = tested_versions(reqs)
    index_args = list(pip_index_args or [])
    key = hashlib.sha256(json.dumps([reqs, pins, [t.pip_args() for t in targets], index_args]).encode()).hexdigest()[
        :12
    ]
    cache = cache or Path(os.environ.get("BLB_WHEEL_CACHE") or Path.home() / ".cache" / "baremetal-lb" / "wheelhouse")
    target_dir = cache / key
    if (target_dir / ".complete").exists():
        return target_dir
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=cache, prefix=f"{key}."))
    tmp.chmod(0o755)  # mkdtemp's 0700 would travel into dist/ and the collection
    try:
        constraints = tmp / ".constraints.txt"
        constraints.write_text("\n".join(pins) + "\n")
        for t in targets:
            cmd = [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--disable-pip-version-check",
                "-d",
                str(tmp),
                "-c",
                str(constraints),
            ]
            proc = subprocess.run(cmd + t.pip_args() + index_args + reqs, capture_output=True, text=True)
            if proc.returncode != 0:
                raise ReleaseError(f"pip download for CPython {t.python} {t.machine} failed:\n{proc.stderr[-3000:]}")
        (tmp / WHEELHOUSE_TARGETS).write_text(
            json.dumps(
                {
                    "pythons": sorted({t.python for t in targets}),
                    "machines": sorted({t.machine for t in targets}),
                    "requirements": reqs,
                    "versions": pins,
                },
                indent=1,
            )
            + "\n"
        )
        constraints.unlink()
        (tmp / ".complete").write_text("\n".join(reqs) + "\n")
        if target_dir.exists():
            shutil.rmtree(target_dir)
        tmp.rename(target_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target_dir


def _build_ignore(root: Path) -> set[str]:
    return set(yaml.safe_load((root / "galaxy.yml").read_text(encoding="utf-8")).get("build_ignore") or [])


def build_collection(out: Path, wheel: Path, house: Path | None) -> Path:
    """``ansible-galaxy collection build`` of a staging copy of the collection with the wheel and the wheelhouse
    under roles/speaker/files/ (the repo itself is never written to). galaxy.yml's build_ignore still applies: the
    speaker's sources are not in the tarball, its wheel is."""
    galaxy = Path(sys.executable).with_name("ansible-galaxy")
    if not galaxy.exists():
        galaxy = Path(shutil.which("ansible-galaxy") or "ansible-galaxy")
    skip = _build_ignore(ROOT) | {".git", "dist", ".venv*"}
    with tempfile.TemporaryDirectory(prefix="blb-collection-") as tmp:
        stage = Path(tmp) / "lb"
        stage.mkdir()
        for entry in ROOT.iterdir():
            if any(fnmatch.fnmatch(entry.name, pattern) for pattern in skip):
                continue
            if entry.is_symlink() and not entry.resolve().is_relative_to(ROOT):
                continue  # a link out of the tree (a developer's venv) is nobody's release
            if entry.is_dir():
                shutil.copytree(
                    entry, stage / entry.name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
                )
            else:
                shutil.copy2(entry, stage / entry.name)
        bundle = stage / BUNDLE_DIR
        bundle.mkdir(parents=True, exist_ok=True)
        shutil.copy2(wheel, bundle / wheel.name)
        if house is not None:
            shutil.copytree(house, bundle / "wheelhouse", ignore=shutil.ignore_patterns(".complete"))
        proc = subprocess.run(
            [str(galaxy), "collection", "build", "--force", "--output-path", str(out), str(stage)],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise ReleaseError(f"ansible-galaxy collection build failed:\n{proc.stdout}{proc.stderr}")
    (artifact,) = out.glob(f"baremetal-lb-{release_version()}.tar.gz")
    return artifact


def build_release(
    out: Path,
    *,
    targets: list[Target] | None = None,
    pip_index_args: list[str] | None = None,
    cache: Path | None = None,
    slim: bool = False,
) -> dict[str, str]:
    """Everything ``make dist`` writes (see the module's docstring); ``slim``: the collection carries the wheel but
    not the wheelhouse (~35 MB of wheels would exceed Galaxy's 20 MB upload limit), dist/wheelhouse/ is still
    built for offline installs with baremetal_lb_speaker_wheelhouse."""
    version = release_version()
    out.mkdir(parents=True, exist_ok=True)
    # a previous build's artifacts would be ambiguous next to this one's
    for old in list(out.glob("baremetal_lb-*")) + list(out.glob("baremetal-lb-*.tar.gz")):
        old.unlink()
    dists = build_python_dists(out)
    if dists["wheel"].name.split("-")[1] != version:
        raise ReleaseError(f"the wheel {dists['wheel'].name} does not carry version {version}")
    house = wheelhouse(dists["wheel"], targets or default_targets(), pip_index_args=pip_index_args, cache=cache)
    if (out / "wheelhouse").exists():
        shutil.rmtree(out / "wheelhouse")
    shutil.copytree(house, out / "wheelhouse", ignore=shutil.ignore_patterns(".complete"))
    collection = build_collection(out, dists["wheel"], None if slim else house)
    return {
        "version": version,
        "wheel": str(dists["wheel"]),
        "sdist": str(dists["sdist"]),
        "wheelhouse": str(out / "wheelhouse"),
        "collection": str(collection),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    parser.add_argument("--index-url", help="pip's --index-url for the wheelhouse download (a mirror)")
    parser.add_argument("--find-links", action="append", default=[], help="pip's --find-links (repeatable)")
    parser.add_argument(
        "--slim",
        action="store_true",
        help="the collection carries the wheel only, not the wheelhouse (for Galaxy's 20 MB limit)",
    )
    args = parser.parse_args(argv)
    index_args = ["--index-url", args.index_url] if args.index_url else []
    for link in args.find_links:
        index_args += ["--find-links", link]
    try:
        print(json.dumps(build_release(args.out.resolve(), pip_index_args=index_args, slim=args.slim)))
    except ReleaseError as exc:
        print(f"dist: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
