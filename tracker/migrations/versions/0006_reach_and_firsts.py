"""reach, value and community_size per mention; pages and author_firsts (when each page was first linked and
each author first seen, kept at ingest so reports need not walk the history); mentions by community

Revision ID: 0006
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

TIMESTAMP = sa.DateTime(timezone=True)

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mentions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("community_size", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("reach", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("value", sa.Integer(), nullable=True))
    op.create_index(
        "ix_mentions_platform_community_created_at",
        "mentions",
        ["platform", "community", "created_at"],
        unique=False,
        sqlite_where=sa.text("community IS NOT NULL"),
        postgresql_where=sa.text("community IS NOT NULL"),
    )
    op.create_table(
        "pages",
        sa.Column("canonical_url", sa.Text(), nullable=False),
        sa.Column("domain", sa.String(length=255), nullable=False),
        sa.Column("first_linked_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("canonical_url", name=op.f("pk_pages")),
    )
    op.create_index(op.f("ix_pages_first_linked_at"), "pages", ["first_linked_at"], unique=False)
    op.create_table(
        "author_firsts",
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("author_key", sa.Text(), nullable=False),
        sa.Column("first_mention_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("platform", "author_key", name=op.f("pk_author_firsts")),
    )
    op.create_index(
        op.f("ix_author_firsts_first_mention_at"), "author_firsts", ["first_mention_at"], unique=False
    )
    # What ingest would have written, for the mentions already stored (views or followers: no community
    # sizes were kept before).
    op.execute("UPDATE mentions SET reach = COALESCE(views, author_followers)")
    op.execute(
        "INSERT INTO pages (canonical_url, domain, first_linked_at) "
        "SELECT l.canonical_url, MIN(l.domain), MIN(m.created_at) FROM links l JOIN mentions m ON m.id = l.mention_id "
        "GROUP BY l.canonical_url"
    )
    op.execute(
        "INSERT INTO author_firsts (platform, author_key, first_mention_at) "
        "SELECT platform, COALESCE(author_id, author_handle), MIN(created_at) FROM mentions "
        "WHERE COALESCE(author_id, author_handle) IS NOT NULL GROUP BY platform, COALESCE(author_id, author_handle)"
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_author_firsts_first_mention_at"), table_name="author_firsts")
    op.drop_table("author_firsts")
    op.drop_index(op.f("ix_pages_first_linked_at"), table_name="pages")
    op.drop_table("pages")
    op.drop_index("ix_mentions_platform_community_created_at", table_name="mentions")
    with op.batch_alter_table("mentions", schema=None) as batch_op:
        batch_op.drop_column("value")
        batch_op.drop_column("reach")
        batch_op.drop_column("community_size")
