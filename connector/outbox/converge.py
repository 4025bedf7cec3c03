"""Out-fields converge: the fields the connector owns in Salesforce are compared with what it
wants (the store) and the difference is queued, whatever lost it.

A write can be lost after Salesforce accepted it (a trigger in the org, a restore, a test
double), never made (a value the store got without a change that queued a write), or undone
by a person editing a field the connector owns. None of these leaves a change the outbox
would see, so ``reconcile`` compares, record by record, the rows it reads anyway (no extra
API call) with the store, before it applies them:

- ``out`` fields are the connector's: a store value that differs from the org's is written.
  A store that holds no value (null) has no opinion, and the org's value is left alone.
- ``both`` fields follow their conflict policy. When only the store moved since the last
  read (the org still holds the snapshot's value), the store's value is written. When the
  org moved too, ``crm_wins`` takes Salesforce's value (reconcile applies it inbound),
  ``prm_wins`` writes the store's value, ``newest_wins`` the side changed last (the row's
  SystemModstamp against the store row's ``updated_at``).
- ``in`` fields are Salesforce's and never written.

The repairs are ordinary outbox updates (cause ``converge:<cycle>``, meta ``converge``) queued
in the reconcile's page transaction; the dispatcher does not trim them against what it last
wrote (that record is what went missing), and when every field agrees nothing is queued and
no call is made.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from connector.mapping import EntityMapping, FieldMapping, as_local, same_value
from connector.outbox.crmform import crm_rows
from connector.outbox.items import OutboxWrite, enqueue
from connector.sftime import parse_sf_datetime
from connector.store.models import ENTITY_MODELS, entity_table
from connector.store.sqlutil import chunks

__all__ = ["CONVERGE_META", "Repair", "WriteBack", "converge_page", "owned_fields"]

CONVERGE_META = "converge"  # meta key of a repair write: never trimmed against outbox_written


@dataclass
class Repair:
    """What one page's comparison found and queued."""

    checked: int = 0  # records compared
    repaired: int = 0  # records with at least one field queued
    fields: dict[str, int] = field(default_factory=dict)  # Salesforce field -> records


def owned_fields(entity: EntityMapping) -> list[FieldMapping]:
    """The fields the connector may write: ``out`` and ``both`` (by policy, see above)."""
    return [f for f in entity.fields.values() if f.outbound]


