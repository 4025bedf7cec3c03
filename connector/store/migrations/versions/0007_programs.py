"""Partner programs: track enrolments, step completions, the points ledger, segment membership.

Revision ID: 0007_programs
Revises: 0001
Create Date: 2026-11-30

Balances are not stored: a partner's points are the sum of its ``points_ledger`` rows.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_programs"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _partner() -> sa.Column:
    return sa.Column("partner_id", sa.Integer(), sa.ForeignKey("partner.id"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "track_enrolment",
        sa.Column("id", sa.Integer(), primary_key=True, nullable=False),
        _partner(),
        sa.Column("track", sa.String(), nullable=False),
        _ts("enrolled_at"),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("cause", sa.String(), nullable=False),
        sa.UniqueConstraint("partner_id", "track", name="uq_track_enrolment"),
    )
    op.create_index("ix_track_enrolment_partner_id", "track_enrolment", ["partner_id"])
    op.create_table(
        "step_completion",
        sa.Column("id", sa.Integer(), primary_key=True, nullable=False),
        _partner(),
        sa.Column("track", sa.String(), nullable=False),
        sa.Column("step", sa.String(), nullable=False),
        _ts("completed_at"),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("cause", sa.String(), nullable=False),
        sa.UniqueConstraint("partner_id", "step", name="uq_step_completion"),
    )
    op.create_index("ix_step_completion_partner_id", "step_completion", ["partner_id"])
    op.create_table(
        "points_ledger",
        sa.Column("id", sa.Integer(), primary_key=True, nullable=False),
        _partner(),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("cause", sa.String(), nullable=False),
        sa.Column("step", sa.String(), nullable=True),
        sa.Column("award_key", sa.String(), nullable=True),
        _ts("awarded_at"),
    )
    op.create_index("ix_points_ledger_partner_id", "points_ledger", ["partner_id"])
    op.create_index("ix_points_ledger_award_key", "points_ledger", ["award_key"], unique=True)
    op.create_table(
        "segment_membership",
        sa.Column("id", sa.Integer(), primary_key=True, nullable=False),
        _partner(),
        sa.Column("segment", sa.String(), nullable=False),
        _ts("entered_at"),
        _ts("left_at", nullable=True),
    )
    op.create_index("ix_segment_membership_partner_id", "segment_membership", ["partner_id"])
    op.create_index(
        "ix_segment_membership_segment_left", "segment_membership", ["segment", "left_at"]
    )


def downgrade() -> None:
    op.drop_table("segment_membership")
    op.drop_table("points_ledger")
    op.drop_table("step_completion")
    op.drop_table("track_enrolment")
