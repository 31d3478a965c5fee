"""Fixtures for the layer 2 decision tests."""

import pytest

from speaker.layer2.decision import PortTable
from tests.unit.layer2.crafted import make_table


@pytest.fixture
def table() -> PortTable:
    return make_table()
