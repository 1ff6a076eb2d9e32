"""The schema as SQLAlchemy Core metadata; migrations/versions/ must produce exactly this.

Timestamps are integer milliseconds since the epoch. Bodies and key material are opaque bytes.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

users = Table(
    "users",
    metadata,
    Column("user_id", Text, primary_key=True),
    Column("password_hash", Text, nullable=False),
    Column("is_admin", Boolean, nullable=False),
    Column("disabled", Boolean, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

invite_codes = Table(
    "invite_codes",
    metadata,
    Column("code", Text, primary_key=True),
    Column("uses_left", Integer, nullable=False),
    Column("expires_at", BigInteger, nullable=True),
    Column("created_at", BigInteger, nullable=False),
)

devices = Table(
    "devices",
    metadata,
    Column("device_id", Text, primary_key=True),
    Column("user_id", Text, ForeignKey("users.user_id"), nullable=False, index=True),
    Column("display_name", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("last_seen_at", BigInteger, nullable=False),
    Column("revoked", Boolean, nullable=False),
    # Mailbox ids come from this per-device counter rather than a global sequence: bumping it
    # locks the device row, so ids commit in increasing order and an ack of id N can never
    # delete a message N-1 that was still being written.
    Column("last_mail_id", BigInteger, nullable=False),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("token_hash", LargeBinary, primary_key=True),
    Column("device_id", Text, ForeignKey("devices.device_id"), nullable=False, index=True),
    Column("family_id", Text, nullable=False),
    Column("rotated_at", BigInteger, nullable=True),
    Column("expires_at", BigInteger, nullable=False),
)

rooms = Table(
    "rooms",
    metadata,
    Column("room_id", Text, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("created_by", Text, ForeignKey("users.user_id"), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    # Bumped in the transaction that stores each event: the row lock orders a room's writers.
    Column("last_seq", BigInteger, nullable=False),
)

members = Table(
    "members",
    metadata,
    Column("room_id", Text, ForeignKey("rooms.room_id"), primary_key=True),
    Column("user_id", Text, ForeignKey("users.user_id"), primary_key=True),
    Column("role", Text, nullable=False),
    Column("state", Text, nullable=False),
    Index(None, "user_id"),
)

events = Table(
    "events",
    metadata,
    Column("room_id", Text, ForeignKey("rooms.room_id"), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    # Not unique in the schema: 128 random bits make it so, and no read looks it up (0004).
    Column("event_id", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("sender", Text, nullable=False),
    Column("sender_device", Text, nullable=False),
    Column("client_id", Text, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("ts", BigInteger, nullable=False),
    # SHA-256 of an MLS message's body (NULL for member events and plaintext bodies): the index
    # below refuses the same bytes stored twice in a room, a replay (records.event_values).
    Column("digest", LargeBinary, nullable=True),
    # Makes a retried send idempotent.
    UniqueConstraint("room_id", "sender_device", "client_id"),
    Index(None, "room_id", "digest", unique=True),
)

receipts = Table(
    "receipts",
    metadata,
    Column("room_id", Text, ForeignKey("rooms.room_id"), primary_key=True),
    Column("user_id", Text, ForeignKey("users.user_id"), primary_key=True),
    Column("seq", BigInteger, nullable=False),
)

mailbox = Table(
    "mailbox",
    metadata,
    Column("recipient_device", Text, ForeignKey("devices.device_id"), primary_key=True),
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("sender", Text, nullable=False),
    Column("sender_device", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("ts", BigInteger, nullable=False),
)

device_keys = Table(
    "device_keys",
    metadata,
    Column("device_id", Text, ForeignKey("devices.device_id"), primary_key=True),
    Column("keys", LargeBinary, nullable=True),
    # Handed out when the one-time packages run out, and kept.
    Column("last_resort", LargeBinary, nullable=True),
)

key_packages = Table(
    "key_packages",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("device_id", Text, ForeignKey("devices.device_id"), nullable=False),
    Column("package", LargeBinary, nullable=False),
    Index(None, "device_id", "id"),
)

# The Delivery Service's view of each room's MLS group; a room without a row is at epoch 0.
room_groups = Table(
    "room_groups",
    metadata,
    Column("room_id", Text, ForeignKey("rooms.room_id"), primary_key=True),
    # Bumped in the transaction that stores the one commit accepted for the previous epoch.
    Column("epoch", BigInteger, nullable=False),
    # The latest GroupInfo a member published for ``epoch`` (for external joins), or NULL.
    Column("group_info", LargeBinary, nullable=True),
)
