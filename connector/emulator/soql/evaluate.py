"""``execute``: filter, sort, page and shape rows as the REST query resource returns them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connector.emulator.schema import ObjectDef
from connector.emulator.soql import ast
from connector.emulator.soql.resolve import Context, Getter, Path, Row
from connector.emulator.soql.source import DataSource, QueryResult, child_relationships
from connector.emulator.soql.where import (
    ID_TYPES,
    NUMBER_TYPES,
    TEXT_TYPES,
    Operand,
    Predicate,
    compile_condition,
    normaliser,
)

__all__ = ["execute", "sobject_name"]

FIELDS_LIMIT = 200
_NO_CHILD = (
    "Didn't understand relationship '{name}' in FROM part of query call. If you are "
    "attempting to use a custom relationship, be sure to append the '__r' after the custom "
    "relationship name. Please reference your WSDL or the describe call for the appropriate "
    "names."
)
Render = Callable[[Row], dict[str, Any]]


def sobject_name(query: ast.Query) -> str:
    """The FROM object as written in the query."""
    return query.sobject


def execute(
    query: ast.Query,
    source: DataSource,
    *,
    now: datetime,
    api_version: str = "62.0",
    include_deleted: bool = False,
) -> QueryResult:
    """Run a parsed query against ``source`` at the instant ``now``."""
    ctx = Context(source, query.text, now, api_version, include_deleted)
    return _Executor(ctx, query).run()


def _page(rows: list[Any], query: ast.Query) -> list[Any]:
    start = query.offset or 0
    end = None if query.limit is None else start + query.limit
    return rows[start:end] if start or end is not None else rows


def _sort(rows: list[Any], specs: list[tuple[Getter, bool, bool | None]]) -> None:
    """Stable multi-key sort; nulls first on ASC and last on DESC unless told otherwise."""
    for get, desc, nulls_first in reversed(specs):
        first = (not desc) if nulls_first is None else nulls_first
        # With reverse=True the larger rank comes first, so flip the null rank.
        null_rank = (0 if first else 1) if not desc else (1 if first else 0)
        other = 1 - null_rank

        def key(row: Any, get: Getter = get, null_rank: int = null_rank, other: int = other) -> Any:
            v = get(row)
            return (null_rank, 0) if v is None else (other, v)

        rows.sort(key=key, reverse=desc)


def _sort_getter(get: Getter, ftype: str) -> Getter:
    norm = normaliser(ftype)
    if norm is None or ftype in ID_TYPES:
        return get
    return lambda row: norm(get(row))


def _item(key: str) -> Getter:
    """``row.get(key)`` as a function."""

    def get(row: Row) -> Any:
        return row.get(key)

    return get


def _child_getter(run: Callable[[Any], dict[str, Any] | None]) -> Getter:
    def get(row: Row) -> Any:
        return run(row.get("Id"))

    return get


@dataclass
class _Rel:
    ref: str
    target: str
    polymorphic: bool
    node: _Node


@dataclass
class _Child:
    run: Callable[[Any], dict[str, Any] | None]


@dataclass
class _Node:
    entries: dict[str, str | _Rel | _Child] = field(default_factory=dict)  # str: a field name


class _Executor:
    def __init__(self, ctx: Context, query: ast.Query) -> None:
        self.ctx = ctx
        self.query = query
        self.obj = ctx.obj(query.sobject, query.sobject_pos)

    # -- shared pieces -------------------------------------------------------------------
    def resolve(self, ref: ast.FieldRef) -> Path:
        return self.ctx.resolve(self.obj, ref, self.query.alias)

    def field_operand(self, expr: ast.FieldRef | ast.Aggregate) -> Operand:
        if isinstance(expr, ast.Aggregate):
            raise self.ctx.error(
                "MALFORMED_QUERY", expr.pos, "Aggregate functions are not allowed in WHERE"
            )
        path = self.resolve(expr)
        return Operand(path.getter, path.field.type, path.field.name, expr.pos)

    def semijoin(self, cond: ast.InSubquery, operand: Operand) -> set[Any]:
        inner = _Executor(self.ctx, cond.query)
        items = cond.query.select
        if len(items) != 1 or not isinstance(items[0], ast.FieldRef):
            raise self.ctx.error(
                "MALFORMED_QUERY",
                cond.query.sobject_pos,
                "semi join sub-selects must select exactly one field",
            )
        path = inner.resolve(items[0])
        if (operand.type in ID_TYPES) != (path.field.type in ID_TYPES):
            raise self.ctx.error(
                "INVALID_FIELD",
                cond.pos,
                f"The selected field '{path.field.name}' in the subquery and the left operand "
                f"field '{operand.name}' in the where expression in the outer query must "
                "point to the same object.",
            )
        norm = normaliser(operand.type) or (lambda v: v)
        rows = _page(inner.filtered(), cond.query)
        return {norm(v) for v in map(path.getter, rows) if v is not None}

    def filtered(self) -> list[Row]:
        """Rows of the FROM object passing WHERE (and not deleted unless queryAll)."""
        where: Predicate | None = None
        if self.query.where is not None:
            where = compile_condition(self.ctx, self.query.where, self.field_operand, self.semijoin)
        rows: Iterable[Row] = self.ctx.source.records(self.obj.name, self.ctx.include_deleted)
        if not self.ctx.include_deleted:
            if where is None:
                return [r for r in rows if not r.get("IsDeleted")]
            return [r for r in rows if not r.get("IsDeleted") and where(r)]
        return list(rows) if where is None else [r for r in rows if where(r)]

    # -- entry point ---------------------------------------------------------------------
    def run(self) -> QueryResult:
        q = self.query
        aggregates = [i for i in q.select if isinstance(i, ast.Aggregate)]
        if any(a.func == "COUNT" and a.field is None for a in aggregates):
            return self.count()
        if aggregates or q.group_by:
            records = self.aggregate()
            return QueryResult(records, len(records), True)
        render = self.plan(self.obj, q)
        rows = self.filtered()
        self.order(rows, q, self.obj)
        records = [render(r) for r in _page(rows, q)]
        return QueryResult(records, len(records), False)

    def count(self) -> QueryResult:
        q = self.query
        if len(q.select) != 1:
            item = next(i for i in q.select if isinstance(i, ast.Aggregate) and i.field is None)
            raise self.ctx.error(
                "MALFORMED_QUERY",
                item.pos,
                "COUNT() must be the only element in the SELECT list.",
            )
        if q.group_by:
            raise self.ctx.error(
                "MALFORMED_QUERY",
                q.group_by[0].pos,
                "GROUP BY can't be used with COUNT(); use COUNT(fieldName) instead",
            )
        total = len(_page(self.filtered(), q))
        return QueryResult([], total, True)

    # -- plain queries -------------------------------------------------------------------
    def order(self, rows: list[Row], q: ast.Query, obj: ObjectDef) -> None:
        specs: list[tuple[Getter, bool, bool | None]] = []
        for item in q.order_by:
            if isinstance(item.expr, ast.Aggregate):
                raise self.ctx.error(
                    "MALFORMED_QUERY",
                    item.expr.pos,
                    "Ordered field must be grouped or aggregated",
                )
            path = self.ctx.resolve(obj, item.expr, q.alias)
            specs.append(
                (_sort_getter(path.getter, path.field.type), item.descending, item.nulls_first)
            )
        if specs:
            _sort(rows, specs)

    def plan(self, obj: ObjectDef, q: ast.Query) -> Render:
        """Check the SELECT list and build the function that shapes one row."""
        root = _Node()
        for item in q.select:
            if isinstance(item, ast.FieldRef):
                if item.alias is not None:
                    raise self.ctx.error(
                        "MALFORMED_QUERY", item.pos, f"unexpected token: '{item.alias}'"
                    )
                self.add_path(root, self.ctx.resolve(obj, item, q.alias), item.pos)
            elif isinstance(item, ast.FieldsMacro):
                if item.kind != "STANDARD" and (q.limit is None or q.limit > FIELDS_LIMIT):
                    raise self.ctx.error(
                        "MALFORMED_QUERY",
                        item.pos,
                        f"The SOQL FIELDS function must have a LIMIT of at most {FIELDS_LIMIT}",
                    )
                for fdef in obj.fields.values():
                    if item.kind == "ALL" or fdef.custom == (item.kind == "CUSTOM"):
                        root.entries.setdefault(fdef.name, fdef.name)
            elif isinstance(item, ast.SubQuery):
                name, child = self.child(obj, item)
                if name.lower() in (k.lower() for k in root.entries):
                    raise self.ctx.error(
                        "MALFORMED_QUERY", item.pos, f"duplicate field selected: {name}"
                    )
                root.entries[name] = child
            else:  # an aggregate in a plain query is handled by run()
                raise self.ctx.error("MALFORMED_QUERY", item.pos, "unexpected aggregate")
        return self.compile_node(root, obj.name, False)

    def add_path(self, root: _Node, path: Path, pos: int) -> None:
        node = root
        for ref, target in zip(path.refs, path.targets, strict=True):
            key = ref.relationship_name or ref.name
            entry = node.entries.get(key)
            if not isinstance(entry, _Rel):
                entry = _Rel(ref.name, target, len(ref.reference_to) > 1, _Node())
                node.entries[key] = entry
            node = entry.node
        if path.field.name in node.entries:
            raise self.ctx.error(
                "MALFORMED_QUERY", pos, f"duplicate field selected: {path.field.name}"
            )
        node.entries[path.field.name] = path.field.name

    def compile_node(self, node: _Node, sobject: str, polymorphic: bool) -> Render:
        ctx = self.ctx
        parts: list[tuple[str, Callable[[Row], Any]]] = []
        for key, entry in node.entries.items():
            if isinstance(entry, str):
                parts.append((key, _item(entry)))
            elif isinstance(entry, _Rel):
                sub = self.compile_node(entry.node, entry.target, entry.polymorphic)

                def related(row: Row, ref: str = entry.ref, sub: Render = sub) -> Any:
                    rid = row.get(ref)
                    parent = ctx.parent(rid) if rid is not None else None
                    return None if parent is None else sub(parent)

                parts.append((key, related))
            else:
                parts.append((key, _child_getter(entry.run)))
        prefix = f"/services/data/v{ctx.api_version}/sobjects/"
        source = ctx.source

        def render(row: Row) -> dict[str, Any]:
            rid = row.get("Id")
            kind = (source.sobject_of(rid) or sobject) if polymorphic and rid else sobject
            out: dict[str, Any] = {"attributes": {"type": kind, "url": f"{prefix}{kind}/{rid}"}}
            for key, get in parts:
                out[key] = get(row)
            return out

        return render

    def child(self, obj: ObjectDef, item: ast.SubQuery) -> tuple[str, _Child]:
        sub = item.query
        rel = child_relationships(self.ctx.source, obj.name).get(sub.sobject.lower())
        if rel is None:
            raise self.ctx.error(
                "INVALID_TYPE", sub.sobject_pos, _NO_CHILD.format(name=sub.sobject)
            )
        inner = _Executor.__new__(_Executor)
        inner.ctx, inner.query = self.ctx, sub
        inner.obj = self.ctx.obj(rel.child_object, sub.sobject_pos)
        for sel in sub.select:
            if isinstance(sel, ast.SubQuery | ast.Aggregate):
                raise self.ctx.error(
                    "MALFORMED_QUERY",
                    sel.pos,
                    "nested queries and aggregates are not supported in child subqueries",
                )
        render = inner.plan(inner.obj, sub)
        rows = inner.filtered()
        inner.order(rows, sub, inner.obj)
        groups: dict[Any, list[Row]] = {}
        for row in rows:
            parent_id = row.get(rel.field)
            if parent_id is not None:
                groups.setdefault(parent_id, []).append(row)

        def run(parent_id: Any) -> dict[str, Any] | None:
            found = _page(groups.get(parent_id, []), sub)
            if not found:
                return None
            return {"totalSize": len(found), "done": True, "records": [render(r) for r in found]}

        return rel.name, _Child(run)

    # -- aggregate queries ---------------------------------------------------------------
    def aggregate(self) -> list[dict[str, Any]]:
        return _Aggregation(self).run()


_AGG_TYPES: dict[str, frozenset[str] | None] = {
    "COUNT": None,
    "COUNT_DISTINCT": None,
    "SUM": NUMBER_TYPES,
    "AVG": NUMBER_TYPES,
    "MIN": NUMBER_TYPES | TEXT_TYPES | ID_TYPES | {"date", "datetime"},
    "MAX": NUMBER_TYPES | TEXT_TYPES | ID_TYPES | {"date", "datetime"},
}


class _Aggregation:
    """GROUP BY / aggregate functions: rows become groups keyed by normalised values."""

    def __init__(self, ex: _Executor) -> None:
        self.ex = ex
        self.ctx = ex.ctx
        self.query = ex.query
        self.group_paths = [ex.resolve(g) for g in self.query.group_by]
        self.group_keys = {p.key: i for i, p in enumerate(self.group_paths)}
        self.aggs: dict[str, tuple[str, Path | None]] = {}

    def agg_key(self, agg: ast.Aggregate) -> tuple[str, str]:
        """Register ``agg``; returns its internal key and result type."""
        path = self.ex.resolve(agg.field) if agg.field is not None else None
        if agg.func == "COUNT" and path is None:
            raise self.ctx.error(
                "MALFORMED_QUERY", agg.pos, "COUNT() must be the only element in the SELECT list."
            )
        allowed = _AGG_TYPES[agg.func]
        if path is not None and allowed is not None and path.field.type not in allowed:
            raise self.ctx.error(
                "MALFORMED_QUERY",
                agg.pos,
                f"field {path.field.name} does not support aggregate operator {agg.func}",
            )
        key = f"a:{agg.func}:{'.'.join(path.key) if path else ''}"
        self.aggs[key] = (agg.func, path)
        if agg.func in ("COUNT", "COUNT_DISTINCT"):
            return key, "int"
        if agg.func in ("SUM", "AVG"):
            return key, "double"
        return key, path.field.type if path else "int"

    def group_key(self, ref: ast.FieldRef, message: str) -> tuple[str, Path]:
        path = self.ex.resolve(ref)
        index = self.group_keys.get(path.key)
        if index is None:
            raise self.ctx.error("MALFORMED_QUERY", ref.pos, f"{message}: {path.field.name}")
        return f"g:{index}", path

    def operand(self, expr: ast.FieldRef | ast.Aggregate) -> Operand:
        if isinstance(expr, ast.Aggregate):
            key, ftype = self.agg_key(expr)
            name = expr.field.path[-1] if expr.field else ""
            return Operand(_item(key), ftype, f"{expr.func}({name})", expr.pos)
        key, path = self.group_key(expr, "Field must be grouped or aggregated")
        return Operand(_item(key), path.field.type, path.field.name, expr.pos)

    def run(self) -> list[dict[str, Any]]:
        q = self.query
        # Output columns, in SELECT order.
        columns: list[tuple[str, str]] = []
        expr_index = 0
        for item in q.select:
            if isinstance(item, ast.Aggregate):
                key, _ = self.agg_key(item)
                name = item.alias or f"expr{expr_index}"
                if item.alias is None:
                    expr_index += 1
            elif isinstance(item, ast.FieldRef):
                key, path = self.group_key(item, "Field must be grouped or aggregated")
                name = item.alias or path.field.name
            else:
                raise self.ctx.error(
                    "MALFORMED_QUERY",
                    item.pos,
                    "Field must be grouped or aggregated",
                )
            if any(name.lower() == c[0].lower() for c in columns):
                raise self.ctx.error("MALFORMED_QUERY", item.pos, f"duplicate alias: {name}")
            columns.append((name, key))
        having = (
            compile_condition(self.ctx, q.having, self.operand, self.ex.semijoin)
            if q.having is not None
            else None
        )
        specs: list[tuple[Getter, bool, bool | None]] = []
        for order in q.order_by:
            if isinstance(order.expr, ast.FieldRef):
                key, path = self.group_key(
                    order.expr, "Ordered field must be grouped or aggregated"
                )
                ftype = path.field.type
            else:
                key, ftype = self.agg_key(order.expr)
            specs.append((_sort_getter(_item(key), ftype), order.descending, order.nulls_first))
        groups = self.groups(self.ex.filtered())
        if having is not None:
            groups = [g for g in groups if having(g)]
        if specs:
            _sort(groups, specs)
        return [
            {"attributes": {"type": "AggregateResult"}, **{name: g[key] for name, key in columns}}
            for g in _page(groups, q)
        ]

    def groups(self, rows: list[Row]) -> list[Row]:
        getters = [p.getter for p in self.group_paths]
        norms = [normaliser(p.field.type) or (lambda v: v) for p in self.group_paths]
        buckets: dict[tuple[Any, ...], tuple[list[Any], list[Row]]] = {}
        for row in rows:
            values = [get(row) for get in getters]
            bucket_key = tuple(n(v) for n, v in zip(norms, values, strict=True))
            bucket = buckets.get(bucket_key)
            if bucket is None:
                buckets[bucket_key] = (values, [row])
            else:
                bucket[1].append(row)
        if not self.group_paths and not buckets:
            buckets[()] = ([], [])
        out: list[Row] = []
        for values, members in buckets.values():
            group: Row = {f"g:{i}": v for i, v in enumerate(values)}
            for key, (func, path) in self.aggs.items():
                group[key] = _compute(func, path, members)
            out.append(group)
        return out


def _compute(func: str, path: Path | None, rows: list[Row]) -> Any:
    if path is None:
        return len(rows)
    values = [v for v in map(path.getter, rows) if v is not None]
    norm = normaliser(path.field.type)
    if func == "COUNT":
        return len(values)
    if func == "COUNT_DISTINCT":
        return len({norm(v) for v in values} if norm else set(values))
    if not values:
        return None
    if func == "SUM":
        total = sum(values)
        return total if path.field.type == "int" else float(total)
    if func == "AVG":
        return sum(values) / len(values)
    pick = min if func == "MIN" else max
    return pick(values, key=norm) if norm else pick(values)
