"""Per-room MLS epoch and latest GroupInfo, for the Delivery Service rules.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "room_groups",
        sa.Column("room_id", sa.Text(), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("group_info", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(
            ["room_id"], ["rooms.room_id"], name="fk_room_groups_room_id_rooms"
        ),
        sa.PrimaryKeyConstraint("room_id", name="pk_room_groups"),
    )


def downgrade() -> None:
    op.drop_table("room_groups")
