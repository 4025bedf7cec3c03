"""Garbage-collector tuning for a command's process: no collections while it starts, then the
objects that live for the whole run (modules, classes, config) are frozen out of every later
collection.

Start-up allocates some 300,000 long-lived objects (imports, settings, mapping). With the
steady thresholds a young collection would scan them all midway through the imports (~50 ms),
and the next older collection again. ``arm`` (the console script's ``main``) raises the
young threshold until ``settle`` (the end of ``open_runtime``) freezes what exists and sets the
steady thresholds. Nothing happens unless armed: in-process callers (tests, the daemon's own
runtime) keep the collector as they set it.
"""

from __future__ import annotations

import gc

__all__ = ["arm", "settle"]

_ARMED: dict[str, tuple[int, int, int] | None] = {"steady": None}


def arm(startup: tuple[int, int, int], steady: tuple[int, int, int]) -> None:
    """Use ``startup`` thresholds until ``settle``, then ``steady`` ones."""
    _ARMED["steady"] = steady
    gc.set_threshold(*startup)


def settle(*, freeze: bool = True) -> None:
    """Start-up is over: freeze the objects alive now (unless ``freeze`` is False) and set
    the steady thresholds. Only the first call after ``arm`` does anything."""
    steady = _ARMED["steady"]
    if steady is None:
        return
    _ARMED["steady"] = None
    if freeze:
        gc.freeze()
    gc.set_threshold(*steady)
