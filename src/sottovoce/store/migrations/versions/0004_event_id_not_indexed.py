"""Drop the UNIQUE constraint on events.event_id; every row is kept.

Nothing looks an event up by its id, and the id is ``$`` and 128 random bits
(``core.ids.new_event_id``), unique without a check. The constraint's index cost every insert a
write to a random leaf page of that index: a whole page of WAL per message at each commit, and
again at each checkpoint. On SQLite the table is rebuilt (batch mode) since a constraint declared
in CREATE TABLE cannot be dropped otherwise; its other constraints and indexes are rebuilt too.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_constraint("uq_events_event_id", type_="unique")


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.create_unique_constraint("uq_events_event_id", ["event_id"])
