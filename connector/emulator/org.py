"""The emulated org: schema, records, recycle bin, users, clock, API allowance, persistence.

All DML goes through ``create`` / ``update`` / ``upsert`` / ``delete``, which validate input
the way Salesforce does and raise ``ApiError`` with its codes. ``atomic()`` groups DML so an
allOrNone request rolls back as a whole. The org is also the SOQL engine's DataSource.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from connector.emulator.access import (
    PERMSET_OBJECTS,
    Access,
    UserView,
    duplicate_assignment,
    load_permission_sets,
)
from connector.emulator.errors import ApiError
from connector.emulator.ids import is_valid_id, make_id, normalize
from connector.emulator.metadata import metadata_root
from connector.emulator.persist import (
    STATE_FILE,
    org_snapshot,
    read_state,
    restore_org,
    write_state,
)
from connector.emulator.replication import deleted_result, updated_result
from connector.emulator.schema import ObjectDef
from connector.emulator.seed import (
    ORG_ID,
    PORTAL_ACCOUNT_NAME,
    organization_row,
    permission_rows,
    seed_records,
    seed_users,
)
from connector.emulator.sessions import OrgSessions, UserInfo
from connector.emulator.soql import QueryResult, execute, parse
from connector.emulator.standard import build_schema, compute_formulas
from connector.emulator.values import coerce, format_datetime

__all__ = ["Change", "CommitHook", "Listener", "Org", "UserInfo"]

Listener = Callable[[str, str, dict[str, Any]], None]
# One committed row change: (event, sObject, the row after, the row before or None on create,
# the acting user's id); event is "created", "updated" or "deleted".
Change = tuple[str, str, dict[str, Any], dict[str, Any] | None, str]
CommitHook = Callable[[list[Change]], None]
SYSTEM = (
    "Id",
    "IsDeleted",
    "CreatedDate",
    "CreatedById",
    "LastModifiedDate",
    "LastModifiedById",
    "SystemModstamp",
)


class Org(OrgSessions):
    """An in-memory Salesforce org."""

    def __init__(
        self,
        *,
        seed: str | None = "empty",
        records: int = 0,
        api_limit: int = 100_000,
        session_ttl: float = 7200.0,
        state_dir: Path | None = None,
    ) -> None:
        self.schema: dict[str, ObjectDef] = build_schema()
        self._lower = {name.lower(): obj for name, obj in self.schema.items()}
        self._prefix = {obj.key_prefix: name for name, obj in self.schema.items()}
        self.lock = threading.RLock()
        self.organization_id = ORG_ID
        self.client_id = "3MVG9emulator" + "A" * 70
        self.client_secret = "emulator-secret-" + "0" * 16
        self.api_limit = api_limit
        self.session_ttl = session_ttl
        self.state_dir = state_dir
        self.users: dict[str, UserInfo] = {}
        self.listeners: list[Listener] = []
        self._clock_offset = timedelta(0)
        self._frozen: datetime | None = None
        self._last_stamp = ""
        self._journal: list[tuple[str, str, dict[str, Any] | None]] | None = None
        self._pending: list[Change] = []
        self.commit_hooks: list[CommitHook] = []
        self.dirty = False
        self.sessions: dict[str, tuple[str, float]] = {}  # token -> (user id, expires epoch)
        self.revoked_refresh_tokens: set[str] = set()
        self.permission_sets = load_permission_sets(metadata_root())
        self.access = Access(self.schema, self.permission_sets, self._assignments,
                             self._unrestricted)
        self.listeners.append(self._access_changed)
        self._reset_data()
        loaded = state_dir is not None and self.load()
        if not loaded and seed is not None:  # None: the caller seeds (see reset)
            self.seed(seed, records)

    # -- state ---------------------------------------------------------------------------
    def _reset_data(self) -> None:
        self.store: dict[str, dict[str, dict[str, Any]]] = {n: {} for n in self.schema}
        self.where: dict[str, str] = {}
        self.deleted_log: list[tuple[str, str, str]] = []
        self.purged_at: dict[str, str] = {}  # sObject -> when its last record was purged
        self.created_at = format_datetime(self.now_dt().replace(second=0, microsecond=0))
        self.counters: Counter[str] = Counter()
        self.api_used = 0
        self.by_endpoint: Counter[str] = Counter()
        self._index: dict[tuple[str, str], dict[Any, set[str]]] = {
            (n, f.name): {}
            for n, o in self.schema.items()
            for f in o.fields.values()
            if (f.unique or f.external_id or f.id_lookup) and f.name != "Id"
        }
        self._templates = {n: dict.fromkeys(o.fields) for n, o in self.schema.items()}

    def reset(self, seed: str = "empty", records: int = 0) -> None:
        """Forget every record and load ``seed`` again (users and sessions stay valid).

        The new records are built in a fresh org without holding this one's lock, then swapped
        in at once: a reset with many records does not stall requests meanwhile.
        """
        fresh = Org(seed=None, api_limit=self.api_limit, session_ttl=self.session_ttl)
        fresh._clock_offset, fresh._frozen = self._clock_offset, self._frozen
        fresh.seed(seed, records)
        with self.lock:
            for name in ("store", "where", "deleted_log", "purged_at", "created_at",
                         "counters", "api_used", "by_endpoint", "_index", "_templates"):
                setattr(self, name, getattr(fresh, name))
            # The records that stamps had to follow are gone.
            self._last_stamp = fresh._last_stamp
            self.dirty = True
        self.access.invalidate()

    def seed(self, kind: str, records: int = 0) -> None:
        """Load users, the Organization and the seed's rows directly (no per-row validation)."""
        if kind not in ("empty", "demo"):
            raise ValueError(f"unknown seed {kind!r} (empty or demo)")
        now = self.now()
        for u in seed_users():
            info = UserInfo(u.key, u.username, u.password, u.id, u.refresh_token, u.name, u.email)
            self.users[u.key] = info
            first, _, last = u.name.partition(" ")
            self._insert_raw(
                "User",
                {
                    "Id": u.id,
                    "Username": u.username,
                    "Email": u.email,
                    "FirstName": first,
                    "LastName": last or first,
                    "Name": u.name,
                    "IsActive": True,
                },
                now,
                u.id,
            )
        admin = self.users["admin"].id
        sobject, values = organization_row()
        self._insert_raw(sobject, {**values, "Id": self.organization_id}, now, admin)
        for sobject, values in permission_rows([(p.name, p.label) for p in self.permission_sets]):
            self._insert_raw(sobject, values, now, admin)
        rows = list(seed_records(kind, records).rows())
        # Seeded history spreads over the last 30 days, oldest first: a realistic org, and no
        # giant timestamp tie inside the poller's lag window.
        base = datetime.now(UTC) - timedelta(days=30)
        step = timedelta(days=29) / max(len(rows), 1)
        rng = random.Random(7)
        for i, (sobject, values) in enumerate(rows):
            stamp = format_datetime(base + step * i + timedelta(milliseconds=rng.randint(0, 3)))
            self._insert_raw(sobject, values, stamp, admin)
        self._seed_portal_user(now, admin)
        self._last_stamp = max(self._last_stamp, now)

    def _seed_portal_user(self, now: str, admin: str) -> None:
        """The partner user is a portal user, as in a real org: a Contact of its partner
        account (the demo's certification partner), and User.ContactId / AccountId."""
        account = next((rid for rid, rec in self.store["Account"].items()
                        if rec.get("Name") == PORTAL_ACCOUNT_NAME), None)
        if account is None:
            return  # the empty seed has no partner account
        user = self.users["partner"]
        contact = make_id("003", 1)
        first, _, last = user.name.partition(" ")
        self._insert_raw("Contact", {"Id": contact, "FirstName": first, "LastName": last,
                                     "Email": user.email, "AccountId": account}, now, admin)
        self.store["User"][user.id].update(ContactId=contact, AccountId=account)

    def portal_account(self, user_id: str | None) -> str | None:
        """The partner account of a portal user (None for an internal user)."""
        rec = self.store["User"].get(user_id) if user_id else None
        return rec.get("AccountId") if rec else None

    # -- access (see ``access``) -------------------------------------------------------------
    def _assignments(self) -> dict[str, frozenset[str]]:
        """User id -> the names of the permission sets assigned to them."""
        names = {rid: rec["Name"] for rid, rec in self.store["PermissionSet"].items()
                 if not rec["IsDeleted"]}
        held: dict[str, set[str]] = {}
        for rec in self.store["PermissionSetAssignment"].values():
            name = names.get(rec["PermissionSetId"])
            if not rec["IsDeleted"] and name is not None:
                held.setdefault(rec["AssigneeId"], set()).add(name)
        return {user: frozenset(sets) for user, sets in held.items()}

    def _unrestricted(self) -> frozenset[str]:
        """The admin and the partner user (who stands in for the partner portal)."""
        return frozenset(u.id for k, u in self.users.items() if k in ("admin", "partner"))

    def _access_changed(self, event: str, sobject: str, record: dict[str, Any]) -> None:
        if sobject in PERMSET_OBJECTS:
            self.access.invalidate()

    def visible(self, user_id: str | None) -> Any:
        """The SOQL source ``user_id`` queries: the org, or the org seen through their view."""
        view = self.access.view(user_id)
        source: Any = self if view is None else _UserSource(self, view)
        account = self.portal_account(user_id)
        return source if account is None else _PortalSource(source, self, account)

    def _insert_raw(self, sobject: str, values: dict[str, Any], stamp: str, user: str) -> None:
        obj = self.schema[sobject]
        rec = dict(self._templates[sobject])
        self._defaults(obj, rec, user)
        rec.update(values)
        rec.update(
            IsDeleted=False,
            CreatedDate=stamp,
            LastModifiedDate=stamp,
            SystemModstamp=stamp,
            CreatedById=user,
            LastModifiedById=user,
        )
        if "OwnerId" in obj.fields and rec.get("OwnerId") is None:
            rec["OwnerId"] = user
        for f in obj.fields.values():
            if f.auto_number and rec.get(f.name) is None:
                rec[f.name] = f"{self.counters[obj.key_prefix] + 1:010d}"
        compute_formulas(obj, rec)
        rid = str(rec["Id"])
        self.store[sobject][rid] = rec
        self.where[rid] = sobject
        self.counters[obj.key_prefix] += 1
        self._index_add(sobject, rec)

    # -- clock -----------------------------------------------------------------------------
    def now_dt(self) -> datetime:
        """The org's clock (wall clock plus any offset a test set, or a frozen instant)."""
        if self._frozen is not None:
            return self._frozen
        return datetime.now(UTC) + self._clock_offset

    def now(self) -> str:
        """The org's clock in Salesforce's datetime form, never going backwards."""
        stamp = format_datetime(self.now_dt())
        if stamp < self._last_stamp:
            stamp = self._last_stamp
        self._last_stamp = stamp
        return stamp

    def set_clock(
        self,
        *,
        offset_seconds: float | None = None,
        freeze: bool | None = None,
        at: datetime | None = None,
    ) -> str:
        """Move the clock (tests compress time) or freeze it so saves share a stamp."""
        with self.lock:
            if offset_seconds is not None:
                self._clock_offset = timedelta(seconds=offset_seconds)
            if at is not None:
                self._clock_offset = at - datetime.now(UTC)
            if freeze is True:
                self._frozen = datetime.now(UTC) + self._clock_offset
            elif freeze is False:
                self._frozen = None
            return format_datetime(self.now_dt())

    # -- API allowance -----------------------------------------------------------------------
    def count_call(self, endpoint: str) -> None:
        """Count one API call; past the daily allowance, 403 REQUEST_LIMIT_EXCEEDED."""
        with self.lock:
            if self.api_used >= self.api_limit:
                raise ApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            self.api_used += 1
            self.by_endpoint[endpoint] += 1

    def limit_info(self) -> str:
        """The ``Sforce-Limit-Info`` header value."""
        return f"api-usage={self.api_used}/{self.api_limit}"

    # -- lookups (also the SOQL DataSource) ------------------------------------------------
    def describe(self, sobject: str) -> ObjectDef | None:
        """The object named ``sobject`` (case-insensitive), or None."""
        return self._lower.get(sobject.lower())

    def object_or_404(self, sobject: str) -> ObjectDef:
        """The object, or the NOT_FOUND error Salesforce gives for an unknown sObject."""
        obj = self.describe(sobject)
        if obj is None:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        return obj

    def records(self, sobject: str, include_deleted: bool) -> Iterable[dict[str, Any]]:
        """Every row of ``sobject`` (the SOQL engine filters IsDeleted itself)."""
        obj = self.describe(sobject)
        return self.store[obj.name].values() if obj else ()

    def get(self, record_id: str) -> dict[str, Any] | None:
        """A row of any object by 15- or 18-character id."""
        if len(record_id) == 15 and is_valid_id(record_id):
            record_id = normalize(record_id)
        sobject = self.where.get(record_id)
        return self.store[sobject].get(record_id) if sobject else None

    def sobject_of(self, record_id: str) -> str | None:
        """The object an id belongs to (by key prefix)."""
        return self._prefix.get(record_id[:3])

    def objects(self) -> Iterable[str]:
        """Every object name."""
        return self.schema.keys()

    def fetch(
        self, sobject: str, record_id: str, fields: list[str] | None = None
    ) -> dict[str, Any]:
        """A record for ``GET sobjects/X/id`` (404 when unknown or deleted)."""
        obj = self.object_or_404(sobject)
        rid = normalize(record_id) if is_valid_id(record_id) else record_id
        rec = self.store[obj.name].get(rid)
        if rec is None or rec["IsDeleted"]:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        if fields is None:
            return dict(rec)
        out = {"Id": rec["Id"]}
        for name in fields:
            f = obj.field(name)
            if f is None:
                raise ApiError(
                    400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {obj.name}"
                )
            out[f.name] = rec[f.name]
        return out

    def query(
        self,
        soql: str,
        include_deleted: bool = False,
        api_version: str = "62.0",
        user: str | None = None,
    ) -> QueryResult:
        """Run a SOQL query against the current data (as ``user`` sees it, when given)."""
        with self.lock:
            try:
                return execute(
                    parse(soql),
                    self.visible(user),
                    now=self.now_dt(),
                    api_version=api_version,
                    include_deleted=include_deleted,
                )
            except RecursionError:
                # Parentheses or NOTs nested thousands deep: refuse the query, not the server.
                raise ApiError(
                    400, "MALFORMED_QUERY", "the query nests too deeply to be parsed"
                ) from None

    # -- transactions and events -----------------------------------------------------------
    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(event, sobject, record)`` after each committed DML."""
        self.listeners.append(listener)

    def add_commit_hook(self, hook: CommitHook) -> None:
        """Call ``hook(changes)`` with every committed transaction's row changes, in
        commit order, while the org's lock is still held (keep it quick). A transaction is the
        outermost ``atomic()`` block: one API request, however many records it saved."""
        self.commit_hooks.append(hook)

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Group DML: on an exception every change inside is undone and no event fires."""
        with self.lock:
            if self._journal is not None:
                yield
                return
            self._journal = []
            try:
                yield
            except BaseException:
                self._undo_to(0, 0)
                raise
            finally:
                self._journal = None
            events, self._pending = self._pending, []
            self.dirty = self.dirty or bool(events)
            if events:
                for hook in self.commit_hooks:
                    hook(events)
        for event, sobject, rec, _old, _user in events:
            for listener in self.listeners:
                listener(event, sobject, rec)

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Inside ``atomic()``: undo just this block's changes and events if it raises."""
        assert self._journal is not None, "savepoint() needs an enclosing atomic()"
        mark, pending = len(self._journal), len(self._pending)
        try:
            yield
        except BaseException:
            self._undo_to(mark, pending)
            raise

    def _undo_to(self, mark: int, pending: int) -> None:
        journal = self._journal
        assert journal is not None
        while len(journal) > mark:
            sobject, rid, old = journal.pop()
            current = self.store[sobject].get(rid)
            if current is not None:
                self._index_remove(sobject, current)
            if old is None:
                self.store[sobject].pop(rid, None)
                self.where.pop(rid, None)
            else:
                self.store[sobject][rid] = old
                self._index_add(sobject, old)
        del self._pending[pending:]

    def _touch(self, sobject: str, rid: str, old: dict[str, Any] | None) -> None:
        if self._journal is not None:
            self._journal.append((sobject, rid, old))  # callers pass a copy (or None)

    # -- DML -----------------------------------------------------------------------------
    def create(self, sobject: str, values: dict[str, Any], user_id: str) -> str:
        """Insert a record; returns its new 18-character id."""
        with self.atomic():
            obj = self.object_or_404(sobject)
            clean = self._prepare(self.access.acting(obj, user_id, "create"), values,
                                  creating=True)
            rec = dict(self._templates[obj.name])
            self._defaults(obj, rec, user_id)
            rec.update(clean)
            missing = [
                f.name
                for f in obj.fields.values()
                if f.required_on_create and rec.get(f.name) is None
            ]
            if missing:
                raise ApiError(
                    400,
                    "REQUIRED_FIELD_MISSING",
                    f"Required fields are missing: [{', '.join(missing)}]",
                    fields=missing,
                )
            self._check_unique(obj, rec, None)
            if obj.name == "PermissionSetAssignment":
                duplicate_assignment(self.store[obj.name].values(), rec)
            self.counters[obj.key_prefix] += 1
            rid = make_id(obj.key_prefix, 10_000_000 + self.counters[obj.key_prefix])
            for f in obj.fields.values():
                if f.auto_number:
                    rec[f.name] = f"{self.counters[obj.key_prefix]:010d}"
            stamp = self.now()
            rec.update(
                Id=rid,
                IsDeleted=False,
                CreatedDate=stamp,
                LastModifiedDate=stamp,
                SystemModstamp=stamp,
                CreatedById=user_id,
                LastModifiedById=user_id,
            )
            compute_formulas(obj, rec)
            self._touch(obj.name, rid, None)
            self.store[obj.name][rid] = rec
            self.where[rid] = obj.name
            self._index_add(obj.name, rec)
            self._pending.append(("created", obj.name, dict(rec), None, user_id))
            return rid

    def _live(self, obj: ObjectDef, record_id: str) -> dict[str, Any]:
        rid = normalize(record_id) if is_valid_id(record_id) else record_id
        rec = self.store[obj.name].get(rid)
        if rec is None:
            if not is_valid_id(record_id):
                raise ApiError(
                    400, "MALFORMED_ID", f"{obj.name} ID: id value of incorrect type: {record_id}"
                )
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        if rec["IsDeleted"]:
            raise ApiError(404, "ENTITY_IS_DELETED", "entity is deleted", fields=[])
        return rec

    def update(self, sobject: str, record_id: str, values: dict[str, Any], user_id: str) -> None:
        """Update fields of a live record."""
        with self.atomic():
            obj = self.object_or_404(sobject)
            rec = self._live(obj, record_id)
            clean = self._prepare(self.access.acting(obj, user_id, "edit"), values,
                                  creating=False)
            for name, value in clean.items():
                f = obj.fields[name]
                if value is None and not f.nillable and f.type != "boolean":
                    raise ApiError(
                        400,
                        "REQUIRED_FIELD_MISSING",
                        f"Required fields are missing: [{name}]",
                        fields=[name],
                    )
            self._check_unique(obj, clean, rec["Id"])
            old = dict(rec)
            self._touch(obj.name, rec["Id"], old)
            self._index_remove(obj.name, rec)
            rec.update(clean)
            stamp = self.now()
            rec.update(LastModifiedDate=stamp, SystemModstamp=stamp, LastModifiedById=user_id)
            compute_formulas(obj, rec)
            self._index_add(obj.name, rec)
            self._pending.append(("updated", obj.name, dict(rec), old, user_id))

    def upsert(
        self,
        sobject: str,
        ext_field: str,
        ext_value: str,
        values: dict[str, Any],
        user_id: str,
        *,
        update_only: bool = False,
        api_version: str = "62.0",
    ) -> tuple[str, bool]:
        """Update the record whose ``ext_field`` is ``ext_value``, or create it (unless
        ``update_only``: then 404). Several matches answer 300 with their URLs."""
        with self.atomic():
            obj = self.object_or_404(sobject)
            f = self.access.acting(obj, user_id, "edit").field(ext_field)
            if f is None or not (f.external_id or f.id_lookup):
                raise ApiError(
                    404,
                    "NOT_FOUND",
                    f"Provided external ID field does not exist or is not accessible: {ext_field}",
                )
            body = {k: v for k, v in values.items() if k.lower() != f.name.lower()}
            if f.name == "Id":
                if not ext_value:
                    if update_only:
                        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
                    return self.create(obj.name, body, user_id), True
                self.update(obj.name, ext_value, body, user_id)
                return normalize(ext_value), False
            matches = sorted(self._index[(obj.name, f.name)].get(_key(ext_value), set()))
            if len(matches) > 1:
                raise ApiError(
                    300,
                    "MULTIPLE_CHOICES",
                    ",".join(
                        f"/services/data/v{api_version}/sobjects/{obj.name}/{m}" for m in matches
                    ),
                )
            if matches:
                self.update(obj.name, matches[0], body, user_id)
                return matches[0], False
            if update_only:
                raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
            return self.create(obj.name, {**body, f.name: ext_value}, user_id), True

    def delete(self, sobject: str, record_id: str, user_id: str) -> None:
        """Soft-delete into the recycle bin (queryAll still returns it, IsDeleted true)."""
        with self.atomic():
            obj = self.object_or_404(sobject)
            self.access.acting(obj, user_id, "delete")
            rec = self._live(obj, record_id)
            old = dict(rec)
            self._touch(obj.name, rec["Id"], old)
            self._index_remove(obj.name, rec)
            stamp = self.now()
            rec.update(IsDeleted=True, SystemModstamp=stamp)
            self.deleted_log.append((rec["Id"], obj.name, stamp))
            self._pending.append(("deleted", obj.name, dict(rec), old, user_id))

    def purge(self, record_ids: Iterable[str]) -> int:
        """Empty deleted records from the recycle bin (a hard delete): queryAll loses them."""
        n = 0
        with self.lock:
            for raw in record_ids:
                rid = normalize(raw) if is_valid_id(raw) else raw
                sobject = self.where.get(rid)
                if sobject is None:
                    continue
                rec = self.store[sobject][rid]
                if not rec["IsDeleted"]:
                    self.delete(sobject, rid, rec["LastModifiedById"])
                del self.store[sobject][rec["Id"]]
                del self.where[rec["Id"]]
                self.purged_at[sobject] = self.now()
                n += 1
            self.dirty = True
        return n

    def _defaults(self, obj: ObjectDef, rec: dict[str, Any], user_id: str) -> None:
        for f in obj.fields.values():
            if f.type == "boolean" and f.name not in SYSTEM:
                rec[f.name] = bool(f.default_value) if f.default_value is not None else False
            elif f.type == "picklist":
                default = next((p.value for p in f.picklist_values if p.default), None)
                if default is not None:
                    rec[f.name] = default
        if "OwnerId" in obj.fields:
            rec["OwnerId"] = user_id

    def _prepare(self, obj: ObjectDef, values: dict[str, Any], *, creating: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        locked: list[str] = []
        for key, value in values.items():
            if key == "attributes":
                continue
            f = obj.field(key)
            if f is None:
                raise ApiError(
                    400, "INVALID_FIELD", f"No such column '{key}' on sobject of type {obj.name}"
                )
            if f.name == "Id" and not creating:
                continue
            if not (f.createable if creating else f.updateable):
                locked.append(f.name)
                continue
            out[f.name] = coerce(f, value)
        if locked:
            verb = "create" if creating else "update"
            raise ApiError(
                400,
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to {verb}/update fields: {', '.join(locked)}. Please check "
                "the security settings of this field and verify that it is "
                "read/write for your profile or permission set.",
                fields=locked,
            )
        for name, value in out.items():
            f = obj.fields[name]
            if f.type == "reference" and value is not None:
                target = self.get(value)
                allowed = {t.lower() for t in f.reference_to}
                kind = self.sobject_of(value)
                if (
                    target is None
                    or target["IsDeleted"]
                    or (allowed and (kind or "").lower() not in allowed)
                ):
                    raise ApiError(
                        400,
                        "INVALID_CROSS_REFERENCE_KEY",
                        f"invalid cross reference id: {value}",
                        fields=[name],
                    )
        return out

    # -- unique / external id index ----------------------------------------------------------
    def _index_add(self, sobject: str, rec: dict[str, Any]) -> None:
        if rec.get("IsDeleted"):
            return
        for (s, name), index in self._index.items():
            if s == sobject and rec.get(name) is not None:
                index.setdefault(_key(rec[name]), set()).add(rec["Id"])

    def _index_remove(self, sobject: str, rec: dict[str, Any]) -> None:
        for (s, name), index in self._index.items():
            if s == sobject and rec.get(name) is not None:
                ids = index.get(_key(rec[name]))
                if ids is not None:
                    ids.discard(rec["Id"])
                    if not ids:
                        del index[_key(rec[name])]

    def _check_unique(self, obj: ObjectDef, values: dict[str, Any], own_id: str | None) -> None:
        for name, value in values.items():
            f = obj.fields[name]
            if not f.unique or value is None:
                continue
            others = self._index[(obj.name, name)].get(_key(value), set()) - {own_id}
            if others:
                raise ApiError(
                    400,
                    "DUPLICATE_VALUE",
                    f"duplicate value found: {name} duplicates value on record with "
                    f"id: {sorted(others)[0]}",
                    fields=[name],
                )

    # -- replication resources ---------------------------------------------------------------
    def updated(self, sobject: str, start: datetime, end: datetime) -> dict[str, Any]:
        """``sobjects/X/updated`` (see ``replication``)."""
        obj = self.object_or_404(sobject)
        with self.lock:
            return updated_result(self.store[obj.name].values(), start, end, self.now_dt())

    def deleted(self, sobject: str, start: datetime, end: datetime) -> dict[str, Any]:
        """``sobjects/X/deleted`` (see ``replication``)."""
        obj = self.object_or_404(sobject)
        with self.lock:
            log = [(rid, when) for rid, s, when in self.deleted_log if s == obj.name]
            last_purge = self.purged_at.get(obj.name, self.created_at)
            return deleted_result(log, start, end, self.now_dt(), last_purge=last_purge)

    # -- persistence -----------------------------------------------------------------------
    def save(self) -> None:
        """Write the whole org to ``state_dir`` (JSON, sealed, 0600; see ``persist``)."""
        if self.state_dir is None:
            return
        with self.lock:
            data = org_snapshot(self)
            self.dirty = False
        write_state(self.state_dir, self.organization_id, format_datetime(self.now_dt()), data)

    def load(self) -> bool:
        """Load a saved org from ``state_dir``; False when there is none (StateError when the
        file is refused: not ours, another org's, or edited)."""
        if self.state_dir is None:
            return False
        data = read_state(self.state_dir, self.organization_id)
        if data is None:
            return False
        restore_org(self, data, f"{self.state_dir / STATE_FILE}")
        if not self.store["PermissionSet"]:  # saved before permission sets existed
            admin = self.users["admin"].id
            for sobject, values in permission_rows(
                    [(p.name, p.label) for p in self.permission_sets]):
                self._insert_raw(sobject, values, self.now(), admin)
        org = self.store["Organization"].get(self.organization_id)
        if org is not None:  # saved before the Organization had its edition and instance
            for name, value in organization_row()[1].items():
                org.setdefault(name, value)
        self.access.invalidate()
        for sobject, rows in self.store.items():
            for rec in rows.values():
                self._index_add(sobject, rec)
        return True


def _key(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


class _UserSource:
    """The org as one restricted user queries it: their view's objects and fields only."""

    def __init__(self, org: Org, view: UserView) -> None:
        self.org = org
        self.view = view

    def describe(self, sobject: str) -> ObjectDef | None:
        return self.view.describe(sobject)

    def records(self, sobject: str, include_deleted: bool) -> Iterable[dict[str, Any]]:
        return self.org.records(sobject, include_deleted)

    def get(self, record_id: str) -> dict[str, Any] | None:
        return self.org.get(record_id)

    def sobject_of(self, record_id: str) -> str | None:
        return self.org.sobject_of(record_id)

    def objects(self) -> Iterable[str]:
        return [o.name for o in self.view.objects.values()]


class _PortalSource:
    """What a portal user queries: ``source`` less the records of Private objects (sharing
    model) that do not look up to the user's own account (``account_field``)."""

    def __init__(self, source: Any, org: Org, account: str) -> None:
        self.source = source
        self.org = org
        self.account = account

    def describe(self, sobject: str) -> ObjectDef | None:
        found: ObjectDef | None = self.source.describe(sobject)
        return found

    def _mine(self, sobject: str, rec: dict[str, Any]) -> bool:
        obj = self.org.schema.get(sobject)
        if obj is None or obj.sharing_model != "Private":
            return True
        field = account_field(obj)
        return field is not None and rec.get(field) == self.account

    def records(self, sobject: str, include_deleted: bool) -> Iterable[dict[str, Any]]:
        obj = self.org.describe(sobject)
        rows: Iterable[dict[str, Any]] = self.source.records(sobject, include_deleted)
        if obj is None or obj.sharing_model != "Private":
            return rows
        return [r for r in rows if self._mine(obj.name, r)]

    def get(self, record_id: str) -> dict[str, Any] | None:
        rec: dict[str, Any] | None = self.source.get(record_id)
        sobject = self.org.sobject_of(record_id)
        if rec is None or sobject is None:
            return rec
        return rec if self._mine(sobject, rec) else None

    def sobject_of(self, record_id: str) -> str | None:
        found: str | None = self.source.sobject_of(record_id)
        return found

    def objects(self) -> Iterable[str]:
        names: Iterable[str] = self.source.objects()
        return names


def account_field(obj: ObjectDef) -> str | None:
    """The lookup through which a portal user's account shares ``obj``'s records with it."""
    return next((f.name for f in obj.fields.values()
                 if f.type == "reference" and f.reference_to == ("Account",)), None)
