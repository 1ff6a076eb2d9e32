"""Initial schema: accounts, devices, tokens, rooms, events, receipts, mailbox, key directory.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# A migration is frozen history: it spells the schema out instead of importing tables.py.
ms = sa.BigInteger()
blob = sa.LargeBinary()
text = sa.Text()


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("user_id", text, nullable=False),
        sa.Column("password_hash", text, nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", ms, nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_users"),
    )
    op.create_table(
        "invite_codes",
        sa.Column("code", text, nullable=False),
        sa.Column("uses_left", sa.Integer(), nullable=False),
        sa.Column("expires_at", ms, nullable=True),
        sa.Column("created_at", ms, nullable=False),
        sa.PrimaryKeyConstraint("code", name="pk_invite_codes"),
    )
    op.create_table(
        "devices",
        sa.Column("device_id", text, nullable=False),
        sa.Column("user_id", text, nullable=False),
        sa.Column("display_name", text, nullable=False),
        sa.Column("created_at", ms, nullable=False),
        sa.Column("last_seen_at", ms, nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.Column("last_mail_id", ms, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.user_id"], name="fk_devices_user_id_users"),
        sa.PrimaryKeyConstraint("device_id", name="pk_devices"),
    )
    op.create_index("ix_devices_user_id", "devices", ["user_id"])
    op.create_table(
        "refresh_tokens",
        sa.Column("token_hash", blob, nullable=False),
        sa.Column("device_id", text, nullable=False),
        sa.Column("family_id", text, nullable=False),
        sa.Column("rotated_at", ms, nullable=True),
        sa.Column("expires_at", ms, nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.device_id"], name="fk_refresh_tokens_device_id_devices"
        ),
        sa.PrimaryKeyConstraint("token_hash", name="pk_refresh_tokens"),
    )
    op.create_index("ix_refresh_tokens_device_id", "refresh_tokens", ["device_id"])
    op.create_table(
        "rooms",
        sa.Column("room_id", text, nullable=False),
        sa.Column("kind", text, nullable=False),
        sa.Column("name", text, nullable=False),
        sa.Column("created_by", text, nullable=False),
        sa.Column("created_at", ms, nullable=False),
        sa.Column("last_seq", ms, nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.user_id"], name="fk_rooms_created_by_users"
        ),
        sa.PrimaryKeyConstraint("room_id", name="pk_rooms"),
    )
    op.create_table(
        "members",
        sa.Column("room_id", text, nullable=False),
        sa.Column("user_id", text, nullable=False),
        sa.Column("role", text, nullable=False),
        sa.Column("state", text, nullable=False),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.room_id"], name="fk_members_room_id_rooms"),
        sa.ForeignKeyConstraint(["user_id"], ["users.user_id"], name="fk_members_user_id_users"),
        sa.PrimaryKeyConstraint("room_id", "user_id", name="pk_members"),
    )
    op.create_index("ix_members_user_id", "members", ["user_id"])
    op.create_table(
        "events",
        sa.Column("room_id", text, nullable=False),
        sa.Column("seq", ms, nullable=False),
        sa.Column("event_id", text, nullable=False),
        sa.Column("kind", text, nullable=False),
        sa.Column("sender", text, nullable=False),
        sa.Column("sender_device", text, nullable=False),
        sa.Column("client_id", text, nullable=False),
        sa.Column("body", blob, nullable=False),
        sa.Column("ts", ms, nullable=False),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.room_id"], name="fk_events_room_id_rooms"),
        sa.PrimaryKeyConstraint("room_id", "seq", name="pk_events"),
        sa.UniqueConstraint("event_id", name="uq_events_event_id"),
        sa.UniqueConstraint(
            "room_id",
            "sender_device",
            "client_id",
            name="uq_events_room_id_sender_device_client_id",
        ),
    )
    op.create_table(
        "receipts",
        sa.Column("room_id", text, nullable=False),
        sa.Column("user_id", text, nullable=False),
        sa.Column("seq", ms, nullable=False),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.room_id"], name="fk_receipts_room_id_rooms"),
        sa.ForeignKeyConstraint(["user_id"], ["users.user_id"], name="fk_receipts_user_id_users"),
        sa.PrimaryKeyConstraint("room_id", "user_id", name="pk_receipts"),
    )
    op.create_table(
        "mailbox",
        sa.Column("recipient_device", text, nullable=False),
        sa.Column("id", ms, nullable=False, autoincrement=False),
        sa.Column("sender", text, nullable=False),
        sa.Column("sender_device", text, nullable=False),
        sa.Column("kind", text, nullable=False),
        sa.Column("body", blob, nullable=False),
        sa.Column("ts", ms, nullable=False),
        sa.ForeignKeyConstraint(
            ["recipient_device"], ["devices.device_id"], name="fk_mailbox_recipient_device_devices"
        ),
        sa.PrimaryKeyConstraint("recipient_device", "id", name="pk_mailbox"),
    )
    op.create_table(
        "device_keys",
        sa.Column("device_id", text, nullable=False),
        sa.Column("keys", blob, nullable=True),
        sa.Column("last_resort", blob, nullable=True),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.device_id"], name="fk_device_keys_device_id_devices"
        ),
        sa.PrimaryKeyConstraint("device_id", name="pk_device_keys"),
    )
    op.create_table(
        "key_packages",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("device_id", text, nullable=False),
        sa.Column("package", blob, nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.device_id"], name="fk_key_packages_device_id_devices"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_key_packages"),
    )
    op.create_index("ix_key_packages_device_id_id", "key_packages", ["device_id", "id"])


def downgrade() -> None:
    for table in (
        "key_packages",
        "device_keys",
        "mailbox",
        "receipts",
        "events",
        "members",
        "rooms",
        "refresh_tokens",
        "devices",
        "invite_codes",
        "users",
    ):
        op.drop_table(table)
