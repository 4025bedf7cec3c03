"""Pure grouping of claimed outbox items into one write per record (the last queued wins)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["ClaimedItem", "RecordWrite", "coalesce"]


@dataclass(frozen=True)
class ClaimedItem:
    """An outbox row as the dispatcher sees it."""

    id: str
    entity: str
    sobject: str
    operation: str
    record_key: str
    sf_id: str | None
    fields: dict[str, Any]
    external_id_field: str | None
    external_id: str | None
    attempts: int
    base_seq: int
    created_at: datetime
    meta: dict[str, Any] = field(default_factory=dict)
    seq: int = 0  # the order it was queued in (items of one transaction share created_at)


@dataclass
class RecordWrite:
    """Everything pending for one record: the merged fields and the items they came from."""

    sobject: str
    operation: str
    record_key: str
    entity: str
    sf_id: str | None
    external_id_field: str | None
    external_id: str | None
    fields: dict[str, Any]
    items: list[ClaimedItem]
    # field -> the item that set its value last (conflicts are judged against that item)
    sources: dict[str, ClaimedItem] = field(default_factory=dict)

    @property
    def base_seq(self) -> int:
        """The oldest base of the merged items: Salesforce edits after it may conflict."""
        return min(i.base_seq for i in self.items)

    @property
    def item_ids(self) -> list[str]:
        """Ids of the items this write settles."""
        return [i.id for i in self.items]

    def payload(self) -> dict[str, Any]:
        """The record for a Collections or Bulk call: key plus fields."""
        if self.operation == "update":
            return {"Id": self.sf_id, **self.fields}
        assert self.external_id_field is not None
        return {**self.fields, self.external_id_field: self.external_id}


def coalesce(items: Iterable[ClaimedItem]) -> list[RecordWrite]:
    """One RecordWrite per (sobject, operation, record); later items overwrite earlier fields.

    Items are merged in queue order (``seq``, never the clock: the items of one transaction
    share ``created_at``); notify items are never merged (their key is their id).
    """
    ordered: Sequence[ClaimedItem] = sorted(items, key=lambda i: i.seq)
    out: dict[tuple[str, str, str], RecordWrite] = {}
    for item in ordered:
        key = (item.sobject, item.operation, item.record_key)
        write = out.get(key)
        if write is None:
            write = out[key] = RecordWrite(
                sobject=item.sobject,
                operation=item.operation,
                record_key=item.record_key,
                entity=item.entity,
                sf_id=item.sf_id,
                external_id_field=item.external_id_field,
                external_id=item.external_id,
                fields={},
                items=[],
            )
        write.items.append(item)
        for name, value in item.fields.items():
            write.fields[name] = value
            write.sources[name] = item
    return list(out.values())
