"""The operations page's audit: every operator action (retry, bulk retry, drop).

Revision ID: 0010_web
Revises: 0009_partner_facts
Create Date: 2026-12-07

``ops_action`` records who did what to which outbox item, when and why, so the page's Audit
view (and a later reviewer) can tell what an operator changed.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_web"
down_revision: str | Sequence[str] | None = "0009_partner_facts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ops_action",
        sa.Column("id", sa.Integer(), primary_key=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("target", sa.String(), nullable=True),
        sa.Column("reason", sa.String(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
    )
    op.create_index("ix_ops_action_at", "ops_action", ["at"])


def downgrade() -> None:
    op.drop_index("ix_ops_action_at", table_name="ops_action")
    op.drop_table("ops_action")
