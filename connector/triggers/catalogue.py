"""The actions a rule may name: their parameters, which are CEL, and where they apply.

Pure data for the loader (validation); ``connector.triggers.actions`` attaches the executors
(``BUILTIN_ACTIONS``). ``ActionDef`` itself lives in ``connector.partners.actions``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from connector.partners.actions import ActionDef, ReviewTier
from connector.partners.actions import Params as _Params

__all__ = [
    "ACTIONS",
    "ActionDef",
    "AllocateMdf",
    "ApproveMdfRequest",
    "AwardPoints",
    "CreateTask",
    "Notify",
    "RegistrationDecision",
    "ReviewTier",
    "SetField",
    "SetTier",
]

CelOrNumber = str | float | int


class SetTier(_Params):
    """``set_tier: {level: Gold}``: upgrade at once; a downgrade waits the grace period."""

    level: str


class AllocateMdf(_Params):
    """``allocate_mdf: {amount: "partner.closed_won_last_quarter * 0.02", once_per: quarter}``."""

    amount: CelOrNumber
    once_per: Literal["quarter", "year", "ever"] = "quarter"
    budget: str | None = None  # a budget's title; default: the one whose dates hold today
    title: str | None = None


class RegistrationDecision(_Params):
    """``approve_registration`` / ``reject_registration`` / ``route_for_review: {reason}``."""

    reason: str = ""


class ApproveMdfRequest(_Params):
    """``approve_mdf_request: {reason, amount}`` (amount: CEL, default the requested amount)."""

    reason: str = ""
    amount: CelOrNumber | None = None


class AwardPoints(_Params):
    """``award_points: {points: 50, reason: "First certification"}`` (points may be CEL)."""

    points: CelOrNumber
    reason: str = ""


class CreateTask(_Params):
    """``create_task: {subject, due_in_days: 7, assign_to: channel_manager}``."""

    subject: str
    due_in_days: int = Field(default=7, ge=0, le=3650)
    assign_to: Literal["channel_manager"] = "channel_manager"
    priority: Literal["High", "Normal", "Low"] = "Normal"
    description: str = ""


class Notify(_Params):
    """``notify: {url, secret_env}``: a POST signed with HMAC-SHA256, sent by the outbox."""

    url: str
    secret_env: str

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError(f"must be an http(s) URL (got {value!r})")
        return value

    @field_validator("secret_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not value.replace("_", "").isalnum() or value[0].isdigit():
            raise ValueError(
                f"must name an environment variable, e.g. PRM_HOOK_SECRET (got {value!r})"
            )
        return value


class SetField(_Params):
    """``set_field: {field: status, value: "'Expired'"}`` (value: CEL)."""

    field: str
    value: CelOrNumber | bool


_REG = ("deal_registration",)
ACTIONS: dict[str, ActionDef] = {
    d.name: d
    for d in (
        ActionDef("set_tier", SetTier),
        ActionDef("review_tier", ReviewTier, entities=("partner",)),
        ActionDef("allocate_mdf", AllocateMdf, {"amount": "number"}),
        ActionDef("approve_registration", RegistrationDecision, entities=_REG),
        ActionDef("reject_registration", RegistrationDecision, entities=_REG),
        ActionDef("route_for_review", RegistrationDecision, entities=_REG),
        ActionDef(
            "approve_mdf_request", ApproveMdfRequest, {"amount": "number"}, ("mdf_request",)
        ),
        ActionDef("award_points", AwardPoints, {"points": "number"}),
        ActionDef("create_task", CreateTask),
        ActionDef("notify", Notify, needs_partner=False),
        ActionDef("set_field", SetField, {"value": "any"}, needs_partner=False),
    )
}
