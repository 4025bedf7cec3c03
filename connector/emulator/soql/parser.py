"""Recursive-descent parser from SOQL text to :mod:`connector.emulator.soql.ast`."""

from __future__ import annotations

from functools import lru_cache

from connector.emulator.soql import ast
from connector.emulator.soql.dates import FIXED_LITERALS, N_LITERALS, date_literal, datetime_literal
from connector.emulator.soql.errors import SoqlError, error_at
from connector.emulator.soql.lexer import Token, tokenize, unescape

__all__ = ["parse"]

AGGREGATES = frozenset({"COUNT", "COUNT_DISTINCT", "SUM", "MIN", "MAX", "AVG"})
# Words that end a select item or the FROM object, so they can't be aliases.
RESERVED = frozenset(
    {
        "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "GROUP", "HAVING", "ORDER", "BY",
        "LIMIT", "OFFSET", "FOR", "WITH", "USING", "LIKE", "IN", "INCLUDES", "EXCLUDES",
        "ASC", "DESC", "NULLS", "NULL", "TRUE", "FALSE", "UPDATE", "VIEW", "REFERENCE",
    }
)  # fmt: skip
_COMPARE_OPS = frozenset({"=", "!=", "<>", "<", "<=", ">", ">="})
MAX_OFFSET = 2000


