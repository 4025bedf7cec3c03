"""Object permissions and field-level security, as a real org applies them to its users.

A user's access is the union of their profile and the permission sets assigned to them
(``PermissionSetAssignment`` rows, created and deleted through the API like any record):

- The admin ("System Administrator") and the partner user (who stands in for the partner
  portal) see and edit every object and field. The partner user is a portal user, as in a
  real org (User.ContactId and AccountId: its partner account): of an object whose sharing
  model is Private (Partner_Eligibility__c) it reads only the records that look up to its
  own account (``Org.visible``'s portal source; one comparison per row, nothing cached).
- Every other user has the "Standard User" profile: the standard objects a new org gives it
  (Account, Contact, Opportunity, Lead, Task, User, Organization) with their standard fields,
  and nothing else: no custom object, no custom field, no channel (PRM) object.
- A permission set adds objects (read, create, edit, delete) and fields (read, edit), from the
  ``salesforce/`` metadata's ``permissionsets/*.permissionset-meta.xml``.

Fields that are not ``permissionable`` (required fields, system fields, formulas) are visible
whenever their object is: a permission set cannot name them. A field a user cannot read is
absent from describe and from every query and record (so SOQL answers INVALID_FIELD, and DML
naming it INVALID_FIELD); a field they can read but not edit is neither createable nor
updateable (DML answers INVALID_FIELD_FOR_INSERT_UPDATE). An object they cannot read is absent
(describe 404, SOQL INVALID_TYPE).

What one user may see is computed once into a ``UserView`` of filtered ``ObjectDef``s and
cached until an assignment or permission set changes: the hot paths pay one dict lookup.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from defusedxml import ElementTree

from connector.emulator.errors import ApiError
from connector.emulator.metadata import NS
from connector.emulator.schema import FieldDef, ObjectDef

__all__ = [
    "PERMSET_OBJECTS",
    "STANDARD_USER_OBJECTS",
    "Access",
    "ObjectPerms",
    "PermissionSetDef",
    "UserView",
    "duplicate_assignment",
    "load_permission_sets",
    "permissionable",
]

PERMSETS_DIR = Path("force-app") / "main" / "default" / "permissionsets"
PERMSET_OBJECTS = frozenset(("PermissionSet", "PermissionSetAssignment"))
# The objects the Standard User profile of a new org reads and edits (all standard fields).
STANDARD_USER_OBJECTS = ("Account", "Contact", "Opportunity", "Lead", "Task")
# Read-only to everyone: the running user's colleagues, the org, and who holds what.
EVERYONE_READS = ("User", "Organization", "PermissionSet", "PermissionSetAssignment")
SYSTEM_FIELDS = frozenset(
    ("Id", "IsDeleted", "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById",
     "SystemModstamp"))
# Activity custom fields (Activity.X__c) are granted on Activity and apply to Task.
ACTIVITY = {"Activity": "Task"}
NO_ACCESS = "insufficient access rights on object id"


def permissionable(fd: FieldDef) -> bool:
    """Whether field-level security applies to ``fd`` (describe's ``permissionable``)."""
    return fd.nillable and fd.name not in SYSTEM_FIELDS and not fd.calculated


@dataclass(frozen=True)
class ObjectPerms:
    read: bool = False
    create: bool = False
    edit: bool = False
    delete: bool = False

    def __or__(self, other: ObjectPerms) -> ObjectPerms:
        return ObjectPerms(self.read or other.read, self.create or other.create,
                           self.edit or other.edit, self.delete or other.delete)


@dataclass(frozen=True)
class PermissionSetDef:
    """One permission set: object permissions, field permissions (editable?), user perms."""

    name: str
    label: str
    objects: Mapping[str, ObjectPerms] = field(default_factory=dict)
    fields: Mapping[tuple[str, str], bool] = field(default_factory=dict)
    user_permissions: frozenset[str] = frozenset()


def _text(el: Any, tag: str, default: str = "") -> str:
    found = el.find(NS + tag)
    return default if found is None or found.text is None else found.text.strip()


def _flag(el: Any, tag: str) -> bool:
    return _text(el, tag).lower() == "true"


def _parse_permission_set(path: Path) -> PermissionSetDef:
    root = ElementTree.parse(path).getroot()
    name = path.name.removesuffix(".permissionset-meta.xml")
    objects = {
        _text(o, "object"): ObjectPerms(_flag(o, "allowRead"), _flag(o, "allowCreate"),
                                        _flag(o, "allowEdit"), _flag(o, "allowDelete"))
        for o in root.findall(NS + "objectPermissions")
    }
    fields: dict[tuple[str, str], bool] = {}
    for f in root.findall(NS + "fieldPermissions"):
        if not (_flag(f, "readable") or _flag(f, "editable")):
            continue
        sobject, _, fname = _text(f, "field").partition(".")
        fields[(ACTIVITY.get(sobject, sobject), fname)] = _flag(f, "editable")
    users = frozenset(_text(u, "name") for u in root.findall(NS + "userPermissions")
                      if _flag(u, "enabled"))
    if "EditTask" in users:  # activities follow the user permission, not object permissions
        objects["Task"] = ObjectPerms(True, True, True, True) | objects.get("Task", ObjectPerms())
    return PermissionSetDef(name, _text(root, "label", name), objects, fields, users)


@functools.cache
def load_permission_sets(root: Path) -> tuple[PermissionSetDef, ...]:
    """The permission sets of the sfdx project at ``root``, sorted by API name."""
    base = root / PERMSETS_DIR
    paths = sorted(base.glob("*.permissionset-meta.xml")) if base.is_dir() else []
    return tuple(_parse_permission_set(p) for p in paths)


@dataclass
class UserView:
    """What one restricted user sees: filtered objects by lower-case name."""

    objects: dict[str, ObjectDef]
    perms: dict[str, ObjectPerms]

    def describe(self, sobject: str) -> ObjectDef | None:
        return self.objects.get(sobject.lower())

    def schema(self) -> dict[str, ObjectDef]:
        return {o.name: o for o in self.objects.values()}


def _view_of(obj: ObjectDef, perms: ObjectPerms, grants: Mapping[str, bool],
             standard_fields: bool) -> ObjectDef:
    fields: dict[str, FieldDef] = {}
    for name, fd in obj.fields.items():
        if not permissionable(fd):
            fields[name] = fd
            continue
        editable = grants.get(name)
        if standard_fields and not fd.custom:
            editable = True  # the profile grants every standard field of its objects
        if editable is None:
            continue  # no read: the field does not exist for this user
        if not editable and (fd.createable or fd.updateable):
            fd = replace(fd, createable=False, updateable=False)
        fields[name] = fd
    return replace(
        obj,
        fields=fields,
        createable=obj.createable and perms.create,
        updateable=obj.updateable and perms.edit,
        deletable=obj.deletable and perms.delete,
    )


class Access:
    """Per-user views of ``schema``; ``assignments()`` says which sets each user holds."""

    def __init__(
        self,
        schema: dict[str, ObjectDef],
        permission_sets: Iterable[PermissionSetDef],
        assignments: Callable[[], Mapping[str, frozenset[str]]],
        unrestricted: Callable[[], frozenset[str]],
    ) -> None:
        self.schema = schema
        self.sets = {p.name: p for p in permission_sets}
        self._assignments = assignments
        self._unrestricted = unrestricted
        self._views: dict[str, UserView | None] = {}
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        """Forget every computed view (an assignment or permission set changed)."""
        with self._lock:
            self._views.clear()

    def view(self, user_id: str | None) -> UserView | None:
        """The user's view, or None when they see everything (admin, internal calls)."""
        if user_id is None:
            return None
        try:
            return self._views[user_id]
        except KeyError:
            pass
        with self._lock:
            view = None if user_id in self._unrestricted() else self._build(user_id)
            self._views[user_id] = view
            return view

    def held(self, user_id: str) -> frozenset[str]:
        """The permission set names assigned to ``user_id``."""
        return self._assignments().get(user_id, frozenset())

    def _build(self, user_id: str) -> UserView:
        perms: dict[str, ObjectPerms] = {}
        grants: dict[str, dict[str, bool]] = {}
        full = ObjectPerms(True, True, True, True)
        for name in STANDARD_USER_OBJECTS:
            perms[name] = full
        for name in EVERYONE_READS:
            perms[name] = perms.get(name, ObjectPerms()) | ObjectPerms(read=True)
        for set_name in sorted(self.held(user_id)):
            pset = self.sets.get(set_name)
            if pset is None:
                continue
            for obj_name, p in pset.objects.items():
                perms[obj_name] = perms.get(obj_name, ObjectPerms()) | p
            for (obj_name, fname), editable in pset.fields.items():
                mine = grants.setdefault(obj_name, {})
                mine[fname] = mine.get(fname, False) or editable
        objects: dict[str, ObjectDef] = {}
        for name, obj in self.schema.items():
            p = perms.get(name, ObjectPerms())
            if not p.read:
                continue
            standard = name in STANDARD_USER_OBJECTS or name in EVERYONE_READS
            objects[name.lower()] = _view_of(obj, p, grants.get(name, {}), standard)
        return UserView(objects, perms)

    # -- checks the org makes on DML -------------------------------------------------------
    def acting(self, obj: ObjectDef, user_id: str, action: str) -> ObjectDef:
        """``obj`` as ``user_id`` sees it, when they may ``action`` (create, edit, delete) it;
        404 NOT_FOUND when they cannot read it, INSUFFICIENT_ACCESS_OR_READONLY otherwise."""
        view = self.view(user_id)
        if view is None:
            return obj
        mine = view.describe(obj.name)
        if mine is None:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        allowed = {"create": mine.createable or not obj.createable,
                   "edit": mine.updateable or not obj.updateable,
                   "delete": mine.deletable or not obj.deletable}[action]
        if not allowed:
            raise ApiError(400, "INSUFFICIENT_ACCESS_OR_READONLY", NO_ACCESS)
        return mine


def duplicate_assignment(existing: Iterable[dict[str, Any]], new: dict[str, Any]) -> None:
    """A user holds a permission set once: a second assignment is DUPLICATE_VALUE."""
    for rec in existing:
        if (not rec["IsDeleted"] and rec["AssigneeId"] == new["AssigneeId"]
                and rec["PermissionSetId"] == new["PermissionSetId"]):
            raise ApiError(
                400, "DUPLICATE_VALUE",
                f"Duplicate PermissionSetAssignment. Assignee: {new['AssigneeId']}; "
                f"Permission Set: {new['PermissionSetId']}",
                fields=["AssigneeId", "PermissionSetId"])


def visible_record(view: UserView | None, sobject: str, rec: dict[str, Any]) -> dict[str, Any]:
    """``rec`` without the fields ``view`` hides (unchanged for an unrestricted user)."""
    if view is None:
        return rec
    obj = view.describe(sobject)
    if obj is None:
        return {}
    return {k: v for k, v in rec.items() if k in obj.fields or k == "attributes"}
