"""Database failures a user can meet, translated once into one line saying what to do.

SQLAlchemy, sqlite3, psycopg and Alembic each raise their own exceptions with multi-line
messages (SQL, parameters, links). ``translate`` turns the ones a user can cause or fix (server
down, missing database, disk full, damaged file, permissions, a store migrated by a newer
version) into a ``StoreError``; anything else is left to the caller.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from connector.errors import FatalError
from connector.redact import redact_url

__all__ = ["StoreError", "translate"]


class StoreError(FatalError):
    """The store cannot be used as it is; the message says what to do (exit code 1)."""


def _where(url: str | None) -> str:
    return f" at {redact_url(url)}" if url else ""


def _first_line(text: str) -> str:
    # psycopg puts the server's message on the first line, hints and SQL after it.
    line = text.strip().splitlines()[0] if text.strip() else text
    return re.sub(r"^connection failed: ", "", line).strip()


def _sqlite(err: sqlite3.Error, url: str | None) -> StoreError | None:
    name = getattr(err, "sqlite_errorname", "") or ""
    text = str(err)
    where = _where(url)
    if name in ("SQLITE_CORRUPT", "SQLITE_NOTADB") or "malformed" in text or (
        "not a database" in text
    ):
        return StoreError(
            f"the SQLite store{where} is damaged ({text}); restore it from a backup, or move it "
            "aside and run `prm-connector backfill` to rebuild it from Salesforce"
        )
    if name == "SQLITE_FULL" or "disk is full" in text:
        return StoreError(
            f"the disk holding the SQLite store{where} is full; free some space and run again "
            "(nothing was half-written: the last transaction was rolled back)"
        )
    if name.startswith("SQLITE_IOERR"):
        return StoreError(
            f"cannot write the SQLite store{where} ({text}, {name}): the disk may be full, over "
            "a file size limit, or failing; free space or check the disk, then run again"
        )
    if name.startswith("SQLITE_READONLY") or "readonly database" in text:
        return StoreError(
            f"the SQLite store{where} is read-only; make the file and its folder writable by "
            "this user (the connector also writes -wal and -shm files beside it)"
        )
    if name.startswith("SQLITE_CANTOPEN") or "unable to open database file" in text:
        return StoreError(
            f"cannot open the SQLite store{where}; check that its folder exists and this user "
            "may create and write files there (database.url in connector.yaml)"
        )
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "database is locked" in text:
        return StoreError(
            f"the SQLite store{where} stayed locked by another process past the busy timeout; "
            "let the other run finish (or stop it) and run again"
        )
    if name.startswith("SQLITE_PERM") or name.startswith("SQLITE_AUTH"):
        return StoreError(f"permission denied on the SQLite store{where} ({text})")
    return None


def _postgres(err: Any, url: str | None) -> StoreError | None:
    state = getattr(err, "sqlstate", None)
    text = _first_line(str(err))
    where = _where(url)
    if state is None and ("Connection refused" in str(err) or "could not connect" in str(err)
                          or "timeout expired" in str(err)):
        return StoreError(
            f"cannot connect to the PostgreSQL store{where}: {text}; check that the server is "
            "running and reachable, and database.url (PRM_DATABASE_URL)"
        )
    if state == "3D000" or re.search(r'database ".*" does not exist', str(err)):
        name = re.search(r'database "(.*?)" does not exist', str(err))
        create = f" (createdb {name.group(1)})" if name else ""
        return StoreError(
            f"the PostgreSQL database{where} does not exist; create it{create} or fix "
            "database.url (PRM_DATABASE_URL)"
        )
    if state == "28P01" or state == "28000" or "authentication failed" in str(err):
        return StoreError(
            f"PostgreSQL refused the login{where}: {text}; check the user and password in "
            "database.url (PRM_DATABASE_URL)"
        )
    if state == "42501" or (state is None and "permission denied" in str(err)):
        return StoreError(
            f"permission denied in the PostgreSQL store{where}: {text}; grant the connector's "
            "role CREATE and USAGE on its schema (it creates and migrates its own tables)"
        )
    if state == "53100":
        return StoreError(
            f"the PostgreSQL server of the store{where} is out of disk space: {text}; free "
            "space on the server and run again"
        )
    if state is not None and state.startswith("08"):
        return StoreError(
            f"lost the connection to the PostgreSQL store{where}: {text}; check the server "
            "and run again"
        )
    if state in ("57P01", "57P02", "57P03"):
        return StoreError(
            f"the PostgreSQL server of the store{where} is shutting down or starting: {text}; "
            "run again once it is up"
        )
    return None


def translate(exc: BaseException, url: str | None = None) -> StoreError | None:
    """A ``StoreError`` for a database failure a user can act on, else None.

    ``url`` (redacted before use) names the store in the message when the caller knows it.
    """
    if isinstance(exc, StoreError):
        return exc
    orig: Any = getattr(exc, "orig", None) or exc  # SQLAlchemy's DBAPIError wraps the driver's
    if isinstance(orig, sqlite3.Error):
        return _sqlite(orig, url)
    module = type(orig).__module__ or ""
    if module.startswith("psycopg"):
        return _postgres(orig, url)
    return None
