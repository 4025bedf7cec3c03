"""The emulator's SOQL engine: ``parse`` text once, ``execute`` against a ``DataSource``.

Only ``connector.emulator`` is imported. Supported: field lists with parent paths (5 levels),
child subqueries, aggregates with GROUP BY/HAVING, WHERE with AND/OR/NOT, comparison, LIKE,
IN/NOT IN (values or semi/anti-join subselects), INCLUDES/EXCLUDES, date/datetime and relative
date literals, ORDER BY with NULLS FIRST/LAST, LIMIT/OFFSET, FIELDS(), FOR VIEW/UPDATE/REFERENCE,
WITH SECURITY_ENFORCED and USING SCOPE (accepted, ignored).
"""

from __future__ import annotations

from connector.emulator.soql.ast import Query
from connector.emulator.soql.errors import SoqlError
from connector.emulator.soql.evaluate import execute, sobject_name
from connector.emulator.soql.parser import parse
from connector.emulator.soql.source import (
    ChildRelationship,
    DataSource,
    ListableDataSource,
    QueryResult,
    child_relationships,
)

__all__ = [
    "ChildRelationship",
    "DataSource",
    "ListableDataSource",
    "Query",
    "QueryResult",
    "SoqlError",
    "child_relationships",
    "execute",
    "parse",
    "sobject_name",
]
