"""Text without NUL, reversibly: how a PostgreSQL store holds text that contains one.

PostgreSQL refuses a NUL character in text (and in JSON). Sync stores such text escaped
(``sync/storable.py``): U+E000, a private-use character, doubles itself, and a NUL becomes
U+E000 followed by ``0``. Text with neither character is unchanged, so almost all text is
stored exactly as received. ``unescape_nul`` gives the original back (export, the customer
keys of the conflict check).
"""

from __future__ import annotations

__all__ = ["NUL_ESCAPE", "escape_nul", "unescape_nul"]

NUL_ESCAPE = "\ue000"


def escape_nul(text: str) -> str:
    """``text`` without NUL, reversibly: U+E000 -> U+E000 U+E000, NUL -> U+E000 ``0``."""
    if "\x00" not in text and NUL_ESCAPE not in text:
        return text
    return text.replace(NUL_ESCAPE, NUL_ESCAPE * 2).replace("\x00", NUL_ESCAPE + "0")


def unescape_nul(text: str) -> str:
    """The original of an ``escape_nul`` text."""
    if NUL_ESCAPE not in text:
        return text
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == NUL_ESCAPE and i + 1 < n:
            nxt = text[i + 1]
            out.append("\x00" if nxt == "0" else nxt)
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)
