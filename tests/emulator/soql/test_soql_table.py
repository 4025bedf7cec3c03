"""Table-driven SOQL behaviour: each query's Ids, aggregate rows, count or error."""

from __future__ import annotations

import pytest

from connector.emulator.soql import SoqlError, execute, parse

from soqlcases import CASES, Count, Err, Ids, Rows
from soqldata import NOW, MemorySource, short


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 150
    assert sum(isinstance(e, Err) for _, e in CASES) >= 25
    assert len({q for q, _ in CASES}) == len(CASES), "duplicate queries in the table"


@pytest.mark.parametrize(("soql", "expected"), CASES, ids=[q for q, _ in CASES])
def test_query(source: MemorySource, soql: str, expected: Ids | Rows | Count | Err) -> None:
    if isinstance(expected, Err):
        with pytest.raises(SoqlError) as info:
            execute(parse(soql), source, now=NOW)
        assert info.value.code == expected.code
        assert info.value.status == 400
        assert expected.fragment in info.value.message
        assert "ERROR at Row:" in info.value.message or expected.code not in (
            "INVALID_FIELD",
            "INVALID_TYPE",
        )
        return
    result = execute(parse(soql), source, now=NOW)
    if isinstance(expected, Ids):
        assert [r["Id"] for r in result.records] == [short(n) for n in expected.names]
        assert result.total_size == len(expected.names)
        assert not result.aggregate
    elif isinstance(expected, Count):
        assert result.records == []
        assert result.total_size == expected.n
    else:
        assert result.aggregate
        assert all(r["attributes"] == {"type": "AggregateResult"} for r in result.records)
        rows = [{k: v for k, v in r.items() if k != "attributes"} for r in result.records]
        assert rows == list(expected.rows)
        assert result.total_size == len(expected.rows)
