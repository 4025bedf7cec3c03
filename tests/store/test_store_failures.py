"""Store failures a user can meet: the real CLI on real broken stores prints one line, exit 1.

Each case builds the broken store for real (a closed port, a missing database, a damaged file,
a file size limit, a store migrated by a newer version, a role without rights, a read-only
file) and runs ``prm-connector`` on it as a user would: in-process through its entry point
(same exit code and stderr), in a new process only where a limit is set on the process.
"""

from __future__ import annotations

import os
import resource
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from connector.cli.config_cmds import write_defaults
from connector.store import make_engine, migrate
from connector.store.failures import StoreError, translate

from clirunner import CliResult, invoke

SF_ENV = {
    "PRM_SF_LOGIN_URL": "https://login.example.com",
    "PRM_SF_USERNAME": "integration@example.com",
    "PRM_SF_PASSWORD": "not-used",
    "PRM_SF_CLIENT_ID": "client",
    "PRM_SF_CLIENT_SECRET": "not-used-either",
}


def _run(
    cfg: Path, url: str, *args: str, preexec: Callable[[], None] | None = None
) -> CliResult:
    """``prm-connector -c CFG ARGS`` on the store at ``url``: in-process through the CLI's
    entry point, or in a new process when ``preexec`` must limit that process first."""
    env: dict[str, str | None] = {
        "PRM_DEBUG": None, "PRM_CONFIG": None, **SF_ENV, "PRM_DATABASE_URL": url
    }
    argv = ["-c", str(cfg / "connector.yaml"), *args]
    if preexec is None:
        return invoke(*argv, env=env)
    full = {k: v for k, v in {**os.environ, **env}.items() if v is not None}
    done = subprocess.run(
        [sys.executable, "-m", "connector", *argv],
        capture_output=True,
        text=True,
        env=full,
        timeout=120,
        preexec_fn=preexec,
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


@pytest.fixture()
def cfg(tmp_path: Path) -> Path:
    write_defaults(tmp_path / "cfg")
    return tmp_path / "cfg"


def _one_line_error(result: CliResult, *phrases: str) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 1, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for phrase in phrases:
        assert phrase in lines[0], lines[0]
    return lines[0]


def _migrated_sqlite(path: Path) -> str:
    url = f"sqlite:///{path}"
    eng = make_engine(url)
    migrate(eng)
    eng.dispose()
    return url


def test_postgresql_down_is_one_line_naming_the_server_without_its_password(cfg: Path) -> None:
    """A closed port: 'cannot connect', the URL with its password and sslpassword masked."""
    url = "postgresql://prm:hunter2secret@127.0.0.1:1/prm?sslpassword=keypass99"
    line = _one_line_error(_run(cfg, url, "status"), "cannot connect to the PostgreSQL store",
                           "127.0.0.1:1", "check that the server is running")
    assert "hunter2secret" not in line and "keypass99" not in line


@pytest.mark.postgres
def test_missing_postgresql_database_says_to_create_it(cfg: Path) -> None:
    """A database that does not exist on a running server: create it, or fix the URL."""
    base = os.environ.get("PRM_TEST_DATABASE_URL")
    if not base:
        pytest.skip("PRM_TEST_DATABASE_URL is not set")
    name = f"prm_missing_{uuid.uuid4().hex[:8]}"
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    _one_line_error(_run(cfg, url, "status"), "does not exist", f"createdb {name}")


@pytest.mark.postgres
def test_role_without_rights_gets_permission_denied_with_what_to_grant(cfg: Path) -> None:
    """A role that may not create tables in its schema: permission denied, grant CREATE."""
    base = os.environ.get("PRM_TEST_DATABASE_URL")
    if not base:
        pytest.skip("PRM_TEST_DATABASE_URL is not set")
    role, schema = f"prm_ro_{uuid.uuid4().hex[:8]}", f"prm_ro_{uuid.uuid4().hex[:8]}"
    admin = make_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        conn.execute(text(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"'))
    try:
        url = (
            make_url(base)
            .set(username=role)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
        _one_line_error(_run(cfg, url, "status"), "permission denied", "grant")
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            conn.execute(text(f'DROP ROLE "{role}"'))
        admin.dispose()


def test_corrupt_sqlite_file_is_refused_at_start(cfg: Path, tmp_path: Path) -> None:
    """Pages overwritten with garbage: quick_check at start refuses the store (was: exit 0)."""
    url = _migrated_sqlite(tmp_path / "prm.db")
    with open(tmp_path / "prm.db", "r+b") as f:
        f.seek(4096 * 10)
        f.write(b"\xff" * 4096 * 3)
    line = _one_line_error(_run(cfg, url, "status"), "is damaged", "backup", "backfill")
    assert "prm.db" in line
    # sync --once used to exit 0 here: it stops before it logs in to Salesforce
    _one_line_error(_run(cfg, url, "sync", "--once"), "is damaged")


def test_file_that_is_not_a_database_is_refused(cfg: Path, tmp_path: Path) -> None:
    """A store path pointing at some other file: damaged, not a traceback."""
    (tmp_path / "notes.db").write_bytes(b"these are my notes, not a database\n" * 200)
    _one_line_error(_run(cfg, f"sqlite:///{tmp_path / 'notes.db'}", "status"), "is damaged")


def test_store_from_a_newer_version_names_the_revision(cfg: Path, tmp_path: Path) -> None:
    """alembic_version holds a revision this code does not know: upgrade prm-connector."""
    url = _migrated_sqlite(tmp_path / "prm.db")
    con = sqlite3.connect(tmp_path / "prm.db")
    con.execute("DELETE FROM alembic_version")  # one row per head; the future has one
    con.execute("INSERT INTO alembic_version VALUES ('0999_from_the_future')")
    con.commit()
    con.close()
    _one_line_error(_run(cfg, url, "db", "upgrade"), "0999_from_the_future", "newer version",
                    "Upgrade prm-connector")


def _limit_file_size() -> None:
    # A real write failure, deterministic: the OS refuses to grow any file past 64 KiB, as a
    # full disk refuses to grow it at all (Python ignores SIGXFSZ, so writes fail with EFBIG).
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))


def test_disk_full_while_migrating_is_one_line(cfg: Path, tmp_path: Path) -> None:
    """The store cannot grow (file size limit): one line saying to free space."""
    url = f"sqlite:///{tmp_path / 'prm.db'}"
    _one_line_error(_run(cfg, url, "db", "upgrade", preexec=_limit_file_size),
                    "cannot write the SQLite store", "free space")


def test_missing_folder_is_one_line(cfg: Path, tmp_path: Path) -> None:
    """A store path in a folder that does not exist: check the folder and its rights."""
    _one_line_error(_run(cfg, f"sqlite:///{tmp_path / 'nowhere' / 'prm.db'}", "status"),
                    "cannot open the SQLite store", "folder exists")


def test_debug_adds_the_traceback(cfg: Path) -> None:
    """--debug prints the traceback, and still ends with the one-line error."""
    result = _run(cfg, "postgresql://prm@127.0.0.1:1/prm", "--debug", "status")
    assert result.exit_code == 1
    assert "Traceback" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: cannot connect")


@pytest.fixture()
def tiny_sqlite(tmp_path: Path) -> Iterator[str]:
    yield f"sqlite:///{tmp_path / 'tiny.db'}"


def test_a_real_sqlite_full_error_translates_to_disk_full(tiny_sqlite: str) -> None:
    """SQLITE_FULL itself (max_page_count reached) reads 'disk ... is full; free some space'."""
    eng = create_engine(tiny_sqlite)

    @event.listens_for(eng, "connect")
    def _cap(dbapi_conn: sqlite3.Connection, _record: object) -> None:
        dbapi_conn.execute("PRAGMA max_page_count = 3")

    with pytest.raises(OperationalError) as caught, eng.begin() as conn:
        conn.execute(text("CREATE TABLE t (x TEXT)"))
        conn.execute(text("INSERT INTO t VALUES (:x)"), [{"x": "y" * 3000}] * 20)
    err = translate(caught.value, tiny_sqlite)
    assert isinstance(err, StoreError)
    assert "is full; free some space" in str(err)
    eng.dispose()


def test_a_real_read_only_error_translates_to_make_it_writable(tmp_path: Path) -> None:
    """SQLITE_READONLY (a file opened read-only, as on a read-only mount) says what to fix."""
    (tmp_path / "ro.db").write_bytes(b"")
    eng = create_engine(
        "sqlite://",
        creator=lambda: sqlite3.connect(f"file:{tmp_path / 'ro.db'}?mode=ro", uri=True),
    )
    with pytest.raises(OperationalError) as caught, eng.begin() as conn:
        conn.execute(text("CREATE TABLE t (x TEXT)"))
    err = translate(caught.value, f"sqlite:///{tmp_path / 'ro.db'}")
    assert isinstance(err, StoreError)
    assert "is read-only; make the file and its folder writable" in str(err)
    eng.dispose()


def test_a_real_lock_timeout_translates_to_let_the_other_run_finish(tmp_path: Path) -> None:
    """SQLITE_BUSY (another writer holds the file past the timeout) names what to do."""
    path = tmp_path / "busy.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x TEXT)")
    holder.execute("BEGIN IMMEDIATE")
    eng = create_engine("sqlite://", creator=lambda: sqlite3.connect(path, timeout=0.05))
    try:
        with pytest.raises(OperationalError) as caught, eng.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES ('y')"))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        eng.dispose()
    err = translate(caught.value, f"sqlite:///{path}")
    assert isinstance(err, StoreError)
    assert "stayed locked by another process" in str(err)
