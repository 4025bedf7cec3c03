"""The org's state on disk under ``--state-dir``: JSON data, never pickle, sealed against edits.

``org.json`` holds ``{"format", "version", "organization_id", "saved_at", "data", "seal"}``.
``seal`` is an HMAC-SHA256 of the rest, keyed by ``state.key`` (32 random bytes written with
the first save). Both files are written 0600 (temp file + rename). Loading refuses, with one
clear line, a file that is not JSON, another program's file, another org's, a newer format,
or one whose seal does not match (edited by hand, or copied from another state dir).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from connector.emulator.org import Org

__all__ = ["FORMAT", "KEY_FILE", "STATE_FILE", "VERSION", "StateError", "org_snapshot",
           "read_state", "restore_org", "write_state"]

FORMAT = "prm-connector emulator state"
VERSION = 1
STATE_FILE = "org.json"
KEY_FILE = "state.key"


class StateError(ValueError):
    """A state file the emulator will not load; the message says which file and why."""


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, readable by its owner only."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    tmp.chmod(0o600)
    tmp.replace(path)


def _key(directory: Path, *, create: bool) -> bytes | None:
    path = directory / KEY_FILE
    if path.exists():
        return path.read_bytes()
    if not create:
        return None
    key = secrets.token_bytes(32)
    _write_private(path, key)
    return key


def _seal(key: bytes, envelope: dict[str, Any]) -> str:
    body = orjson.dumps({k: v for k, v in envelope.items() if k != "seal"},
                        option=orjson.OPT_SORT_KEYS)
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def write_state(directory: Path, organization_id: str, saved_at: str,
                data: dict[str, Any]) -> Path:
    """Seal ``data`` and write it to ``directory/org.json`` (0600); returns the path."""
    directory.mkdir(parents=True, exist_ok=True)
    key = _key(directory, create=True)
    assert key is not None
    envelope: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "organization_id": organization_id,
        "saved_at": saved_at,
        "data": data,
    }
    envelope["seal"] = _seal(key, envelope)
    path = directory / STATE_FILE
    _write_private(path, orjson.dumps(envelope))
    return path


def read_state(directory: Path, organization_id: str) -> dict[str, Any] | None:
    """The data saved in ``directory``; None when nothing was saved; StateError if refused."""
    path = directory / STATE_FILE
    if not path.exists():
        if (directory / "org.pickle").exists():
            raise StateError(
                f"{directory / 'org.pickle'}: an old pickled state, which is never loaded "
                "(it could run code); remove it to start afresh"
            )
        return None
    try:
        envelope = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError:
        raise StateError(f"{path}: not an emulator state file (not JSON)") from None
    if not isinstance(envelope, dict) or envelope.get("format") != FORMAT:
        raise StateError(f"{path}: not an emulator state file")
    if envelope.get("version") != VERSION:
        raise StateError(
            f"{path}: state format version {envelope.get('version')!r}; this emulator reads "
            f"version {VERSION}"
        )
    if envelope.get("organization_id") != organization_id:
        raise StateError(f"{path}: the state of another org ({envelope.get('organization_id')})")
    key = _key(directory, create=False)
    seal = envelope.get("seal")
    if key is None or not isinstance(seal, str) or not hmac.compare_digest(
        seal, _seal(key, envelope)
    ):
        raise StateError(
            f"{path}: the seal does not match {directory / KEY_FILE} (edited, or copied from "
            "another state dir); refusing to load it"
        )
    data = envelope.get("data")
    if not isinstance(data, dict):
        raise StateError(f"{path}: no data")
    return data


def org_snapshot(org: Org) -> dict[str, Any]:
    """The org's state as JSON data (a deep copy: take it under the org's lock)."""
    data = {
        "store": org.store,
        "where": org.where,
        "deleted_log": [list(entry) for entry in org.deleted_log],
        "purged_at": org.purged_at,
        "created_at": org.created_at,
        "counters": dict(org.counters),
        "api_used": org.api_used,
        "by_endpoint": dict(org.by_endpoint),
        "users": {k: asdict(u) for k, u in org.users.items()},
        "sessions": {t: list(v) for t, v in org.sessions.items()},
        "last_stamp": org._last_stamp,
        "revoked_refresh_tokens": sorted(org.revoked_refresh_tokens),
    }
    copied: dict[str, Any] = orjson.loads(orjson.dumps(data))
    return copied


def restore_org(org: Org, data: dict[str, Any], where: str) -> None:
    """Put ``data`` (from ``org_snapshot``) back into ``org``; StateError when incomplete."""
    from connector.emulator.sessions import UserInfo

    try:
        org.store = {name: dict(data["store"].get(name, {})) for name in org.schema}
        org.where = dict(data["where"])
        org.deleted_log = [(str(a), str(b), str(c)) for a, b, c in data["deleted_log"]]
        org.purged_at = dict(data["purged_at"])
        org.created_at = str(data["created_at"])
        org.counters = Counter({str(k): int(v) for k, v in data["counters"].items()})
        org.api_used = int(data["api_used"])
        org.by_endpoint = Counter(data["by_endpoint"])
        org.users = {k: UserInfo(**u) for k, u in data["users"].items()}
        org.sessions = {t: (str(u), float(e)) for t, (u, e) in data["sessions"].items()}
        org._last_stamp = str(data["last_stamp"])
        org.revoked_refresh_tokens = {str(t) for t in data.get("revoked_refresh_tokens", [])}
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise StateError(f"{where}: incomplete or damaged state ({err})") from None
