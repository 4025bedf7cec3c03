"""The store's writer lease: holder, epoch and expiry, checked by every write transaction.

Revision ID: 0011_lease
Revises: 0009_partner_facts
Create Date: 2026-12-07

One row per lease name (``store``). A standby takes the lease when it has expired or its
holder's session is gone, bumping the epoch; a write transaction whose epoch is no longer the
row's is refused, so a leader that lost the lease cannot write after it (invariant 7).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_lease"
down_revision = "0010_outbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "store_lease",
        sa.Column("name", sa.String(), primary_key=True, nullable=False),
        sa.Column("holder", sa.String(), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("renewed_at", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("store_lease")
