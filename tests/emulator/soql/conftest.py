"""Fixtures for the SOQL engine tests (the data itself lives in ``soqldata``)."""

from __future__ import annotations

import pytest

from soqldata import MemorySource, build_rows, object_defs


@pytest.fixture(scope="session")
def source() -> MemorySource:
    return MemorySource(object_defs(), build_rows())
