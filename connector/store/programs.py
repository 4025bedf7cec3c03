"""Local PRM tables Salesforce does not hold: enrolments, step completions, the points ledger
and segment membership (migration 0007_programs).

Points balances are never stored here: a balance is the sum of a partner's ledger rows.
``partner.points`` is only the outbound mirror of that sum (Partner_Points__c).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from connector.store.types import UTCDateTime, utcnow

__all__ = [
    "PROGRAM_MODELS",
    "Enrolment",
    "PointsEntry",
    "SegmentMembership",
    "StepCompletion",
]


def _now() -> datetime:
    return utcnow()


class Enrolment(SQLModel, table=True):
    """A partner enrolled in a track (automatically, by a trigger action or by a person)."""

    __tablename__ = "track_enrolment"
    __table_args__ = (UniqueConstraint("partner_id", "track", name="uq_track_enrolment"),)
    id: int | None = Field(default=None, primary_key=True)
    partner_id: int = Field(foreign_key="partner.id", index=True)
    track: str
    enrolled_at: datetime = Field(default_factory=_now, sa_type=UTCDateTime)
    source: str  # auto | action | local
    cause: str  # the firing key, "segment:<name>", or the person who did it


class StepCompletion(SQLModel, table=True):
    """A step a partner has completed, with what completed it."""

    __tablename__ = "step_completion"
    __table_args__ = (UniqueConstraint("partner_id", "step", name="uq_step_completion"),)
    id: int | None = Field(default=None, primary_key=True)
    partner_id: int = Field(foreign_key="partner.id", index=True)
    track: str
    step: str
    completed_at: datetime = Field(default_factory=_now, sa_type=UTCDateTime)
    source: str  # local | action | salesforce
    cause: str  # the person, the firing key, or "certification:<sf_id>"


class PointsEntry(SQLModel, table=True):
    """One award (or deduction) of points: the ledger a balance is summed from."""

    __tablename__ = "points_ledger"
    id: int | None = Field(default=None, primary_key=True)
    partner_id: int = Field(foreign_key="partner.id", index=True)
    points: int
    reason: str
    cause: str  # the firing key or the person that made it
    step: str | None = None
    # Set when the award must happen once (a step's points, a firing): replays add nothing.
    award_key: str | None = Field(default=None, unique=True, index=True)
    awarded_at: datetime = Field(default_factory=_now, sa_type=UTCDateTime)


class SegmentMembership(SQLModel, table=True):
    """A stay of a partner in a segment: open while ``left_at`` is null."""

    __tablename__ = "segment_membership"
    __table_args__ = (Index("ix_segment_membership_segment_left", "segment", "left_at"),)
    id: int | None = Field(default=None, primary_key=True)
    partner_id: int = Field(foreign_key="partner.id", index=True)
    segment: str
    entered_at: datetime = Field(default_factory=_now, sa_type=UTCDateTime)
    left_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


PROGRAM_MODELS: tuple[type[SQLModel], ...] = (
    Enrolment,
    StepCompletion,
    PointsEntry,
    SegmentMembership,
)
