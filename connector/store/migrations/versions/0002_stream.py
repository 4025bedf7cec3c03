"""The change log as a stream: each entry's source and echo flag, and consumer offsets.

Revision ID: 0002_stream
Revises: 0001
Create Date: 2026-11-30

``change_log.id`` is the stream's sequence. A consumer (triggers, outbox, ...) keeps the last
sequence it has handled in ``consumer_offset`` and commits it with its own effects.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_stream"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("change_log") as batch:
        batch.add_column(sa.Column("source", sa.String(), server_default="poll", nullable=False))
        batch.add_column(
            sa.Column("echo", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_table(
        "consumer_offset",
        sa.Column("consumer", sa.String(), primary_key=True, nullable=False),
        sa.Column("seq", sa.Integer(), server_default="0", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("consumer_offset")
    with op.batch_alter_table("change_log") as batch:
        batch.drop_column("echo")
        batch.drop_column("source")
