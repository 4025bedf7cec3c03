"""Change Data Capture subscriptions: replay position and gap counters per topic.

Revision ID: 0013_pubsub
Revises: 0009_partner_facts
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_pubsub"
down_revision = "0012_robust"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cdc_subscription",
        sa.Column("topic", sa.String(), nullable=False),
        sa.Column("entity", sa.String(), nullable=False),
        sa.Column("replay_id", sa.String(), nullable=True),
        sa.Column("commit_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("detail", sa.String(), nullable=True),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("gaps", sa.Integer(), nullable=False),
        sa.Column("repolls", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("topic"),
    )


def downgrade() -> None:
    op.drop_table("cdc_subscription")
