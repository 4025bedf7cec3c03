"""Outbox tests run on SQLite and, when PRM_TEST_DATABASE_URL is set, on PostgreSQL; the
write-back tests use a real emulator over HTTPS (one per module). The fixtures (``engine``,
``store``, ``emulator``) come from ``tests/conftest.py`` and ``tests/prmfixtures.py``."""
