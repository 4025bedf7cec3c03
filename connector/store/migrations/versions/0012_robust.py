"""Deal registrations carry their end customer's normalised name and domain, indexed.

Revision ID: 0012_robust
Revises: 0009_partner_facts
Create Date: 2026-12-07

The conflict check (triggers/conflict.py) used to read every active registration and compare
them in Python; with the keys stored (connector/store/customer.py derives them on every write)
it is two index lookups. Existing rows are keyed here.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_robust"
down_revision = "0011_lease"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "deal_registration"
COLUMNS = ("customer_name_key", "customer_domain_key")
BATCH = 2000


def upgrade() -> None:
    for name in COLUMNS:
        op.add_column(TABLE, sa.Column(name, sa.String(), nullable=True))
        op.create_index(f"ix_{TABLE}_{name}", TABLE, [name], unique=False)
    _key_existing_rows()


def _key_existing_rows() -> None:
    from connector.store.customer import derived_values

    conn = op.get_bind()
    table = sa.table(
        TABLE, sa.column("id", sa.Integer), sa.column("end_customer_name", sa.String),
        sa.column("end_customer_domain", sa.String),
        *(sa.column(name, sa.String) for name in COLUMNS),
    )
    last = 0
    while True:
        rows = conn.execute(
            sa.select(table.c.id, table.c.end_customer_name, table.c.end_customer_domain)
            .where(table.c.id > last).order_by(table.c.id).limit(BATCH)
        ).all()
        if not rows:
            return
        params = [
            {"b_id": row[0], **{
                f"b_{k}": v for k, v in derived_values(
                    TABLE, {"end_customer_name": row[1], "end_customer_domain": row[2]}
                ).items()
            }}
            for row in rows
        ]
        conn.execute(
            table.update().where(table.c.id == sa.bindparam("b_id"))
            .values({name: sa.bindparam(f"b_{name}") for name in COLUMNS}),
            params,
        )
        last = rows[-1][0]


def downgrade() -> None:
    for name in reversed(COLUMNS):
        op.drop_index(f"ix_{TABLE}_{name}", table_name=TABLE)
    with op.batch_alter_table(TABLE) as batch:
        for name in reversed(COLUMNS):
            batch.drop_column(name)
