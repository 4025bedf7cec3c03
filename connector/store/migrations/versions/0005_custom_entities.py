"""Admin-defined entities: one generic table for entities mapping.yaml adds.

Revision ID: 0005_custom_entities
Revises: 0001
Create Date: 2026-11-30

An entity with no table of its own (Contact, Lead, a custom object) keeps its records in
``custom_record``: one row per (entity, sf_id), its mapped fields as JSON in ``values``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_custom_entities"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "custom_record",
        sa.Column("id", sa.Integer(), primary_key=True, nullable=False),
        sa.Column("entity", sa.String(), nullable=False),
        sa.Column("sf_id", sa.String(), nullable=True),
        sa.Column("sf_modstamp", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sf_last_modified_by", sa.String(), nullable=True),
        sa.Column("is_deleted", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("values", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("entity", "sf_id", name="uq_custom_record_entity_sf_id"),
    )
    op.create_index("ix_custom_record_entity_id", "custom_record", ["entity", "id"])


def downgrade() -> None:
    op.drop_index("ix_custom_record_entity_id", table_name="custom_record")
    op.drop_table("custom_record")
