"""The SHA-256 of each MLS message body, unique per room, so that a replayed message is refused.

Rows stored before this revision keep a NULL digest: hashing them here could not tell MLS bodies
from plaintext ones, and a replay of one of those old messages is refused anyway once the room's
epoch has moved on (``stale_epoch``).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("events", sa.Column("digest", sa.LargeBinary(), nullable=True))
    op.create_index("ix_events_room_id_digest", "events", ["room_id", "digest"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_events_room_id_digest", table_name="events")
    op.drop_column("events", "digest")
