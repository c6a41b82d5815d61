"""The database tables (SQLAlchemy Core). Alembic migrations in ``tracker/migrations`` create them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.sqlite import DATETIME as SQLITE_DATETIME
from sqlalchemy.types import TypeDecorator, TypeEngine

# The newest migration; the store skips Alembic entirely when the database is already there.
HEAD_REVISION = "0008"

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class _SQLiteText(SQLITE_DATETIME):
    """DATETIME on SQLite without SQLAlchemy's own conversion: :class:`UTCDateTime` formats and parses."""

    def bind_processor(self, dialect: Dialect) -> None:
        return None

    def result_processor(self, dialect: Dialect, coltype: object) -> None:
        return None


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes: ``timestamptz`` on PostgreSQL; on SQLite naive UTC text
    (``2026-11-17 09:15:02.000000``, which sorts and compares like the times it holds)."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return _SQLiteText()  # type: ignore[no-untyped-call]
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}; the store keeps UTC-aware times only")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None).isoformat(" ", "microseconds")
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


Id = BigInteger().with_variant(Integer(), "sqlite")  # SQLite only auto-increments INTEGER PRIMARY KEY

mentions = Table(
    "mentions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("platform", String(32), nullable=False),
    Column("platform_id", String(512), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("permalink", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("author_id", Text),
    Column("author_handle", Text),
    Column("author_name", Text),
    Column("author_followers", BigInteger),
    Column("community", Text),
    Column("title", Text),
    Column("text", Text),
    Column("lang", String(32)),
    Column("thread_id", Text),
    Column("parent_id", Text),
    Column("likes", BigInteger),
    Column("reposts", BigInteger),
    Column("replies", BigInteger),
    Column("quotes", BigInteger),
    Column("score", BigInteger),
    Column("views", BigInteger),
    Column("engagement", BigInteger),
    Column("deleted_at", UTCDateTime),
    Column("raw", Text),
    Column("content_hash", String(32)),
    Column("found_by", String(128)),
    Column("refresh_due_at", UTCDateTime),  # next engagement refresh (+1 h, +24 h, +7 d after posting)
    Column("community_size", BigInteger),
    Column("reach", BigInteger),  # tracker.record.reach of the stored values, kept by the page writer
    Column("value", Integer),  # 0-100, how much the link is worth to the linked site (tracker.value)
    Column(
        "value_why", Text
    ),  # the components that carried the value, e.g. "audience 21, lasting platform 14"
    UniqueConstraint("platform", "platform_id"),
    Index(None, "created_at"),
    Index(None, "refresh_due_at"),
    # "a new community": was there a mention from it in the 12 weeks before? (a seek per community)
    Index(
        "ix_mentions_platform_community_created_at",
        "platform",
        "community",
        "created_at",
        sqlite_where=text("community IS NOT NULL"),
        postgresql_where=text("community IS NOT NULL"),
    ),
)

links = Table(
    "links",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("mention_id", Id, ForeignKey("mentions.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("url", Text, nullable=False),
    Column("canonical_url", Text, nullable=False),
    Column("domain", String(255), nullable=False),
    Column("anchor_text", Text),
    Column("source", String(16), nullable=False),
    Index(None, "mention_id", "position"),  # a post's links in order, without a sort
    Index(None, "canonical_url"),
)

metric_snapshots = Table(
    "metric_snapshots",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("mention_id", Id, ForeignKey("mentions.id", ondelete="CASCADE"), nullable=False),
    Column("taken_at", UTCDateTime, nullable=False),
    Column("likes", BigInteger),
    Column("reposts", BigInteger),
    Column("replies", BigInteger),
    Column("quotes", BigInteger),
    Column("score", BigInteger),
    Column("views", BigInteger),
    Index(None, "mention_id"),
)

cursors = Table(
    "cursors",
    metadata,
    Column("connector", String(128), primary_key=True),
    Column("source_key", String(1024), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("state", Text, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

connector_runs = Table(
    "connector_runs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("connector", String(128), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("pages", Integer, nullable=False, default=0),
    Column("fetched", Integer, nullable=False, default=0),
    Column("new", Integer, nullable=False, default=0),
    Column("updated", Integer, nullable=False, default=0),
    Column("deleted", Integer, nullable=False, default=0),
    Column("skipped", Integer, nullable=False, default=0),
    Column("requests", Integer, nullable=False, default=0),
    Column("items_read", Integer, nullable=False, default=0),
    Column("cost_usd", Float, nullable=False, default=0.0),
    Column("counters", Text, nullable=False, default="{}"),
    Column("error", Text),
    Column("pid", Integer),
    Column("host", String(255)),
    Index(None, "connector", "started_at"),
)

coverage_gaps = Table(
    "coverage_gaps",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("connector", String(128), nullable=False),
    Column("source_key", String(1024), nullable=False),
    Column("gap_start", UTCDateTime, nullable=False),
    Column("gap_end", UTCDateTime, nullable=False),
    Column("reason", Text, nullable=False),
    Column("detected_at", UTCDateTime, nullable=False),
    Index(None, "gap_start"),
)

authors = Table(
    "authors",
    metadata,
    Column("platform", String(32), primary_key=True),
    Column("author_id", String(512), primary_key=True),
    Column("handle", Text),
    Column("name", Text),
    Column("followers", BigInteger),
    Column("fetched_at", UTCDateTime, nullable=False),
)

# When each page was first linked (the earliest post linking to it): kept by the page writer, so "first linked"
# and "new page" never walk the history.
pages = Table(
    "pages",
    metadata,
    Column("canonical_url", Text, primary_key=True),
    Column("domain", String(255), nullable=False),
    Column("first_linked_at", UTCDateTime, nullable=False),
    Index(None, "first_linked_at"),
)

# The latest health check of each linked own page (tracker.page_checks): what it answered, where it redirects,
# whether search engines may index it. One row per page, replaced by each check.
page_checks = Table(
    "page_checks",
    metadata,
    Column("canonical_url", Text, primary_key=True),
    Column("domain", String(255), nullable=False),
    Column("checked_at", UTCDateTime, nullable=False),
    Column("status", Integer),  # the final answer's HTTP status; NULL when there was none (see error)
    Column("final_url", Text),
    Column("redirects", Text, nullable=False, default="[]"),  # JSON: [{"status": 301, "location": "..."}]
    Column("noindex", Boolean, nullable=False, default=False),
    Column("canonical_tag", Text),
    Column("title", Text),
    Column("error", Text),  # no answer, a refused address, a redirect off the own domains
    Column("broken", Boolean, nullable=False, default=False),  # 4xx/5xx or no answer
    Index(None, "checked_at"),
)

# When each author (by platform author id, else handle) was first seen posting a mention, for "new authors".
author_firsts = Table(
    "author_firsts",
    metadata,
    Column("platform", String(32), primary_key=True),
    Column("author_key", Text, primary_key=True),
    Column("first_mention_at", UTCDateTime, nullable=False),
    Index(None, "first_mention_at"),
)

# Small facts the daemon shares with `tracker status`: the leader, each job's next run.
daemon_state = Table(
    "daemon_state",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# What a connector keeps between passes besides its cursors (X's read ledger, Bluesky's q=* memo): JSON values
# under keys of the connector instance's own, written in the transaction of the page they belong to.
connector_state = Table(
    "connector_state",
    metadata,
    Column("connector", String(128), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Short links resolved by their redirect headers (CONTRACT §2): each is looked up once; a failed lookup
# (``target`` null) is tried again after ``retry_at``.
short_links = Table(
    "short_links",
    metadata,
    Column("url", String(2048), primary_key=True),
    Column("target", Text),
    Column("error", Text),
    Column("requests", Integer, nullable=False),
    Column("resolved_at", UTCDateTime, nullable=False),
    Column("retry_at", UTCDateTime),
    Index(None, "resolved_at"),
)

# Posts whose links to us may hide behind short links not resolved yet: stored (or dropped) once they are.
waiting_mentions = Table(
    "waiting_mentions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("connector", String(128), nullable=False),
    Column("platform", String(32), nullable=False),
    Column("platform_id", String(512), nullable=False),
    Column("mention", Text, nullable=False),  # the mention as the connector gave it, JSON
    Column("short_urls", Text, nullable=False),  # JSON list
    Column("refresh_kinds", Text),  # JSON list of the kinds the connector can refresh
    Column("queued_at", UTCDateTime, nullable=False),
    UniqueConstraint("platform", "platform_id"),
    Index(None, "queued_at"),
)

# The alert outbox (CONTRACT §6): each event is written in the transaction of the data that caused it; the sender
# routes it to the matching rules' channels (``routed_at``) in one transaction, then delivers each.
alert_events = Table(
    "alert_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("event", String(32), nullable=False),
    Column("dedupe_key", String(2048), nullable=False),  # the same fact decided twice is one event
    Column("domain", String(255)),
    Column("platform", String(32)),
    Column("mention_id", Id),
    Column("connector", String(128)),
    Column("payload", Text, nullable=False),  # JSON: the page, the threshold, the lost link, ...
    Column("created_at", UTCDateTime, nullable=False),
    Column("routed_at", UTCDateTime),
    UniqueConstraint("dedupe_key"),
    Index(None, "routed_at"),
)

# One row per (event, rule, channel): pending until the channel accepts it (sent) or 24 h of retries pass
# (failed). ``delivery_id`` is X-Tracker-Delivery; a digest sends the rows of one ``batch_id`` together.
alert_deliveries = Table(
    "alert_deliveries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("event_id", Id, ForeignKey("alert_events.id", ondelete="CASCADE"), nullable=False),
    Column("rule", String(64), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("delivery_id", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("body", Text, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", UTCDateTime, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("last_attempt_at", UTCDateTime),
    Column("sent_at", UTCDateTime),
    Column("last_error", Text),
    Column("batch_id", String(64)),
    UniqueConstraint("event_id", "rule", "channel"),
    Index(None, "status", "next_attempt_at"),
    Index(None, "rule", "channel", "status"),
)
