"""The operations page: its audit of operator actions, and an index its outbox list reads by.

Revision ID: 0014_web
Revises: 0009_partner_facts
Create Date: 2026-12-07

``ops_action`` records who did what to which outbox item, when and why, so the page's Audit
view (and a later reviewer) can tell what an operator changed. ``ix_outbox_item_status_updated``
serves the outbox list (by status, newest change first) and the bulk retry's bound,
``ix_outbox_item_status_code`` the dead letters grouped by error code and the list by code; the
``sf_id`` and ``local_id`` indexes its search by Salesforce or local id.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_web"
down_revision = "0013_pubsub"
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
    op.create_index("ix_outbox_item_status_updated", "outbox_item", ["status", "updated_at"])
    op.create_index(
        "ix_outbox_item_status_code", "outbox_item", ["status", "error_code", "updated_at"]
    )
    op.create_index("ix_outbox_item_sf_id", "outbox_item", ["sf_id"])
    op.create_index("ix_outbox_item_local_id", "outbox_item", ["local_id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_item_local_id", table_name="outbox_item")
    op.drop_index("ix_outbox_item_sf_id", table_name="outbox_item")
    op.drop_index("ix_outbox_item_status_code", table_name="outbox_item")
    op.drop_index("ix_outbox_item_status_updated", table_name="outbox_item")
    op.drop_index("ix_ops_action_at", table_name="ops_action")
    op.drop_table("ops_action")
