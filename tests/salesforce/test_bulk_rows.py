"""Bulk CSV pages typed per column once: the same records as converting row by row."""

from __future__ import annotations

import csv
import io

from connector.salesforce.bulk import column_converters, convert_row, convert_rows

DESCRIBE = {
    "fields": [
        {"name": "Id", "type": "id"},
        {"name": "Amount", "type": "currency"},
        {"name": "IsWon", "type": "boolean"},
        {"name": "SystemModstamp", "type": "datetime"},
        {"name": "Name", "type": "string"},
        {"name": "NumberOfEmployees", "type": "int"},
    ]
}


def _one_by_one(text: str) -> list[dict[str, object]]:
    conv = column_converters(DESCRIBE)
    return [convert_row(r, conv, "Opportunity", "62.0") for r in csv.DictReader(io.StringIO(text))]


def test_a_page_converts_exactly_as_row_by_row() -> None:
    """Empty cells are null, typed columns typed, quoted commas kept, a short row padded."""
    text = (
        "Id,Amount,IsWon,SystemModstamp,Name,NumberOfEmployees\n"
        '006A,12.5,true,2026-11-01T10:00:00.000Z,"Deal, A",7\n'
        "006B,,false,2026-11-01T10:00:00.000Z,,\n"
        ",3,,2026-11-01T10:00:00.000Z,No id,\n"
        "006C,1,true\n"
    )
    got = convert_rows(text, column_converters(DESCRIBE), "Opportunity", "62.0")
    assert got == _one_by_one(text)
    assert got[0]["Amount"] == 12.5 and got[0]["IsWon"] is True and got[0]["Name"] == "Deal, A"
    assert got[1]["Amount"] is None and got[2]["attributes"] == {"type": "Opportunity", "url": None}
    assert got[3]["Name"] is None


def test_relationship_columns_and_empty_pages() -> None:
    """``Account.Name`` columns nest like REST; an empty page is no rows."""
    text = "Id,Account.Name\n006A,Acme\n006B,\n"
    conv = column_converters(DESCRIBE)
    assert convert_rows(text, conv, "Opportunity", "62.0") == _one_by_one(text)
    assert convert_rows("", conv, "Opportunity", "62.0") == []
    assert convert_rows("Id,Name\n", conv, "Opportunity", "62.0") == []
