"""Run this repository as the Ansible collection ``baremetal.lb`` from tests.

The repo root *is* the collection (``galaxy.yml`` at the top), but Ansible only finds collections under
``<path>/ansible_collections/<namespace>/<name>``. :func:`collection_path` makes, once per test process, a
temporary directory ``<tmp>/ansible_collections/baremetal/lb`` that is a symlink to the repo root, and
returns ``<tmp>`` (what ``ANSIBLE_COLLECTIONS_PATH`` wants). Nothing is installed and nothing in the repo is
written to.

ansible-core has no JSON stdout callback (that one lives in ``ansible.posix``, which is not installed), so a
tiny one, ``blb_json``, is written next to the symlink and selected with ``ANSIBLE_STDOUT_CALLBACK``. Its
output is one JSON document::

    {"plays": [{"play": {"name": ...},
                "tasks": [{"task": {"name", "action"},
                           "hosts": {"<host>": {<the module's result>, "_status": "ok|failed|skipped|unreachable"}}}]}],
     "stats": {"<host>": {"ok": n, "changed": n, "failures": n, "skipped": n, "unreachable": n, ...}}}

Each host result keeps ``invocation`` (so tests can check that secrets are masked), ``diff`` and ``warnings``.

API (used by the router and the pools tests)::

    rc, out = run_playbook(PLAYBOOK_YAML, inventory=..., extra_vars={...}, check=False, diff=False)
    res = task_result(out, "reserve", host="localhost")      # a task's result by (part of) its name
    rc, out = run_module("baremetal.lb.dhcp_reservation", {...})  # one task on localhost
    text = ansible_doc("baremetal.lb.dhcp_reservation")           # ansible-doc's rendering (raises on error)
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent  # the venv running pytest also holds ansible-core
PYTHON = sys.executable

_CALLBACK = r'''
from __future__ import annotations

import json

from ansible.plugins.callback import CallbackBase

try:
    from ansible.vars.clean import module_response_deepcopy, strip_internal_keys
except ImportError:  # pragma: no cover - very old ansible
    module_response_deepcopy = None
    strip_internal_keys = None

DOCUMENTATION = """
name: blb_json
type: stdout
short_description: one JSON document for the baremetal-lb tests
description: [Test helper (tests/collection.py); not part of the collection.]
"""


def _parts(result):
    # ansible-core >= 2.19 passes CallbackTaskResult (.result/.host/.task); older ones TaskResult (_result/...).
    res = getattr(result, "result", None)
    if not isinstance(res, dict):
        res = result._result
    host = getattr(result, "host", None) or result._host
    task = getattr(result, "task", None) or result._task
    return res, host.get_name(), task


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "blb_json"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.plays = []
        self.warnings = []

    def _task_entry(self, task):
        play = self.plays[-1] if self.plays else None
        if play is None:
            play = {"play": {"name": ""}, "tasks": []}
            self.plays.append(play)
        uuid = str(task._uuid)
        for entry in play["tasks"]:
            if entry["task"]["id"] == uuid:
                return entry
        entry = {"task": {"name": task.get_name(), "action": task.action, "id": uuid}, "hosts": {}}
        play["tasks"].append(entry)
        return entry

    def v2_playbook_on_play_start(self, play):
        self.plays.append({"play": {"name": play.get_name()}, "tasks": []})

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._task_entry(task)

    def v2_playbook_on_handler_task_start(self, task):
        self._task_entry(task)

    def _record(self, result, status):
        res, host, task = _parts(result)
        if strip_internal_keys is not None:
            clean = strip_internal_keys(module_response_deepcopy(res))
        else:
            clean = {k: v for k, v in res.items() if not k.startswith("_ansible_")}
        clean["_status"] = status
        self._task_entry(task)["hosts"][host] = clean

    def v2_runner_on_ok(self, result, **kwargs):
        self._record(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False, **kwargs):
        self._record(result, "failed")

    def v2_runner_on_skipped(self, result, **kwargs):
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result, **kwargs):
        self._record(result, "unreachable")

    def v2_playbook_on_stats(self, stats):
        summary = {host: stats.summarize(host) for host in sorted(stats.processed.keys())}
        self._display.display(json.dumps({"plays": self.plays, "stats": summary}, default=str, sort_keys=True))
'''

_state: dict[str, Path] = {}


def collection_path() -> Path:
    """A directory to put in ``ANSIBLE_COLLECTIONS_PATH`` under which ``baremetal.lb`` is this repo (cached)."""
    if "root" in _state and _state["root"].exists():
        return _state["root"]
    root = Path(tempfile.mkdtemp(prefix="blb-collections-"))
    atexit.register(shutil.rmtree, root, True)
    ns_dir = root / "ansible_collections" / "baremetal"
    ns_dir.mkdir(parents=True)
    (ns_dir / "lb").symlink_to(REPO, target_is_directory=True)
    cb_dir = root / "callback_plugins"
    cb_dir.mkdir()
    (cb_dir / "blb_json.py").write_text(_CALLBACK)
    (root / "tmp").mkdir()
    _state["root"] = root
    return root


def ansible_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for ``ansible-playbook``/``ansible-doc``: this collection, the JSON callback, no user config."""
    root = collection_path()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(
        {
            "ANSIBLE_COLLECTIONS_PATH": str(root),
            "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
            "ANSIBLE_CALLBACK_PLUGINS": str(root / "callback_plugins"),
            "ANSIBLE_STDOUT_CALLBACK": "blb_json",
            "ANSIBLE_LOAD_CALLBACK_PLUGINS": "true",
            "ANSIBLE_CONFIG": str(root / "no-ansible.cfg"),  # ignore any ansible.cfg in cwd/home
            "ANSIBLE_LOCAL_TEMP": str(root / "tmp"),
            "ANSIBLE_REMOTE_TEMP": str(root / "tmp"),
            "ANSIBLE_RETRY_FILES_ENABLED": "false",
            "ANSIBLE_HOST_KEY_CHECKING": "false",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_DEPRECATION_WARNINGS": "false",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
            "ANSIBLE_LOCALHOST_WARNING": "false",
            "ANSIBLE_PYTHON_INTERPRETER": PYTHON,
            "PATH": f"{VENV_BIN}:{env.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}",
        }
    )
    if extra:
        env.update(extra)
    return env


