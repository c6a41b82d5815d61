"""short_links (resolved short links, failures retried after a day) and waiting_mentions (posts waiting for them)

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

TIMESTAMP = sa.DateTime(timezone=True)

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "short_links",
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("target", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("resolved_at", TIMESTAMP, nullable=False),
        sa.Column("retry_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("url", name=op.f("pk_short_links")),
    )
    op.create_index(op.f("ix_short_links_resolved_at"), "short_links", ["resolved_at"], unique=False)
    op.create_table(
        "waiting_mentions",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("connector", sa.String(length=128), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("platform_id", sa.String(length=512), nullable=False),
        sa.Column("mention", sa.Text(), nullable=False),
        sa.Column("short_urls", sa.Text(), nullable=False),
        sa.Column("refresh_kinds", sa.Text(), nullable=True),
        sa.Column("queued_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_waiting_mentions")),
        sa.UniqueConstraint("platform", "platform_id", name=op.f("uq_waiting_mentions_platform_platform_id")),
    )
    op.create_index(op.f("ix_waiting_mentions_queued_at"), "waiting_mentions", ["queued_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_waiting_mentions_queued_at"), table_name="waiting_mentions")
    op.drop_table("waiting_mentions")
    op.drop_index(op.f("ix_short_links_resolved_at"), table_name="short_links")
    op.drop_table("short_links")
