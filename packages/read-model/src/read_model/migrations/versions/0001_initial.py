"""Initial read model: group chats, members, messages, projection positions and parked events.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out here rather than imported from read_model.schema, so that this revision keeps
# creating exactly these tables whatever the code looks like later. See UtcTimestamp there:
# epoch milliseconds on SQLite, timestamp(3) with time zone on PostgreSQL.
_TIMESTAMP = sa.BigInteger().with_variant(
    postgresql.TIMESTAMP(timezone=True, precision=3), "postgresql"
)
_ID = sa.String(64)


def upgrade() -> None:
    op.create_table(
        "group_chats",
        sa.Column("id", _ID, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("owner_id", _ID, nullable=False),
        sa.Column("disabled", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("updated_at", _TIMESTAMP, nullable=False),
        sa.Column("last_seq_nr", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_group_chats"),
    )
    op.create_table(
        "members",
        sa.Column("id", _ID, nullable=False),
        sa.Column("group_chat_id", _ID, nullable=False),
        sa.Column("user_account_id", _ID, nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("disabled", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("updated_at", _TIMESTAMP, nullable=False),
        sa.Column("last_seq_nr", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_chat_id"], ["group_chats.id"], name="fk_members_group_chat_id_group_chats"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_members"),
        sa.UniqueConstraint(
            "group_chat_id", "user_account_id", name="uq_members_group_chat_id_user_account_id"
        ),
    )
    op.create_index(
        "ix_members_user_account_id_group_chat_id",
        "members",
        ["user_account_id", "group_chat_id"],
    )
    op.create_table(
        "messages",
        sa.Column("id", _ID, nullable=False),
        sa.Column("group_chat_id", _ID, nullable=False),
        sa.Column("user_account_id", _ID, nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("disabled", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("updated_at", _TIMESTAMP, nullable=False),
        sa.Column("last_seq_nr", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_chat_id"], ["group_chats.id"], name="fk_messages_group_chat_id_group_chats"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_messages"),
    )
    op.create_index(
        "ix_messages_group_chat_id_created_at_id",
        "messages",
        ["group_chat_id", "created_at", "id"],
    )
    op.create_table(
        "projection_positions",
        sa.Column("aggregate_id", _ID, nullable=False),
        sa.Column("seq_nr", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("aggregate_id", name="pk_projection_positions"),
    )
    op.create_table(
        "projection_checkpoints",
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_projection_checkpoints"),
    )
    op.create_table(
        "parked_events",
        sa.Column("aggregate_id", _ID, nullable=False),
        sa.Column("seq_nr", sa.BigInteger(), nullable=False),
        sa.Column("event_id", _ID, nullable=True),
        sa.Column("event_type", sa.String(128), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=True),
        sa.Column("parked_at", _TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("aggregate_id", "seq_nr", name="pk_parked_events"),
    )


def downgrade() -> None:
    op.drop_table("parked_events")
    op.drop_table("projection_checkpoints")
    op.drop_table("projection_positions")
    op.drop_index("ix_messages_group_chat_id_created_at_id", table_name="messages")
    op.drop_table("messages")
    op.drop_index("ix_members_user_account_id_group_chat_id", table_name="members")
    op.drop_table("members")
    op.drop_table("group_chats")
