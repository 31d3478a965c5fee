"""The fake ``uci`` (tests/fakes/uci.py) against 440 recorded runs of the real ``uci`` binary.

tests/data/openwrt/uci-transcripts.jsonl: per config and scenario, commands run one after another on one fresh copy
of ``/etc/config/{dhcp,network}`` (see tests/data/openwrt/README.md). Each step is replayed against a fresh fake root
and must give the same exit code, stdout and stderr, the same config files after ``commit``/``batch`` (and no other
file change anywhere) and the same delta files in ``/tmp/.uci`` where they were recorded.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import uci
from tests.unit.plugins.openwrt.goldens import DATA, records

STEPS = records("uci-transcripts.jsonl")
GROUPS = [(key, list(group)) for key, group in itertools.groupby(STEPS, key=lambda r: (r["config"], r["scenario"]))]


def raw_shipped_dhcp(export_text: str) -> str:
    """The ``raw`` scenario read OpenWrt's shipped ``dhcp.conf`` (not stored here, see the README). Its content is
    the recorded ``uci export`` of it; this writes that content back in the shipped file's *style* (tabs, unquoted
    values, ``#`` comments, no ``package`` line) so the parser is exercised the same way."""
    out = ["# written by the test: the shipped file's content in its raw style\n"]
    for line in export_text.splitlines()[1:]:
        m = re.match(r"^\t(option|list) (\S+) '([^']*)'$", line)
        if m and re.fullmatch(r"[\w./:-]+", m.group(3)):
            out.append(f"\t{m.group(1)}\t{m.group(2)}\t{m.group(3)}\t# unquoted\n")
        else:
            out.append(line + "\n")
    return "".join(out)


def config_files(config: str, steps: list[dict[str, Any]]) -> dict[str, str]:
    if config == "static-hosts+list-ipaddr":
        return {
            "dhcp": (DATA / "configs/static-hosts/dhcp").read_text(),
            "network": (DATA / "configs/list-ipaddr/network").read_text(),
        }
    if config == "shipped-dhcp.conf-before-firstboot":
        export = next(s for s in steps if s["argv"] == ["uci", "export", "dhcp"])["stdout"]
        return {"dhcp": raw_shipped_dhcp(export), "network": (DATA / "configs/stock-24.10/network").read_text()}
    return {name: (DATA / "configs" / config / name).read_text() for name in ("dhcp", "network")}


def snapshot(root: Path) -> dict[str, str]:
    return {"/" + str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def test_all_recorded_steps_are_replayed():
    assert sum(len(g) for _, g in GROUPS) == len(STEPS) == 440


@pytest.mark.parametrize("key, steps", GROUPS, ids=["{}/{}".format(*k) for k, _ in GROUPS])
def test_transcript(tmp_path, key, steps):
    config, scenario = key
    root = tmp_path / "root"
    (root / "etc/config").mkdir(parents=True)
    (root / "tmp/.uci").mkdir(parents=True)
    for name, text in config_files(config, steps).items():
        (root / "etc/config" / name).write_text(text)
    for step in steps:
        before = snapshot(root)
        rc, out, err = uci.run(str(root), step["argv"][1:], step.get("stdin", ""))
        where = "{}/{}/{} {}".format(config, scenario, step["step"], step["argv"])
        assert (rc, out, err) == (step["rc"], step["stdout"], step["stderr"]), where
        after = snapshot(root)
        changed_conf = {k: v for k, v in after.items() if k.startswith("/etc/config/") and before.get(k) != v}
        if "files_after" in step:
            assert changed_conf == step["files_after"], where
        else:
            assert changed_conf == {}, where
        if "savedir_after" in step:
            deltas = {k: v for k, v in after.items() if k.startswith("/tmp/.uci/")}
            assert deltas == step["savedir_after"], where


def _split_argv(argv: list[str]) -> tuple[tuple[str, ...], list[str]]:
    """``(the options that choose the config store (-c DIR, -P DIR), the command and its arguments)``."""
    store, rest, args = [], [], iter(argv[1:])
    for arg in args:
        if arg in ("-c", "-P", "-t"):
            store += [arg, next(args)]
        elif arg.startswith("-") and not rest:
            continue  # -q, -X, -N, ...: output format and quietness
        else:
            rest.append(arg)
    return tuple(store), rest


def test_the_backends_uci_show_parser_agrees_with_the_real_uci_get():
    """backend_openwrt.parse_uci_show (how the module reads a router) on each recorded ``uci show``, compared with
    what the real ``uci get`` printed for the same key before anything was written: a list's items joined by
    spaces, a value with ``'\\''`` escapes unquoted, a section's type."""
    from ansible_collections.baremetal.lb.plugins.module_utils.backend_openwrt import parse_uci_show

    compared = 0
    for _key, steps in GROUPS:
        shown: dict[tuple[str, ...], dict[str, Any]] = {}
        for step in steps:
            store, cmd = _split_argv(step["argv"])
            if not cmd or step["rc"] != 0:
                continue
            if cmd[0] == "show":
                package = cmd[1].split(".")[0] if len(cmd) > 1 else None
                values: dict[str, Any] = {}
                for name, kind, opts in parse_uci_show(step["stdout"].splitlines()):
                    for line in step["stdout"].splitlines()[:1]:
                        package = package or line.split(".")[0]
                    if kind is not None:
                        values[f"{package}.{name}"] = kind
                    values.update({f"{package}.{name}.{k}": v for k, v in opts.items()})
                shown[store] = {**shown.get(store, {}), **values}
            elif cmd[0] == "get" and cmd[1] in shown.get(store, {}):
                value = shown[store][cmd[1]]
                assert (" ".join(value) if isinstance(value, list) else value) == step["stdout"].rstrip("\n"), (
                    step["config"],
                    step["scenario"],
                    step["step"],
                    cmd,
                )
                compared += 1
            elif cmd[0] not in ("get", "show", "changes", "export"):
                shown.pop(store, None)  # a write: what was shown may be stale
    assert compared >= 40, compared
