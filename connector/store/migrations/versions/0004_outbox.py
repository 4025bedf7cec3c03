"""Write-back bookkeeping: coalescing key, conflict base and results on outbox items, what the
connector last wrote to each record (echo detection), and the conflicts it resolved.

Revision ID: 0004_outbox
Revises: 0001
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_outbox"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, *, nullable: bool = True) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("outbox_item") as batch:
        # the record a write goes to (sf_id, or "PRM_Key__c=value"): writes to one record coalesce
        batch.add_column(sa.Column("record_key", sa.String(), nullable=True))
        # the change-log sequence when it was queued: later Salesforce edits are conflicts
        batch.add_column(sa.Column("base_seq", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("error_code", sa.String(), nullable=True))
        batch.add_column(sa.Column("error_fields", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("result_id", sa.String(), nullable=True))
        batch.add_column(sa.Column("written", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("reason", sa.String(), nullable=True))
        batch.add_column(_ts("done_at"))
    op.create_index("ix_outbox_item_record_key", "outbox_item", ["record_key"])
    op.create_table(
        "outbox_written",
        sa.Column("sobject", sa.String(), primary_key=True, nullable=False),
        sa.Column("record_key", sa.String(), primary_key=True, nullable=False),
        sa.Column("sf_id", sa.String(), nullable=True),
        sa.Column("entity", sa.String(), nullable=True),
        sa.Column("fields", sa.JSON(), nullable=True),
        sa.Column("item_id", sa.String(), nullable=True),
        _ts("written_at", nullable=False),
    )
    op.create_index("ix_outbox_written_sf_id", "outbox_written", ["sobject", "sf_id"])
    op.create_table(
        "outbox_conflict",
        sa.Column("id", sa.Integer(), primary_key=True, nullable=False),
        sa.Column("item_id", sa.String(), nullable=False),
        sa.Column("entity", sa.String(), nullable=False),
        sa.Column("sobject", sa.String(), nullable=False),
        sa.Column("sf_id", sa.String(), nullable=True),
        sa.Column("field", sa.String(), nullable=False),
        sa.Column("prm_value", sa.JSON(), nullable=True),
        sa.Column("crm_value", sa.JSON(), nullable=True),
        sa.Column("policy", sa.String(), nullable=False),
        sa.Column("winner", sa.String(), nullable=False),
        sa.Column("change_seq", sa.Integer(), nullable=True),
        _ts("detected_at", nullable=False),
    )
    op.create_index(
        "ix_outbox_conflict_item_field", "outbox_conflict", ["item_id", "field"], unique=True
    )


def downgrade() -> None:
    op.drop_table("outbox_conflict")
    op.drop_table("outbox_written")
    op.drop_index("ix_outbox_item_record_key", "outbox_item")
    with op.batch_alter_table("outbox_item") as batch:
        for name in (
            "done_at", "reason", "written", "result_id", "error_fields", "error_code",
            "base_seq", "record_key",
        ):
            batch.drop_column(name)
