"""Outbox items carry a sequence: the order they were queued in.

Revision ID: 0010_outbox
Revises: 0009_partner_facts
Create Date: 2026-12-07

Items queued in one transaction share ``created_at`` and their ids are hashes, so ordering by
(created_at, id) wrote a middle value of three changes to one field. ``seq`` is assigned at
insert, increasing, in the order the items were queued; existing items are numbered by
(created_at, id), the order they had before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_outbox"
down_revision: str | Sequence[str] | None = "0009_partner_facts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("outbox_item", sa.Column("seq", sa.Integer(), nullable=True))
    items = sa.table("outbox_item", sa.column("id", sa.String()),
                     sa.column("created_at", sa.DateTime(timezone=True)),
                     sa.column("seq", sa.Integer()))
    conn = op.get_bind()
    ids = conn.execute(sa.select(items.c.id).order_by(items.c.created_at, items.c.id)).scalars()
    params = [{"b_id": item_id, "b_seq": n} for n, item_id in enumerate(ids, start=1)]
    if params:
        conn.execute(
            items.update().where(items.c.id == sa.bindparam("b_id"))
            .values(seq=sa.bindparam("b_seq")),
            params,
        )
    op.create_index("ix_outbox_item_seq", "outbox_item", ["seq"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_outbox_item_seq", "outbox_item")
    with op.batch_alter_table("outbox_item") as batch:
        batch.drop_column("seq")
