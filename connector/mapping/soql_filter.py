"""Check an entity's ``filter`` is one SOQL WHERE condition, and nothing more.

The poller puts the filter inside ``WHERE (...) AND SystemModstamp >= ...``; text that closes
that parenthesis (``IsPartner = true) OR (IsPartner = false``) would widen every poll, and text
that is not a condition only fails at run time. So the filter is parsed here, with a small
grammar of the SOQL condition language: comparisons, LIKE, IN / NOT IN / INCLUDES / EXCLUDES
lists, AND / OR / NOT and parentheses; values are strings, numbers, true/false/null, dates,
datetimes and date literals (TODAY, LAST_N_DAYS:30 ...). Semi-joins are not accepted.
"""

from __future__ import annotations

import functools

from lark import Lark
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

__all__ = ["DATE_LITERALS", "DATE_N_LITERALS", "filter_problem"]

DATE_LITERALS = (
    "YESTERDAY", "TODAY", "TOMORROW", "LAST_WEEK", "THIS_WEEK", "NEXT_WEEK", "LAST_MONTH",
    "THIS_MONTH", "NEXT_MONTH", "LAST_90_DAYS", "NEXT_90_DAYS", "THIS_QUARTER", "LAST_QUARTER",
    "NEXT_QUARTER", "THIS_YEAR", "LAST_YEAR", "NEXT_YEAR", "THIS_FISCAL_QUARTER",
    "LAST_FISCAL_QUARTER", "NEXT_FISCAL_QUARTER", "THIS_FISCAL_YEAR", "LAST_FISCAL_YEAR",
    "NEXT_FISCAL_YEAR",
)
DATE_N_LITERALS = (
    "LAST_N_DAYS", "NEXT_N_DAYS", "N_DAYS_AGO", "LAST_N_WEEKS", "NEXT_N_WEEKS", "N_WEEKS_AGO",
    "LAST_N_MONTHS", "NEXT_N_MONTHS", "N_MONTHS_AGO", "LAST_N_QUARTERS", "NEXT_N_QUARTERS",
    "N_QUARTERS_AGO", "LAST_N_YEARS", "NEXT_N_YEARS", "N_YEARS_AGO", "LAST_N_FISCAL_QUARTERS",
    "NEXT_N_FISCAL_QUARTERS", "N_FISCAL_QUARTERS_AGO", "LAST_N_FISCAL_YEARS",
    "NEXT_N_FISCAL_YEARS", "N_FISCAL_YEARS_AGO",
)

# Longest names first so the regex alternation never stops at a prefix (LAST_N_DAYS vs LAST_...).
_DATE_RE = "|".join(sorted(DATE_LITERALS, key=len, reverse=True))
_DATE_N_RE = "|".join(sorted(DATE_N_LITERALS, key=len, reverse=True))

_GRAMMAR = rf"""
?start: or_cond
?or_cond: and_cond (OR and_cond)*
?and_cond: not_cond (AND not_cond)*
?not_cond: NOT not_cond | atom
?atom: "(" or_cond ")" | comparison
comparison: field COMPARE value
          | field LIKE value
          | field NOT? IN "(" value ("," value)* ")"
          | field INCLUDES "(" value ("," value)* ")"
          | field EXCLUDES "(" value ("," value)* ")"
field: NAME ("." NAME)*
?value: STRING | NUMBER | TRUE | FALSE | NULL | DATETIME | DATE | DATE_N_LITERAL | DATE_LITERAL

OR.2: /OR\b/i
AND.2: /AND\b/i
NOT.2: /NOT\b/i
IN.2: /IN\b/i
LIKE.2: /LIKE\b/i
INCLUDES.2: /INCLUDES\b/i
EXCLUDES.2: /EXCLUDES\b/i
TRUE.2: /TRUE\b/i
FALSE.2: /FALSE\b/i
NULL.2: /NULL\b/i
DATE_N_LITERAL.3: /({_DATE_N_RE}):\d+\b/i
DATE_LITERAL.2: /({_DATE_RE})\b/i
COMPARE: "=" | "!=" | "<>" | "<=" | ">=" | "<" | ">"
NAME: /[A-Za-z_][A-Za-z0-9_]*/
STRING: /'(?:[^'\\\n]|\\.)*'/
DATETIME.3: /\d{{4}}-\d{{2}}-\d{{2}}T\d{{2}}:\d{{2}}:\d{{2}}(\.\d+)?(Z|[+-]\d{{2}}:?\d{{2}})/
DATE.2: /\d{{4}}-\d{{2}}-\d{{2}}/
NUMBER: /[+-]?(\d+(\.\d*)?|\.\d+)/

%import common.WS
%ignore WS
"""


@functools.cache
def _parser() -> Lark:
    return Lark(_GRAMMAR, parser="lalr", lexer="contextual")


def _near(text: str, pos: int) -> str:
    if pos >= len(text):
        return "the end"
    return repr(text[pos : pos + 12].split(" ")[0] or text[pos])


def filter_problem(text: str) -> str | None:
    """Why ``text`` is not one SOQL WHERE condition (a sentence), or None when it is one."""
    stripped = text.strip()
    if not stripped:
        return "filter is empty; remove it or write a SOQL condition such as \"IsPartner = true\""
    if stripped.upper().startswith("WHERE "):
        return f"filter is a SOQL condition without WHERE, e.g. \"{stripped[6:].strip()}\""
    try:
        _parser().parse(stripped)
    except UnexpectedInput as err:
        return _explain(stripped, err)
    return None


def _explain(text: str, err: UnexpectedInput) -> str:
    depth = 0
    for i, ch in enumerate(text):
        # Parentheses inside string literals do not count; a quote toggles "inside".
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0 and not _in_string(text, i):
                return (f"filter closes a parenthesis it did not open (character {i + 1}); a "
                        "filter must be one condition, e.g. \"(A = 1 OR B = 2)\"")
    pos = getattr(err, "pos_in_stream", None)
    at_end = isinstance(err, UnexpectedToken) and err.token.type == "$END"
    if isinstance(err, UnexpectedEOF) or at_end or pos is None:
        return ("filter is not a complete SOQL condition (it ends too early; unbalanced "
                "parentheses or a missing value?)")
    if isinstance(err, UnexpectedCharacters | UnexpectedToken):
        return (f"filter is not a SOQL condition: unexpected {_near(text, pos)} at character "
                f"{pos + 1} (write one condition such as \"Status__c = 'Active' AND "
                "Amount > 0\")")
    return f"filter is not a SOQL condition (character {pos + 1})"


def _in_string(text: str, index: int) -> bool:
    quotes = 0
    i = 0
    while i < index:
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == "'":
            quotes += 1
        i += 1
    return quotes % 2 == 1
