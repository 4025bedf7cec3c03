"""Join the schema branches built side by side (stream, triggers, outbox, custom entities,
daemon, programs) into one head, so later revisions have a single parent.

Revision ID: 0008_merge
Revises: 0002_stream, 0003_triggers, 0004_outbox, 0005_custom_entities, 0006_daemon,
    0007_programs
Create Date: 2026-11-30
"""

from collections.abc import Sequence

revision: str = "0008_merge"
down_revision: str | Sequence[str] | None = (
    "0002_stream",
    "0003_triggers",
    "0004_outbox",
    "0005_custom_entities",
    "0006_daemon",
    "0007_programs",
)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Nothing to change: the branches touch different tables."""


def downgrade() -> None:
    """Nothing to undo."""
