"""value_why per mention (the components that carried its value) and the values of the mentions already stored;
page_checks (the latest health check of each linked own page)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from tracker.value import Signals, rate

TIMESTAMP = sa.DateTime(timezone=True)
BATCH = 1000

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mentions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("value_why", sa.Text(), nullable=True))
    op.create_table(
        "page_checks",
        sa.Column("canonical_url", sa.Text(), nullable=False),
        sa.Column("domain", sa.String(length=255), nullable=False),
        sa.Column("checked_at", TIMESTAMP, nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("final_url", sa.Text(), nullable=True),
        sa.Column("redirects", sa.Text(), nullable=False),
        sa.Column("noindex", sa.Boolean(), nullable=False),
        sa.Column("canonical_tag", sa.Text(), nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("broken", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("canonical_url", name=op.f("pk_page_checks")),
    )
    op.create_index(op.f("ix_page_checks_checked_at"), "page_checks", ["checked_at"], unique=False)
    _rate_stored_mentions()


def _when(value: object) -> datetime | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    assert isinstance(moment, datetime)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _rate_stored_mentions() -> None:
    """What ingest would have stored: each mention's value, its engagement as last seen."""
    conn = op.get_bind()
    select = sa.text(
        "SELECT m.id, m.platform, m.kind, m.reach, m.engagement, m.community_size, m.created_at, m.last_seen_at, "
        "(SELECT l.anchor_text FROM links l WHERE l.mention_id = m.id ORDER BY l.position LIMIT 1) "
        "FROM mentions m WHERE m.id > :after ORDER BY m.id LIMIT :batch"
    )
    update = sa.text("UPDATE mentions SET value = :value, value_why = :why WHERE id = :id")
    after = 0
    while True:
        rows = conn.execute(select, {"after": after, "batch": BATCH}).all()
        if not rows:
            return
        changes = []
        for row_id, platform, kind, audience, engagement, size, created, seen, anchor in rows:
            rating = rate(
                Signals(
                    platform=platform, kind=kind, reach=audience, engagement=engagement, community_size=size,
                    created_at=_when(created), observed_at=_when(seen), anchor_text=anchor,
                )
            )  # fmt: skip
            changes.append({"value": rating.value, "why": rating.why(), "id": row_id})
        conn.execute(update, changes)
        after = rows[-1][0]


def downgrade() -> None:
    op.drop_index(op.f("ix_page_checks_checked_at"), table_name="page_checks")
    op.drop_table("page_checks")
    with op.batch_alter_table("mentions", schema=None) as batch_op:
        batch_op.drop_column("value_why")
