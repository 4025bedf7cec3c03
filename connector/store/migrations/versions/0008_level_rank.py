"""ChannelProgramLevel.Rank is an int in Salesforce's describe: the local column follows.

Revision ID: 0008_level_rank
Revises: 0001
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_level_rank"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("level") as batch:
        batch.alter_column(
            "rank",
            existing_type=sa.Float(),
            type_=sa.Integer(),
            postgresql_using="rank::integer",
        )


def downgrade() -> None:
    with op.batch_alter_table("level") as batch:
        batch.alter_column("rank", existing_type=sa.Integer(), type_=sa.Float())