def _store_rows(conn: Connection, entity: str, sf_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    table = entity_table(entity)
    out: dict[str, dict[str, Any]] = {}
    for part in chunks(list(dict.fromkeys(sf_ids))):
        stmt = select(table).where(table.c.sf_id.in_(part), table.c.is_deleted.is_(False))
        out.update({str(r["sf_id"]): dict(r) for r in conn.execute(stmt).mappings()})
    return out


def _stamp(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    return parse_sf_datetime(value) if isinstance(value, str) else None


_ABSENT = object()  # no snapshot value to compare with


def _store_wins(
    f: FieldMapping, org: Any, snap: Any, org_at: datetime | None, store_at: datetime | None,
) -> tuple[bool, bool]:
    """For a differing field: does the store's value stand (see the module's rule), and did
    the org move since the last read (its row is then applied with the store's value)?"""
    if f.direction == "out":
        return True, False
    if snap is not _ABSENT and same_value(snap, org):
        return True, False  # only the store moved since the last read
    if f.conflict == "prm_wins":
        return True, True
    if f.conflict == "newest_wins":
        wins = org_at is None or (store_at is not None and store_at > org_at)
        return wins, wins
    return False, False


def converge_page(
    conn: Connection,
    entity: EntityMapping,
    org_rows: list[dict[str, Any]],
    snapshots: Mapping[str, Mapping[str, Any] | None],
    *,
    cause: str,
) -> tuple[Repair, list[OutboxWrite]]:
    """Queue the owned fields where the store and ``org_rows`` (raw rows just read, with the
    ``out`` fields selected) differ; ``snapshots`` are the records' last-read local values.

    Values are compared as the poller would store them (the org's value through the field's
    picklist map and transforms), lookups as Salesforce ids. Rows whose ``both`` field the
    org changed but the store wins (``prm_wins``, a newer store value under ``newest_wins``)
    are changed in place to the store's value, so the reconcile applying them afterwards keeps
    the store's value instead of taking the org's.
    """
    report = Repair()
    writes: list[OutboxWrite] = []
    owned = owned_fields(entity)
    if not owned or entity.name not in ENTITY_MODELS or not org_rows:
        return report, writes
    by_id = {str(r["Id"]): r for r in org_rows}
    store = _store_rows(conn, entity.name, list(by_id))
    ids = [i for i in by_id if i in store]
    if not ids:
        return report, writes
    names = [f.local for f in owned]
    wanted = crm_rows(conn, entity, [{n: store[i].get(n) for n in names} for i in ids])
    links = [f.local for f in owned if f.lookup is not None]
    snap_ids = [i for i in ids if snapshots.get(i) is not None]
    snap_links = dict(zip(snap_ids, crm_rows(
        conn, entity, [{n: (snapshots[i] or {})[n] for n in links if n in (snapshots[i] or {})}
                       for i in snap_ids]), strict=True)) if links else {}
    for sf_id, want in zip(ids, wanted, strict=True):
        row, local, snap = by_id[sf_id], store[sf_id], snapshots.get(sf_id) or {}
        report.checked += 1
        diff: dict[str, Any] = {}
        patch: dict[str, Any] = {}
        for f in owned:
            if local.get(f.local) is None or f.crm not in want:
                continue  # the store has no opinion (or the value does not convert)
            if f.lookup is not None:  # Salesforce ids on both sides
                mine, theirs = want[f.crm], row.get(f.crm)
                before = snap_links.get(sf_id, {}).get(f.crm, _ABSENT)
            else:
                mine, theirs = local[f.local], as_local(f, row.get(f.crm))
                before = snap.get(f.local, _ABSENT)
            if same_value(mine, theirs):
                continue
            wins, moved = _store_wins(f, theirs, before, _stamp(row.get("SystemModstamp")),
                                      local.get("updated_at"))
            if wins:
                diff[f.crm] = want[f.crm]
            if moved:
                patch[f.crm] = want[f.crm]
        if not diff:
            continue
        for crm in diff:
            report.fields[crm] = report.fields.get(crm, 0) + 1
        row.update(patch)  # a `both` field the org moved: applied inbound as the store's value
        report.repaired += 1
        writes.append(OutboxWrite(entity.sobject, "update", diff, cause, sf_id=sf_id,
                                  entity=entity.name, local_id=int(local["id"]),
                                  meta={CONVERGE_META: True}))
    return report, writes


class WriteBack:
    """The write-back half of one reconcile, hooked around each page it applies.

    ``before`` compares a page (and adjusts the rows whose `both` fields the store wins);
    ``after`` queues the repairs in the same transaction, once the page's inbound changes
    are logged, so they are not mistaken for conflicts with those changes.
    """

    def __init__(self, cycle_id: str) -> None:
        self.cause = f"converge:{cycle_id}"
        self.by_entity: dict[str, Repair] = {}
        self._pending: list[OutboxWrite] = []

    def extra_fields(self, entity: EntityMapping) -> list[str]:
        """The ``out`` fields to select besides the inbound ones."""
        return [f.crm for f in owned_fields(entity) if not f.inbound]

    def before(
        self, conn: Connection, entity: EntityMapping, rows: list[dict[str, Any]],
        snapshots: Mapping[str, Mapping[str, Any] | None],
    ) -> None:
        """Compare a page read from the org with the store."""
        found, writes = converge_page(conn, entity, rows, snapshots, cause=self.cause)
        total = self.by_entity.setdefault(entity.name, Repair())
        total.checked += found.checked
        total.repaired += found.repaired
        for name, n in found.fields.items():
            total.fields[name] = total.fields.get(name, 0) + n
        self._pending = writes

    def after(self, conn: Connection) -> int:
        """Queue the page's repairs (in the page's transaction); how many were queued."""
        writes, self._pending = self._pending, []
        return len(enqueue(conn, writes)) if writes else 0

    @property
    def repaired(self) -> int:
        """Records with a repair queued, all entities."""
        return sum(r.repaired for r in self.by_entity.values())

    def summary(self) -> dict[str, Any]:
        """Per entity: records compared, repaired, and the fields repaired."""
        return {name: {"checked": r.checked, "repaired": r.repaired, "fields": dict(r.fields)}
                for name, r in self.by_entity.items()}