def _write_inventory(workdir: Path, inventory: str | Mapping[str, Any] | None) -> Path:
    path = workdir / "inventory.yml"
    if inventory is None:
        inventory = {
            "all": {"hosts": {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": PYTHON}}}
        }
    if isinstance(inventory, str):
        path = workdir / ("inventory.yml" if inventory.lstrip().startswith(("all:", "---")) else "inventory.ini")
        path.write_text(inventory)
    else:
        path.write_text(yaml.safe_dump(dict(inventory), sort_keys=False))
    return path


def run_playbook(
    playbook: str | list[Any],
    inventory: str | Mapping[str, Any] | None = None,
    extra_vars: Mapping[str, Any] | None = None,
    check: bool = False,
    diff: bool = False,
    *,
    tags: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
    args: list[str] | None = None,
) -> tuple[int, dict[str, Any]]:
    """Run a playbook (YAML text or a list of plays) and return ``(rc, parsed JSON)``.

    ``inventory``: None → localhost with the test's Python; a dict → YAML inventory; a str → inventory text
    (YAML if it starts with ``all:``/``---``, else INI). If the output is not JSON (Ansible failed before the
    callback ran: a syntax error, a missing collection) the dict is ``{"error": stdout+stderr}``.
    """
    workdir = Path(tempfile.mkdtemp(prefix="blb-play-", dir=collection_path() / "tmp"))
    try:
        pb = workdir / "playbook.yml"
        pb.write_text(playbook if isinstance(playbook, str) else yaml.safe_dump(playbook, sort_keys=False))
        cmd = [str(VENV_BIN / "ansible-playbook"), "-i", str(_write_inventory(workdir, inventory)), str(pb)]
        if extra_vars:
            ev = workdir / "extra_vars.json"
            ev.write_text(json.dumps(dict(extra_vars)))
            cmd += ["-e", f"@{ev}"]
        if check:
            cmd.append("--check")
        if diff:
            cmd.append("--diff")
        if tags:
            cmd += ["--tags", tags]
        cmd += list(args or [])
        proc = subprocess.run(cmd, cwd=workdir, env=ansible_env(env), capture_output=True, text=True, timeout=timeout)
        return proc.returncode, _parse(proc.stdout, proc.stderr)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _parse(stdout: str, stderr: str) -> dict[str, Any]:
    # The callback prints one JSON line last; warnings printed by Ansible itself may precede it.
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if line.startswith("{") and '"plays"' in line:
            try:
                out = json.loads(line)
            except ValueError:
                break
            if stderr.strip():
                out["stderr"] = stderr
            return out
    return {"error": (stdout + "\n" + stderr).strip()}


def task_results(out: Mapping[str, Any], name: str | None = None, host: str | None = None) -> list[dict[str, Any]]:
    """Every host result of the tasks whose name contains ``name`` (all tasks if None), in order."""
    found = []
    for play in out.get("plays", []):
        for task in play["tasks"]:
            if name is None or name in task["task"]["name"] or name == task["task"]["action"]:
                for h, res in task["hosts"].items():
                    if host is None or h == host:
                        found.append(res)
    return found


def task_result(out: Mapping[str, Any], name: str, host: str | None = None) -> dict[str, Any]:
    """The one result of the task named (in part) ``name``; raises ``LookupError`` naming what was there."""
    found = task_results(out, name, host)
    if len(found) != 1:
        names = [t["task"]["name"] for p in out.get("plays", []) for t in p["tasks"]]
        raise LookupError(
            f"{len(found)} results for task {name!r} (host {host}); tasks: {names}; "
            f"error: {out.get('error', '')[:2000]}"
        )
    return found[0]


def run_module(
    module: str,
    module_args: Mapping[str, Any],
    *,
    check: bool = False,
    diff: bool = False,
    inventory: str | Mapping[str, Any] | None = None,
    hosts: str = "all",
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> tuple[int, dict[str, Any]]:
    """Run one task ``module: module_args`` and return ``(rc, that task's result for the first host)``."""
    play = [
        {
            "name": "one module",
            "hosts": hosts,
            "gather_facts": False,
            "tasks": [{"name": "the module", module: dict(module_args)}],
        }
    ]
    rc, out = run_playbook(play, inventory=inventory, check=check, diff=diff, env=env, timeout=timeout)
    results = task_results(out, "the module")
    if not results:
        return rc, {"failed": True, "msg": out.get("error", "no result"), "_status": "none", "_raw": out}
    return rc, results[0]


def ansible_doc(name: str, *, json_output: bool = False, timeout: float = 60) -> str:
    """``ansible-doc NAME`` (or ``--json``) against this collection; raises ``RuntimeError`` on any error."""
    cmd = [str(VENV_BIN / "ansible-doc")] + (["--json"] if json_output else []) + [name]
    proc = subprocess.run(
        cmd,
        env=ansible_env({"ANSIBLE_STDOUT_CALLBACK": "default"}),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=collection_path(),
    )
    if proc.returncode != 0 or "ERROR" in proc.stderr or "[WARNING]" in proc.stderr:
        raise RuntimeError(f"ansible-doc {name} failed (rc {proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def netns_inventory(ns: str, workdir: Path, host: str = "router", **hostvars: Any) -> dict[str, Any]:
    """An inventory whose one host runs its modules inside network namespace ``ns``.

    ``ansible_connection: local`` plus an interpreter wrapper ``ip netns exec NS python "$@"`` (LAB-NOTES): the
    module sees the namespace's interfaces and loopback (a Kea Control Agent on 127.0.0.1, a dnsmasq on eth0).
    """
    wrapper = Path(workdir) / f"python-in-{ns}"
    wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {ns} {PYTHON} "$@"\n')
    wrapper.chmod(0o755)
    return {
        "all": {
            "hosts": {host: {"ansible_connection": "local", "ansible_python_interpreter": str(wrapper), **hostvars}}
        }
    }
