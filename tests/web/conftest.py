from __future__ import annotations

import pytest

from web.opsfixtures import demo_store, ops_config

__all__ = ["demo_store", "ops_config"]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """Keep each phase's report on the test item (the browser fixture screenshots failures)."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
