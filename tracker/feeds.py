"""Atom feeds (CONTRACT §6): ``<output_dir>/feeds/<domain>.atom`` per own domain and ``all.atom``, each the
newest 100 live mentions; entry id ``platform:platform_id``, link the permalink, the linked page and anchor
text in the summary. Each file is written to a temporary name and renamed over the old one, so a reader never
sees half a feed. :class:`FeedWriter` rewrites them when something new was stored (or deleted) since."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from xml.etree import ElementTree as ET

from sqlalchemy import func, select

from tracker.record import Link, Mention, format_utc
from tracker.schema import links, mentions
from tracker.settings import Config
from tracker.store import Store, mention_from_row

NEWEST = 100
ATOM = "http://www.w3.org/2005/Atom"
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: str | None) -> str:
    return _NOT_XML.sub("", text or "")


def newest(store: Store, domains: Sequence[str], limit: int = NEWEST) -> list[Mention]:
    """The newest ``limit`` live mentions linking to one of ``domains``, newest first, with their links."""
    linking = select(links.c.mention_id).where(links.c.domain.in_(list(domains)))
    query = (
        select(mentions)
        .where(mentions.c.deleted_at.is_(None), mentions.c.id.in_(linking))
        .order_by(mentions.c.created_at.desc(), mentions.c.id.desc())
        .limit(limit)
    )
    with store.read() as conn:
        rows = conn.execute(query).mappings().all()
        by_mention: dict[int, list[Link]] = {}
        ids = [row["id"] for row in rows]
        if ids:
            for link in conn.execute(
                select(links)
                .where(links.c.mention_id.in_(ids))
                .order_by(links.c.mention_id, links.c.position)
            ).mappings():
                by_mention.setdefault(link["mention_id"], []).append(
                    Link(
                        link["url"],
                        link["source"],
                        link["anchor_text"],
                        link["canonical_url"],
                        link["domain"],
                    )
                )
    return [mention_from_row(row, tuple(by_mention.get(row["id"], ()))) for row in rows]


def atom(title: str, feed_id: str, items: Sequence[Mention], domains: Sequence[str], now: datetime) -> bytes:
    """An Atom 1.0 document of ``items``."""
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")
    ET.SubElement(feed, f"{{{ATOM}}}id").text = feed_id
    ET.SubElement(feed, f"{{{ATOM}}}title").text = title
    updated = max((m.first_seen_at or m.created_at for m in items), default=now)
    ET.SubElement(feed, f"{{{ATOM}}}updated").text = format_utc(updated)
    author = ET.SubElement(feed, f"{{{ATOM}}}author")
    ET.SubElement(author, f"{{{ATOM}}}name").text = "mention-tracker"
    ET.SubElement(feed, f"{{{ATOM}}}generator").text = "mention-tracker"
    for mention in items:
        entry = ET.SubElement(feed, f"{{{ATOM}}}entry")
        ET.SubElement(entry, f"{{{ATOM}}}id").text = _clean(f"{mention.platform}:{mention.platform_id}")
        who = mention.author_handle or mention.author_name or "someone"
        headline = mention.title or " ".join((mention.text or "").split())[:100] or "a post"
        ET.SubElement(entry, f"{{{ATOM}}}title").text = _clean(f"{mention.platform} · {who}: {headline}")
        ET.SubElement(entry, f"{{{ATOM}}}updated").text = format_utc(
            mention.first_seen_at or mention.created_at
        )
        ET.SubElement(entry, f"{{{ATOM}}}published").text = format_utc(mention.created_at)
        ET.SubElement(entry, f"{{{ATOM}}}link", rel="alternate", href=_clean(mention.permalink))
        entry_author = ET.SubElement(entry, f"{{{ATOM}}}author")
        ET.SubElement(entry_author, f"{{{ATOM}}}name").text = _clean(who)
        lines = []
        for link in mention.links:
            if link.domain in domains:
                page = link.canonical_url or link.url
                lines.append(f"Links to {page}" + (f" (“{link.anchor_text}”)" if link.anchor_text else ""))
        where = ", ".join(x for x in (mention.platform, mention.community) if x)
        summary = "\n".join(
            [
                *dict.fromkeys(lines),
                f"On {where}" + (f", value {mention.value}" if mention.value is not None else ""),
            ]
        )
        ET.SubElement(entry, f"{{{ATOM}}}summary", type="text").text = _clean(summary)
    return bytes(ET.tostring(feed, encoding="utf-8", xml_declaration=True))


def _replace(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, staging = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(staging, 0o644)
        os.replace(staging, path)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise


def write_feeds(config: Config, store: Store, now: datetime) -> list[Path]:
    """Write every feed now; returns their paths."""
    folder = config.reports.output_dir / "feeds"
    own = list(config.own_domains)
    written = []
    for name, domains in [*((d, [d]) for d in own), ("all", own)]:
        path = folder / f"{name}.atom"
        title = f"Mentions of {name}" if name != "all" else "Mentions of " + ", ".join(own)
        _replace(path, atom(title, f"urn:mention-tracker:feed:{name}", newest(store, domains), domains, now))
        written.append(path)
    return written


class FeedWriter:
    """Rewrites the feeds when a mention was stored or deleted since the last time (or they are missing)."""

    def __init__(self, config: Config, store: Store) -> None:
        self.config = config
        self.store = store
        self._seen: tuple[object, ...] | None = None

    def _marker(self) -> tuple[object, ...]:
        with self.store.read() as conn:
            return tuple(conn.execute(select(func.max(mentions.c.id), func.max(mentions.c.deleted_at))).one())

    def maybe_write(self, now: datetime) -> bool:
        marker = self._marker()
        missing = not (self.config.reports.output_dir / "feeds" / "all.atom").exists()
        if marker == self._seen and not missing:
            return False
        write_feeds(self.config, self.store, now)
        self._seen = marker
        return True
