"""Fold an emulator call log into the distinct calls a client made, with their outcomes."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["fold"]

# Record ids (15/18 chars, a 3-char key prefix then digits/letters), job and batch ids.
_ID = re.compile(r"(?<=/)[a-zA-Z0-9]{3}[0-9][a-zA-Z0-9]{11}(?:[a-zA-Z0-9]{3})?(?=/|$)")
_VERSION = re.compile(r"/v?\d+\.\d+(?=/|$)")


def fold(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``[{"method", "path", "statuses": {status: n}}]`` in first-seen order; ids and API
    versions are folded (``{id}``, ``/vXX.X``) so the list is about kinds of calls."""
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for call in calls:
        path = _VERSION.sub("/vXX.X", _ID.sub("{id}", str(call["path"])))
        key = (str(call["method"]), path)
        entry = seen.setdefault(key, {"method": key[0], "path": path, "statuses": {}})
        status = str(call["status"])
        entry["statuses"][status] = entry["statuses"].get(status, 0) + 1
    return list(seen.values())
