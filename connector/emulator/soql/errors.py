"""SOQL errors rendered the way Salesforce renders them (query echo, caret, row and column)."""

from __future__ import annotations

from connector.emulator.errors import ApiError

__all__ = ["SoqlError", "located"]


class SoqlError(ApiError):
    """A query Salesforce would refuse: HTTP 400 with MALFORMED_QUERY, INVALID_FIELD, ..."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(400, code, message)


def located(text: str, pos: int, message: str) -> str:
    """Salesforce's message layout: the offending line, a caret, ``ERROR at Row:r:Column:c``."""
    pos = max(0, min(pos, len(text)))
    line_start = text.rfind("\n", 0, pos) + 1
    line_end = text.find("\n", pos)
    if line_end < 0:
        line_end = len(text)
    row = text.count("\n", 0, pos) + 1
    col = pos - line_start + 1
    line = text[line_start:line_end]
    caret = " " * (col - 1) + "^"
    return f"\n{line}\n{caret}\nERROR at Row:{row}:Column:{col}\n{message}"


def error_at(code: str, text: str, pos: int, message: str) -> SoqlError:
    """A :class:`SoqlError` whose message points at ``pos`` in ``text``."""
    return SoqlError(code, located(text, pos, message))
