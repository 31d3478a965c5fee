"""Let the collection's unit tests import ``ansible_collections.baremetal.lb...`` under the repo's plain pytest.

The tests in ``modules/`` and ``module_utils/`` import the collection the way Ansible does
(``from ansible_collections.baremetal.lb.plugins.module_utils import ...``) so that one file runs under both
runners:

* ``ansible-test units`` (``scripts/ansible-test``) runs them from a copy at
  ``<tmp>/ansible_collections/baremetal/lb`` and installs Ansible's collection loader before any conftest is
  imported: the import already works and this file does nothing.
* ``pytest`` from the repo root: the repo is not below an ``ansible_collections/`` directory, so the
  ``sys.path`` entry from :func:`tests.collection.collection_path` (a symlink tree, nothing written to the repo)
  is added here, once, before the test modules are imported.
"""

from __future__ import annotations

import importlib.util
import sys

from hypothesis import settings


def _collection_importable() -> bool:
    try:
        return importlib.util.find_spec("ansible_collections.baremetal.lb") is not None
    except ImportError:  # no ansible_collections.baremetal package on sys.path
        return False


if not _collection_importable():
    from tests.collection import collection_path

    sys.path.insert(0, str(collection_path()))


# Hypothesis: no per-example deadline. Its default (200 ms) turns a loaded CI machine into a failed property
# ("DeadlineExceeded") although nothing is wrong; how fast the code is lives in bench/, not in tests. The same as
# tests/conftest.py: ansible-test units loads only this conftest.
settings.register_profile("baremetal-lb", deadline=None)
settings.load_profile("baremetal-lb")
