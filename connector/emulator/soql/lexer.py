"""Tokens of SOQL: identifiers, string/number/date/datetime literals and punctuation."""

from __future__ import annotations

import re
from dataclasses import dataclass

from connector.emulator.soql.errors import error_at

__all__ = ["Token", "tokenize", "unescape"]

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2}(?![\w:]))
  | (?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?(?![A-Za-z_]))
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><=|>=|!=|<>|=|<|>|\(|\)|,|\.|:)
    """,
    re.VERBOSE,
)

_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "b": "\b",
    "f": "\f",
    '"': '"',
    "'": "'",
    "\\": "\\",
}


@dataclass(frozen=True)
class Token:
    kind: str  # ident string number date datetime op eof
    text: str
    pos: int

    @property
    def upper(self) -> str:
        return self.text.upper()


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens (whitespace dropped), ending with an ``eof`` token."""
    tokens: list[Token] = []
    pos = 0
    size = len(text)
    while pos < size:
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            bad = text[pos]
            message = (
                f"line 1:{pos} no viable alternative at character '{bad}'"
                if bad != "'"
                else f"unexpected token: '{text[pos:]}'"
            )
            raise error_at("MALFORMED_QUERY", text, pos, message)
        kind = m.lastgroup or ""
        if kind != "ws":
            tokens.append(Token(kind, m.group(), pos))
        pos = m.end()
    tokens.append(Token("eof", "<EOF>", size))
    return tokens


def unescape(body: str, *, like: bool, text: str, pos: int) -> str:
    """Decode a string literal's escapes; in LIKE patterns ``\\%`` and ``\\_`` stay escaped."""
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1] if i + 1 < len(body) else ""
        if nxt in _ESCAPES:
            out.append("\\\\" if like and nxt == "\\" else _ESCAPES[nxt])
            i += 2
        elif nxt in ("%", "_"):
            out.append("\\" + nxt if like else nxt)
            i += 2
        elif nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", body[i + 2 : i + 6]):
            out.append(chr(int(body[i + 2 : i + 6], 16)))
            i += 6
        else:
            raise error_at(
                "MALFORMED_QUERY",
                text,
                pos,
                f"Invalid string literal '{body}'. Illegal character sequence '\\{nxt}' in "
                "string literal.",
            )
    return "".join(out)
