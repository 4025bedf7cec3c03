"""connector.gctune: start-up thresholds until the runtime settles, then steady ones; objects
alive at that point are frozen; without ``arm`` nothing changes."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from connector import gctune


@pytest.fixture
def collector() -> Iterator[None]:
    before = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
        gctune._ARMED["steady"] = None


def test_armed_thresholds_hold_until_settle_which_freezes_once(collector: None) -> None:
    gctune.arm((1_000_000, 20, 10), (50_000, 20, 10))
    assert gc.get_threshold() == (1_000_000, 20, 10)
    frozen = gc.get_freeze_count()
    gctune.settle()
    assert gc.get_threshold() == (50_000, 20, 10)
    assert gc.get_freeze_count() > frozen
    gc.set_threshold(700, 10, 10)
    gctune.settle()  # once only
    assert gc.get_threshold() == (700, 10, 10)


def test_settle_without_arm_changes_nothing(collector: None) -> None:
    gc.set_threshold(700, 10, 10)
    frozen = gc.get_freeze_count()
    gctune.settle()
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == frozen


def test_a_server_settles_without_freezing(collector: None) -> None:
    gctune.arm((1_000_000, 20, 10), (50_000, 20, 10))
    frozen = gc.get_freeze_count()
    gctune.settle(freeze=False)
    assert gc.get_threshold() == (50_000, 20, 10)
    assert gc.get_freeze_count() == frozen
