"""Helpers for sync tests: act on the emulator as another user, compare org and store."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from simple_salesforce import Salesforce
from sqlalchemy import Engine

from connector.mapping import EntityMapping, to_local
from connector.store import read_connection, repo
from connector.sync.apply import jsonable
from connector.sync.window import select_soql

__all__ = ["chunks", "compare_entity", "org_rows"]


def chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    """``items`` in lists of at most ``size``."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


def org_rows(sf: Salesforce, entity: EntityMapping) -> dict[str, dict[str, Any]]:
    """Every live row of ``entity`` in the org, by Id, as the poller would select it."""
    soql = select_soql(entity.sobject, entity.inbound_fields(), None, filter=entity.filter)
    return {r["Id"]: r for r in sf.query_all_iter(soql)}


def compare_entity(engine: Engine, sf: Salesforce, entity: EntityMapping) -> list[str]:
    """Field-by-field differences between the org and the store for ``entity`` (empty = equal)."""
    org = org_rows(sf, entity)
    lookups = entity.lookups()
    problems: list[str] = []
    with read_connection(engine) as conn:
        local = {
            r["sf_id"]: r
            for r in repo.iter_entity(
                conn, entity.name, fields=list(entity.fields), lookups=lookups
            )
            if r["sf_id"] and not r["is_deleted"] and r.get("sf_modstamp") is not None
        }
    if set(org) != set(local):
        problems.append(
            f"{entity.name}: ids only in org {sorted(set(org) - set(local))[:5]}, "
            f"only in store {sorted(set(local) - set(org))[:5]}"
        )
    for sf_id in set(org) & set(local):
        want = jsonable(to_local(entity, org[sf_id]))
        row = local[sf_id]
        for name, value in want.items():
            have = row.get(f"{name}_sf_id") if name in lookups else row.get(name)
            if name not in lookups and name not in row:
                have = (row.get("extra") or {}).get(name)
            have_j = jsonable({name: have})[name]
            if isinstance(value, float) or isinstance(have_j, float):
                equal = value is not None and have_j is not None and abs(value - have_j) < 1e-9
                equal = equal or (value is None and have_j is None)
            else:
                equal = value == have_j
            if not equal:
                problems.append(f"{entity.name} {sf_id}.{name}: org {value!r} != store {have_j!r}")
    return problems
