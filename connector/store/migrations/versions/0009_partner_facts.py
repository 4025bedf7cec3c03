"""Partner facts from Salesforce: Account Partner_Type__c, BillingCountry and Industry.

Revision ID: 0009_partner_facts
Revises: 0008_merge
Create Date: 2026-11-30

Programs and triggers read them as ``partner.type``, ``partner.country`` and
``partner.industry``; typed columns (rather than the ``extra`` JSON) let segment previews read
them for every partner in one query.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_partner_facts"
down_revision: str | Sequence[str] | None = "0008_merge"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("partner_type", "billing_country", "industry")


def upgrade() -> None:
    for name in COLUMNS:
        op.add_column("partner", sa.Column(name, sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("partner") as batch:
        for name in reversed(COLUMNS):
            batch.drop_column(name)
