"""links indexed by (mention_id, position): a post's links come back in order without a sort

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_links_mention_id_position"), ["mention_id", "position"], unique=False
        )
        batch_op.drop_index(batch_op.f("ix_links_mention_id"))


def downgrade() -> None:
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_links_mention_id"), ["mention_id"], unique=False)
        batch_op.drop_index(batch_op.f("ix_links_mention_id_position"))
