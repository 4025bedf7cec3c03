"""The partner portal: Account Partner_Segments__c and Partner_Eligibility__c.

Revision ID: 0015_portal
Revises: 0014_web
Create Date: 2026-12-07

``partner.segments`` holds the segments the connector writes to the Account; the
``eligibility`` table holds one row per partner and program, track or incentive it qualifies
for (upserted to Salesforce by PRM_Key__c, deleted there when the partner stops qualifying).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_portal"
down_revision: str | Sequence[str] | None = "0014_web"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.add_column("partner", sa.Column("segments", sa.String(), nullable=True))
    op.create_table(
        "eligibility",
        sa.Column("id", sa.Integer(), primary_key=True, nullable=False),
        sa.Column("sf_id", sa.String(), nullable=True),
        _ts("sf_modstamp"),
        sa.Column("sf_last_modified_by", sa.String(), nullable=True),
        sa.Column("is_deleted", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=True),
        _ts("created_at", nullable=False),
        _ts("updated_at", nullable=False),
        sa.Column("name", sa.String(), nullable=True),
        sa.Column("partner", sa.Integer(), sa.ForeignKey("partner.id"), nullable=True),
        sa.Column("kind", sa.String(), nullable=True),
        sa.Column("key", sa.String(), nullable=True),
        sa.Column("why", sa.String(), nullable=True),
        sa.Column("since", sa.Date(), nullable=True),
        sa.Column("prm_key", sa.String(), nullable=True),
    )
    op.create_index("ix_eligibility_sf_id", "eligibility", ["sf_id"], unique=True)
    op.create_index("ix_eligibility_partner", "eligibility", ["partner"], unique=False)
    op.create_index("ix_eligibility_prm_key", "eligibility", ["prm_key"], unique=True)


def downgrade() -> None:
    op.drop_table("eligibility")
    with op.batch_alter_table("partner") as batch:
        batch.drop_column("segments")
