"""Trigger audit: every decision with its inputs, and deferred effects (tier downgrades).

Revision ID: 0003_triggers
Revises: 0001
Create Date: 2026-11-30

``trigger_firing`` (0001) keeps the unique firing keys; ``trigger_decision`` keeps every
decision (fired, not fired, dry run, error) for ``triggers log`` and ``status``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_triggers"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "trigger_decision",
        sa.Column("id", sa.Integer(), primary_key=True, nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.String(), nullable=True),
        sa.Column("trigger_id", sa.String(), nullable=False),
        sa.Column("entity", sa.String(), nullable=False),
        sa.Column("local_id", sa.Integer(), nullable=True),
        sa.Column("sf_id", sa.String(), nullable=True),
        sa.Column("change_seq", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("branch", sa.String(), nullable=True),
        sa.Column("stage", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=True),
        sa.Column("firing_key", sa.String(), nullable=True),
        sa.Column("inputs", sa.JSON(), nullable=True),
        sa.Column("actions", sa.JSON(), nullable=True),
        sa.Column("outbox_ids", sa.JSON(), nullable=True),
    )
    op.create_index(
        "ix_trigger_decision_rule_at", "trigger_decision", ["trigger_id", "decided_at"]
    )
    op.create_index("ix_trigger_decision_record", "trigger_decision", ["entity", "local_id"])
    op.create_table(
        "trigger_pending",
        sa.Column("key", sa.String(), primary_key=True, nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("entity", sa.String(), nullable=False),
        sa.Column("local_id", sa.Integer(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_trigger_pending_due_at", "trigger_pending", ["due_at"])


def downgrade() -> None:
    op.drop_index("ix_trigger_pending_due_at", table_name="trigger_pending")
    op.drop_table("trigger_pending")
    op.drop_index("ix_trigger_decision_record", table_name="trigger_decision")
    op.drop_index("ix_trigger_decision_rule_at", table_name="trigger_decision")
    op.drop_table("trigger_decision")
