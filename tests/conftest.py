"""Suite-wide settings and the mechanisms new tests should reuse.

Hypothesis profiles (registered here, before any test module is imported)
    ``PRM_HYPOTHESIS_PROFILE`` picks one; the default is ``ci``.

    - ``ci``: derandomized (the same examples on every machine and every run), no example
      database, no deadline, ``HealthCheck.too_slow`` suppressed. A fresh clone on a loaded
      2-core machine gets exactly the run CI got; a failure prints its reproduction blob.
    - ``dev``: random examples and the local ``.hypothesis`` database (failures replay first),
      with the same tolerance of a slow machine. ``PRM_HYPOTHESIS_PROFILE=dev pytest ...``

    A test's own ``@settings(...)`` inherits every field it does not set from the active
    profile, so write only what the test needs (usually ``max_examples``); never set a
    ``deadline`` or re-enable ``too_slow``.

Stores (``tests/dbfixtures.py``)
    ``db_kind`` runs a test on "sqlite" and, with ``PRM_TEST_DATABASE_URL`` set, "postgres".
    ``engine`` (store tests) and ``store`` (sync tests) give a migrated, empty store: the
    migrations run once per test session into a template (a SQLite file; a PostgreSQL schema)
    and each test gets a copy, so a test costs a file copy or a ``CREATE TABLE`` batch, not an
    Alembic upgrade. ``make_test_url``/``make_test_engine`` give an *unmigrated* database for
    tests of migrating itself.

Emulator, config and runtime (``tests/prmfixtures.py``, a plugin listed in ``pytest_plugins``)
    ``emulator``: one in-process emulator per test module (seed: demo) that tests reset;
    ``emu = emulator_fixture(seed=..., ...)`` for a module that needs another seed or options.
    ``write_config(folder, replace, sync=...)`` copies the default config files;
    ``sf_env(emu, db_url)`` / ``offline_env(folder)`` give the PRM_* variables they read;
    ``settings_for``, ``sync_context`` and ``open_test_runtime`` make what the services take;
    ``sf_client(emu, user)`` is unmodified simple-salesforce acting as one of the org's users.
    Write no copy of these in a conftest or test module: import them from ``prmfixtures``.

Layout
    tests/ mirrors connector/: the tests of ``connector/X/`` live in ``tests/X/``, those of a
    top-level module (``signing.py``, ``logs.py``, ``settings.py``...) at the top level.

Command line (``tests/clirunner.py``)
    ``invoke(*args, env=...)`` runs ``prm-connector ARGS`` in-process (exit code, stdout,
    stderr), through ``connector.cli.main`` so exit codes and error lines are the real ones.
    Start a process only when the process is the point (signals, locks, crash, start-up).

Processes (``tests/procs.py``)
    ``start_cli(argv, env=..., folder=...)`` runs ``prm-connector ARGV`` in a real process of its
    own, forked from a server that imported the connector once, so it starts in milliseconds
    instead of a second; ``start(func, *args, ...)`` runs any module-level function. Use them to
    SIGKILL a run, hold a lock from another process or run the daemon; use ``subprocess`` when
    the interpreter's start-up (or a limit set on the process) is under test.

Order
    Tests marked ``slow`` run first (``pytest_collection_modifyitems`` below), so with
    ``-n 2`` the two workers share the long ones and finish together; mark a test or module
    ``slow`` when it takes seconds.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

# The store fixtures, for every test (their session-scoped templates must be seen suite-wide).
from dbfixtures import _pg_pool, _sqlite_template, db_kind, engine, migrated_store, store

__all__ = ["_pg_pool", "_sqlite_template", "db_kind", "engine", "migrated_store", "store"]

# The emulator, config and runtime fixtures (see the docstring).
pytest_plugins = ["prmfixtures"]

PROFILE_ENV = "PRM_HYPOTHESIS_PROFILE"

# too_slow measures generation time: on a shared 2-core machine it fails healthy tests.
_TOLERANT = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}

settings.register_profile("ci", derandomize=True, database=None, print_blob=True, **_TOLERANT)
settings.register_profile("dev", **_TOLERANT)
settings.load_profile(os.environ.get(PROFILE_ENV) or "ci")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests first, each group in collection order (a module's tests stay together)."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
