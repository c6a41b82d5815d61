"""engagement refresh schedule on mentions; daemon_state for leadership and next runs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

TIMESTAMP = sa.DateTime(timezone=True)

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mentions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("refresh_due_at", TIMESTAMP, nullable=True))
        batch_op.create_index(batch_op.f("ix_mentions_refresh_due_at"), ["refresh_due_at"], unique=False)
    op.create_table(
        "daemon_state",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_daemon_state")),
    )


def downgrade() -> None:
    op.drop_table("daemon_state")
    with op.batch_alter_table("mentions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mentions_refresh_due_at"))
        batch_op.drop_column("refresh_due_at")
