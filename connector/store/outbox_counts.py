"""Outbox items counted by status and Salesforce error code, kept by the database itself.

``outbox_count`` holds one row per (status, error code) with how many ``outbox_item`` rows
have them (``error_code`` ``''`` for none). Row triggers on ``outbox_item`` (insert, delete,
and an update that changes the status or the code) keep it in the same transaction as the
write, whichever code path writes: counts for ``status``, ``/metrics`` and the operations
page are then one read of a few rows rather than a count over every item (at 100k dead
writes, a count over the index took 50-100 ms on a loaded machine).

(SQLite's triggers insert a missing row with ``WHERE NOT EXISTS``, not ``OR IGNORE``: an
outer upsert's conflict clause would override the trigger's.) ``install`` creates the
triggers; the migration 0016_opsperf and a fresh store's
``create_all`` both call it, so the two schemas stay the same.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text

__all__ = ["TRIGGERS", "backfill", "install", "uninstall"]

# SQLite: count NEW in (a row made if missing) / take OLD out
_SQLITE_ADD = """
  INSERT INTO outbox_count (status, error_code, n)
    SELECT NEW.status, coalesce(NEW.error_code, ''), 0 WHERE NOT EXISTS (
      SELECT 1 FROM outbox_count
      WHERE status = NEW.status AND error_code = coalesce(NEW.error_code, ''));
  UPDATE outbox_count SET n = n + 1
    WHERE status = NEW.status AND error_code = coalesce(NEW.error_code, '');"""
_SQLITE_TAKE = """
  UPDATE outbox_count SET n = n - 1
    WHERE status = OLD.status AND error_code = coalesce(OLD.error_code, '');"""
_SQLITE = [
    f"CREATE TRIGGER IF NOT EXISTS outbox_count_ins AFTER INSERT ON outbox_item BEGIN"
    f"{_SQLITE_ADD}\nEND",
    f"CREATE TRIGGER IF NOT EXISTS outbox_count_del AFTER DELETE ON outbox_item BEGIN"
    f"{_SQLITE_TAKE}\nEND",
    f"CREATE TRIGGER IF NOT EXISTS outbox_count_upd AFTER UPDATE OF status, error_code"
    f" ON outbox_item WHEN OLD.status IS NOT NEW.status"
    f" OR OLD.error_code IS NOT NEW.error_code BEGIN{_SQLITE_TAKE}{_SQLITE_ADD}\nEND",
]

_POSTGRESQL = [
    """CREATE OR REPLACE FUNCTION outbox_count_apply() RETURNS trigger AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    UPDATE outbox_count SET n = n - 1
      WHERE status = OLD.status AND error_code = coalesce(OLD.error_code, '');
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO outbox_count (status, error_code, n)
      VALUES (NEW.status, coalesce(NEW.error_code, ''), 1)
      ON CONFLICT (status, error_code) DO UPDATE SET n = outbox_count.n + 1;
  END IF;
  RETURN NULL;
END
$$ LANGUAGE plpgsql""",
    "DROP TRIGGER IF EXISTS outbox_count_ins ON outbox_item",
    """CREATE TRIGGER outbox_count_ins AFTER INSERT OR DELETE ON outbox_item
  FOR EACH ROW EXECUTE FUNCTION outbox_count_apply()""",
    "DROP TRIGGER IF EXISTS outbox_count_upd ON outbox_item",
    """CREATE TRIGGER outbox_count_upd AFTER UPDATE OF status, error_code ON outbox_item
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status
                     OR OLD.error_code IS DISTINCT FROM NEW.error_code)
  EXECUTE FUNCTION outbox_count_apply()""",
]

TRIGGERS: dict[str, list[str]] = {"sqlite": _SQLITE, "postgresql": _POSTGRESQL}


def install(conn: Connection) -> None:
    """Create the triggers that keep ``outbox_count`` (idempotent)."""
    for stmt in TRIGGERS[conn.dialect.name]:
        conn.exec_driver_sql(stmt)


def uninstall(conn: Connection) -> None:
    """Drop the triggers (and PostgreSQL's function)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS outbox_count_ins ON outbox_item")
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS outbox_count_upd ON outbox_item")
        conn.exec_driver_sql("DROP FUNCTION IF EXISTS outbox_count_apply()")
    else:
        for name in ("outbox_count_ins", "outbox_count_del", "outbox_count_upd"):
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")


def backfill(conn: Connection) -> None:
    """Recount ``outbox_count`` from ``outbox_item`` (the migration; a repair)."""
    conn.execute(text("DELETE FROM outbox_count"))
    conn.execute(text(
        "INSERT INTO outbox_count (status, error_code, n) "
        "SELECT status, coalesce(error_code, ''), count(*) FROM outbox_item "
        "GROUP BY status, coalesce(error_code, '')"))


def _after_create(target: Any, connection: Connection, **kw: Any) -> None:
    tables = kw.get("tables")
    names = {t.name for t in tables} if tables is not None else {"outbox_item"}
    if "outbox_item" in names and connection.dialect.name in TRIGGERS:
        install(connection)
