"""Push notifications: where each came from, what processing it found, and its failures.

Revision ID: 0006_daemon
Revises: 0001
Create Date: 2026-11-30

The daemon's receiver stores every Outbound Message notification and signed webhook event in
``received_notification`` before acknowledging it; the push worker fetches the records, runs
them through the inbound pipeline and stamps ``processed_at`` with an ``outcome``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_daemon"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("received_notification") as batch:
        batch.add_column(
            sa.Column("source", sa.String(), server_default="outbound", nullable=False)
        )
        batch.add_column(sa.Column("outcome", sa.String(), nullable=True))
        batch.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("last_error", sa.String(), nullable=True))
    op.create_index(
        "ix_received_notification_processed_at", "received_notification", ["processed_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_received_notification_processed_at", "received_notification")
    with op.batch_alter_table("received_notification") as batch:
        batch.drop_column("last_error")
        batch.drop_column("attempts")
        batch.drop_column("outcome")
        batch.drop_column("source")
