"""baremetal.lb.address_pool as a module: documentation <-> argument spec, the module file stays a shell, and
the pools role passes what the module documents.

Runs under both ``pytest`` and ``ansible-test units`` (see tests/unit/plugins/conftest.py): it reads files
relative to the collection root, which is the repo under pytest and the copy under ansible-test.
"""

from __future__ import annotations

import ast
from pathlib import Path

import yaml
from ansible_collections.baremetal.lb.plugins.doc_fragments.k8s_auth import ModuleDocFragment
from ansible_collections.baremetal.lb.plugins.module_utils import k8s_auth
from ansible_collections.baremetal.lb.plugins.module_utils import metallb_pool as mp

COLLECTION = Path(__file__).resolve().parents[4]
MODULE = COLLECTION / "plugins" / "modules" / "address_pool.py"
ROLE = COLLECTION / "roles" / "pools"


# ------------------------------------------------------------------------------------------------ docs <-> spec


def _module_doc():
    tree = ast.parse(MODULE.read_text())
    doc = next(n.value.value for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "DOCUMENTATION")
    doc = yaml.safe_load(doc)
    fragment = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)
    assert doc["extends_documentation_fragment"] == ["baremetal.lb.k8s_auth"]
    options = dict(doc["options"])
    assert not set(options) & set(fragment["options"])
    options.update(fragment["options"])
    return options


def _compare(spec, docs, where):
    assert sorted(spec) == sorted(docs), where
    for name, s in spec.items():
        d = docs[name]
        at = f"{where}{name}"
        assert d.get("type", "str") == s.get("type", "str"), at
        assert d.get("required", False) == s.get("required", False), at
        assert d.get("default") == s.get("default"), at
        assert d.get("choices") == s.get("choices"), at
        assert d.get("elements") == s.get("elements"), at
        assert sorted(d.get("aliases", [])) == sorted(s.get("aliases", [])), at
        assert d.get("description"), at
        if "options" in s or "suboptions" in d:
            _compare(s["options"], d["suboptions"], at + ".")


def test_argument_spec_matches_documentation():
    _compare(mp.ADDRESS_POOL_ARG_SPEC, _module_doc(), "")


def test_secrets_are_no_log():
    assert k8s_auth.K8S_AUTH_ARG_SPEC["api_key"]["no_log"] is True
    for name, spec in mp.ADDRESS_POOL_ARG_SPEC.items():
        if any(word in name for word in ("key", "token", "password", "secret")):
            assert "no_log" in spec, name


def test_module_file_is_a_thin_shell():
    tree = ast.parse(MODULE.read_text())
    main = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main")
    assert main.end_lineno - main.lineno <= 12
    assert [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))] == ["main"]


# ------------------------------------------------------------------------------------------------ role interface


def test_role_defaults_match_argument_specs():
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    specs = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    assert sorted(defaults) == sorted(specs)
    assert all(k.startswith("baremetal_lb_") for k in defaults)
    for key, value in defaults.items():
        assert specs[key].get("default") == value, key


def test_role_pool_entries_cover_the_module_options():
    """Every pool key the role documents is either passed to the module or is the router role's."""
    specs = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    pool_keys = set(specs["baremetal_lb_pools"]["options"]) - {"router"}
    tasks = yaml.safe_load((ROLE / "tasks" / "main.yml").read_text())
    module_tasks = [t for t in tasks if "baremetal.lb.address_pool" in t]
    assert len(module_tasks) == 2
    for task in module_tasks:
        args = task["baremetal.lb.address_pool"]
        assert set(args) <= set(mp.ADDRESS_POOL_ARG_SPEC)
        assert pool_keys <= set(args)
        assert task["run_once"] is True
    assert module_tasks[0]["check_mode"] is True and module_tasks[0]["changed_when"] is False
    for task in tasks:
        assert task["name"].split(" | ")[0] in ("Preflight", "Pools"), task["name"]
        assert task["tags"]
