"""The engine factory: SQLite pragmas and transactions, URL handling, read connections."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from connector.store import make_engine, migrate, read_connection
from connector.store.engine import normalise_url


def test_sqlite_connections_get_wal_foreign_keys_and_busy_timeout(tmp_path: Path) -> None:
    """Every SQLite connection is configured by make_engine."""
    eng = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with eng.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one() == 30000
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar_one() == 1  # NORMAL
    eng.dispose()


def test_relative_sqlite_path_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sqlite:///prm.db creates prm.db in the current directory."""
    monkeypatch.chdir(tmp_path)
    eng = make_engine("sqlite:///prm.db")
    migrate(eng)
    eng.dispose()
    assert (tmp_path / "prm.db").is_file()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:p@h:5432/db", "postgresql+psycopg://u:p@h:5432/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:///prm.db", "sqlite:///prm.db"),
    ],
)
def test_postgres_urls_are_normalised_to_psycopg3(url: str, expected: str) -> None:
    """Both postgresql:// and postgresql+psycopg:// select psycopg 3; passwords survive."""
    assert normalise_url(url) == expected


def test_unsupported_scheme_is_refused() -> None:
    """A MySQL URL is a clear error, not a late driver failure."""
    with pytest.raises(ValueError, match="unsupported database URL scheme 'mysql'"):
        make_engine("mysql://u@h/db")


def test_a_read_connection_does_not_wait_for_a_writer(engine: Engine) -> None:
    """While a write transaction is open, read_connection still reads the committed state."""
    insert = text(
        "INSERT INTO program (sf_id, is_deleted, created_at, updated_at) "
        "VALUES (:s, false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
    )
    with engine.begin() as writer:
        writer.execute(insert, {"s": "P1"})
        done = threading.Event()
        counts: list[int] = []

        def read() -> None:
            with read_connection(engine) as conn:
                counts.append(conn.execute(text("SELECT count(*) FROM program")).scalar_one())
            done.set()

        threading.Thread(target=read, daemon=True).start()
        assert done.wait(10), "the reader waited for the writer's lock"
    assert counts == [0]


def test_sqlite_writers_queue_instead_of_failing(tmp_path: Path) -> None:
    """Two write transactions that both read first: the second waits, neither is refused."""
    eng = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    migrate(eng)
    errors: list[BaseException] = []
    sql = text(
        "INSERT INTO program (sf_id, name, is_deleted, created_at, updated_at) "
        "VALUES (:s, :n, false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
    )

    def work(n: int) -> None:
        try:
            for i in range(20):
                with eng.begin() as conn:
                    seen = conn.execute(text("SELECT count(*) FROM program")).scalar_one()
                    conn.execute(sql, {"s": f"P{n}-{i}", "n": str(seen)})
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    with eng.connect() as conn:
        names = sorted(int(v) for v in conn.execute(text("SELECT name FROM program")).scalars())
    eng.dispose()
    assert errors == []
    assert names == list(range(60))  # every read-then-write saw all earlier commits