@lru_cache(maxsize=512)
def parse(text: str) -> ast.Query:
    """Parse one SOQL statement (syntax only; names are checked by ``execute``)."""
    parser = _Parser(text)
    query = parser.query()
    parser.expect_eof()
    return query


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    # -- token helpers -------------------------------------------------------------------
    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind != "eof":
            self.i += 1
        return tok

    def unexpected(self, tok: Token | None = None) -> SoqlError:
        tok = tok or self.peek()
        return error_at("MALFORMED_QUERY", self.text, tok.pos, f"unexpected token: '{tok.text}'")

    def is_kw(self, word: str, ahead: int = 0) -> bool:
        tok = self.peek(ahead)
        return tok.kind == "ident" and tok.upper == word

    def accept_kw(self, word: str) -> bool:
        if self.is_kw(word):
            self.i += 1
            return True
        return False

    def expect_kw(self, word: str) -> Token:
        if not self.is_kw(word):
            raise self.unexpected()
        return self.advance()

    def is_op(self, op: str, ahead: int = 0) -> bool:
        tok = self.peek(ahead)
        return tok.kind == "op" and tok.text == op

    def expect_op(self, op: str) -> Token:
        if not self.is_op(op):
            raise self.unexpected()
        return self.advance()

    def expect_eof(self) -> None:
        if self.peek().kind != "eof":
            raise self.unexpected()

    def ident(self) -> Token:
        tok = self.peek()
        if tok.kind != "ident":
            raise self.unexpected()
        return self.advance()

    def integer(self) -> tuple[int, int]:
        tok = self.peek()
        if tok.kind != "number" or not tok.text.isdigit():
            raise self.unexpected()
        self.advance()
        return int(tok.text), tok.pos

    # -- statement -----------------------------------------------------------------------
    def query(self) -> ast.Query:
        self.expect_kw("SELECT")
        select = self.select_list()
        self.expect_kw("FROM")
        obj = self.ident()
        alias = None
        if self.peek().kind == "ident" and self.peek().upper not in RESERVED:
            alias = self.advance().text
        if self.accept_kw("USING"):
            self.expect_kw("SCOPE")
            self.ident()
        where = self.condition(having=False) if self.accept_kw("WHERE") else None
        if self.accept_kw("WITH"):
            self.expect_kw("SECURITY_ENFORCED")
        group_by: tuple[ast.FieldRef, ...] = ()
        having = None
        if self.accept_kw("GROUP"):
            self.expect_kw("BY")
            refs = [self.field_ref()]
            while self.is_op(","):
                self.advance()
                refs.append(self.field_ref())
            group_by = tuple(refs)
            if self.accept_kw("HAVING"):
                having = self.condition(having=True)
        order_by: tuple[ast.OrderItem, ...] = ()
        if self.accept_kw("ORDER"):
            self.expect_kw("BY")
            items = [self.order_item()]
            while self.is_op(","):
                self.advance()
                items.append(self.order_item())
            order_by = tuple(items)
        limit = offset = None
        limit_pos = offset_pos = 0
        if self.accept_kw("LIMIT"):
            limit, limit_pos = self.integer()
        if self.accept_kw("OFFSET"):
            offset, offset_pos = self.integer()
            if offset > MAX_OFFSET:
                raise SoqlError(
                    "NUMBER_OUTSIDE_VALID_RANGE",
                    f"Maximum SOQL offset allowed is {MAX_OFFSET}",
                )
        for_clause: list[str] = []
        while self.accept_kw("FOR"):
            tok = self.ident()
            if tok.upper not in ("VIEW", "REFERENCE", "UPDATE"):
                raise self.unexpected(tok)
            for_clause.append(tok.upper)
        return ast.Query(
            text=self.text,
            select=select,
            sobject=obj.text,
            sobject_pos=obj.pos,
            alias=alias,
            where=where,
            group_by=group_by,
            having=having,
            order_by=order_by,
            limit=limit,
            offset=offset,
            offset_pos=offset_pos,
            limit_pos=limit_pos,
            for_clause=tuple(for_clause),
        )

    def select_list(self) -> tuple[ast.SelectItem, ...]:
        items = [self.select_item()]
        while self.is_op(","):
            self.advance()
            items.append(self.select_item())
        return tuple(items)

    def select_item(self) -> ast.SelectItem:
        tok = self.peek()
        if self.is_op("("):
            self.advance()
            if not self.is_kw("SELECT"):
                raise self.unexpected()
            sub = self.query()
            self.expect_op(")")
            return ast.SubQuery(sub, tok.pos)
        if tok.kind == "ident" and self.is_op("(", 1):
            if tok.upper == "FIELDS":
                self.advance()
                self.advance()
                kind = self.ident()
                if kind.upper not in ("ALL", "STANDARD", "CUSTOM"):
                    raise self.unexpected(kind)
                self.expect_op(")")
                return ast.FieldsMacro(kind.upper, tok.pos)
            agg = self.aggregate()
            return ast.Aggregate(agg.func, agg.field, agg.pos, self.alias())
        ref = self.field_ref()
        alias = self.alias()
        return ast.FieldRef(ref.path, ref.pos, alias) if alias else ref

    def alias(self) -> str | None:
        tok = self.peek()
        if tok.kind == "ident" and tok.upper not in RESERVED:
            self.advance()
            return tok.text
        return None

    def aggregate(self) -> ast.Aggregate:
        tok = self.ident()
        if tok.upper not in AGGREGATES:
            raise error_at("MALFORMED_QUERY", self.text, tok.pos, f"unknown function: '{tok.text}'")
        self.expect_op("(")
        field = None
        if tok.upper == "COUNT" and self.is_op(")"):
            pass
        else:
            field = self.field_ref()
        self.expect_op(")")
        return ast.Aggregate(tok.upper, field, tok.pos)

    def field_ref(self) -> ast.FieldRef:
        first = self.ident()
        if first.upper in RESERVED:
            raise self.unexpected(first)
        path = [first.text]
        while self.is_op("."):
            self.advance()
            path.append(self.ident().text)
        return ast.FieldRef(tuple(path), first.pos)

    def order_item(self) -> ast.OrderItem:
        expr: ast.FieldRef | ast.Aggregate
        if self.peek().kind == "ident" and self.is_op("(", 1):
            expr = self.aggregate()
        else:
            expr = self.field_ref()
        descending = False
        if self.accept_kw("DESC"):
            descending = True
        else:
            self.accept_kw("ASC")
        nulls_first = None
        if self.accept_kw("NULLS"):
            if self.accept_kw("FIRST"):
                nulls_first = True
            else:
                self.expect_kw("LAST")
                nulls_first = False
        return ast.OrderItem(expr, descending, nulls_first)

    # -- conditions ----------------------------------------------------------------------
    def condition(self, *, having: bool) -> ast.Condition:
        items = [self.conjunction(having)]
        while self.accept_kw("OR"):
            items.append(self.conjunction(having))
        return items[0] if len(items) == 1 else ast.Or(tuple(items))

    def conjunction(self, having: bool) -> ast.Condition:
        items = [self.negation(having)]
        while self.accept_kw("AND"):
            items.append(self.negation(having))
        return items[0] if len(items) == 1 else ast.And(tuple(items))

    def negation(self, having: bool) -> ast.Condition:
        if self.accept_kw("NOT"):
            return ast.Not(self.negation(having))
        if self.is_op("("):
            self.advance()
            inner = self.condition(having=having)
            self.expect_op(")")
            return inner
        return self.predicate(having)

    def predicate(self, having: bool) -> ast.Condition:
        lhs: ast.FieldRef | ast.Aggregate
        start = self.peek()
        if having and start.kind == "ident" and self.is_op("(", 1):
            lhs = self.aggregate()
        else:
            lhs = self.field_ref()
        tok = self.peek()
        if tok.kind == "op" and tok.text in _COMPARE_OPS:
            self.advance()
            op = "!=" if tok.text == "<>" else tok.text
            return ast.Comparison(lhs, op, self.value(), start.pos)
        word = tok.upper if tok.kind == "ident" else ""
        if word == "LIKE":
            self.advance()
            return ast.Comparison(lhs, "LIKE", self.value(like=True), start.pos)
        negate = False
        if word == "NOT" and self.is_kw("IN", 1):
            self.advance()
            negate = True
            word = "IN"
        if word == "IN":
            self.advance()
            self.expect_op("(")
            if self.is_kw("SELECT"):
                if not isinstance(lhs, ast.FieldRef):
                    raise self.unexpected()
                sub = self.query()
                self.expect_op(")")
                return ast.InSubquery(lhs, negate, sub, start.pos)
            values = self.value_list()
            return ast.InList(lhs, negate, values, start.pos)
        if word in ("INCLUDES", "EXCLUDES") and isinstance(lhs, ast.FieldRef):
            self.advance()
            self.expect_op("(")
            return ast.Includes(lhs, word == "EXCLUDES", self.value_list(), start.pos)
        raise self.unexpected()

    def value_list(self) -> tuple[ast.Literal, ...]:
        values = [self.value()]
        while self.is_op(","):
            self.advance()
            values.append(self.value())
        self.expect_op(")")
        return tuple(values)

    def value(self, *, like: bool = False) -> ast.Literal:
        tok = self.advance()
        if tok.kind == "string":
            body = unescape(tok.text[1:-1], like=like, text=self.text, pos=tok.pos)
            return ast.Literal("string", body, tok.pos)
        if tok.kind == "number":
            text = tok.text
            number: int | float = int(text) if text.lstrip("+-").isdigit() else float(text)
            return ast.Literal("number", number, tok.pos)
        if tok.kind == "date":
            day = date_literal(tok.text)
            if day is None:
                raise error_at("MALFORMED_QUERY", self.text, tok.pos, f"Invalid date: {tok.text}")
            return ast.Literal("date", day, tok.pos)
        if tok.kind == "datetime":
            instant = datetime_literal(tok.text)
            if instant is None:
                raise error_at(
                    "MALFORMED_QUERY", self.text, tok.pos, f"Invalid datetime: {tok.text}"
                )
            return ast.Literal("datetime", instant, tok.pos)
        if tok.kind == "ident":
            word = tok.upper
            if word in ("TRUE", "FALSE"):
                return ast.Literal("boolean", word == "TRUE", tok.pos)
            if word == "NULL":
                return ast.Literal("null", None, tok.pos)
            if word in FIXED_LITERALS:
                return ast.Literal("relative", (word, None), tok.pos)
            if word in N_LITERALS:
                if not self.is_op(":"):
                    raise self.unexpected()
                self.advance()
                n, _ = self.integer()
                return ast.Literal("relative", (word, n), tok.pos)
        raise self.unexpected(tok)
