"""The suite's hypothesis profiles (tests/conftest.py) reach every property test."""

from __future__ import annotations

from hypothesis import HealthCheck, settings


def test_a_tests_own_settings_keep_the_profiles_tolerance_of_a_slow_machine() -> None:
    """``@settings(max_examples=N)`` in a test module inherits no deadline and no too_slow."""
    own = settings(max_examples=7)
    assert own.deadline is None
    assert HealthCheck.too_slow in own.suppress_health_check


def test_the_ci_profile_replays_the_same_examples_everywhere() -> None:
    """ci: derandomized and without an example database, so a fresh clone runs what CI ran."""
    ci = settings.get_profile("ci")
    assert ci.derandomize and ci.database is None
    assert ci.deadline is None and HealthCheck.too_slow in ci.suppress_health_check
