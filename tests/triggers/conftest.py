"""Trigger tests run on SQLite and, when PRM_TEST_DATABASE_URL is set, on PostgreSQL (the
``engine`` and ``emulator`` fixtures come from ``tests/conftest.py`` and its plugin)."""
