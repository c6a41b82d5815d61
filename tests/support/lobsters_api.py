"""A stand-in for Lobsters: the JSON story listings, the comments RSS feed and story/comment lookups.

It serves a pool of recorded stories and comments (read from the recordings folder) the way lobste.rs does:
``/newest.json`` and ``/domains/<domain>.json`` list stories newest first, 25 a page, later pages at
``.../page/N.json``; ``/comments.rss`` lists comments newest first, 20 a page, in the RSS of Lobsters'
``comments/index.rss.builder`` (no recording of it exists, so items are rendered from the recorded comments);
``/s/<id>.json`` and ``/c/<id>.json`` look one up. Paging is in the path, so any query string is a problem
(kept in ``problems``).
"""

from __future__ import annotations

import copy
import json
import re
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from xml.sax.saxutils import escape

from tests.support.http_server import RecordingServer, Reply, Request
from tests.support.recordings import recording
from tracker.record import parse_iso

# Recorded listings of the real site (see the recordings' MANIFEST), all before 2024-09-05 12:00 UTC.
LISTINGS = (
    "lobste.rs-graph__newest.json",  # /newest.json, 2024-09-05
    "lobste.rs-graph__hottest.json",  # /hottest.json, 2024-03-15 (submitter_user objects)
    "compose-lobsters__programming_rust.json",  # /t/programming,rust.json, 2023-02
    "compose-lobsters__meta.json",  # /t/meta.json, 2021-10 to 2023-02
)
DETAILS = ("compose-lobsters__post_details_tdfoqh.json", "compose-lobsters__post_details_d9ucpe.json")
_STORY = re.compile(r"/s/([0-9a-z]+)")


def recorded_json(name: str) -> Any:
    return json.loads(recording("lobsters", name).read_text(encoding="utf-8"))


def host(url: str) -> str:
    found = re.match(r"https?://([^/:?#]+)", url or "")
    name = found.group(1).lower() if found else ""
    return name[4:] if name.startswith("www.") else name


def rss_item(comment: dict[str, Any], story: dict[str, Any]) -> str:
    """One ``<item>`` as Lobsters' comments feed writes it."""
    user = comment["commenting_user"]
    name = user["username"] if isinstance(user, dict) else user
    edited = comment.get("last_edited_at") or comment.get("updated_at") or comment["created_at"]
    link = comment["short_id_url"]
    return (
        f"<item><title>{escape(story['title'])}</title><link>{link}</link><guid>{link}</guid>"
        f"<author>{escape(name)}@lobste.rs ({escape(name)})</author>"
        f"<pubDate>{format_datetime(parse_iso(edited))}</pubDate><comments>{link}</comments>"
        f"<description>{escape(comment['comment'])}</description></item>"
    )


class FakeLobsters:
    """Serves ``stories`` (by short id) and ``comments``; ``fault`` breaks every request until cleared."""

    def __init__(self, server: RecordingServer) -> None:
        self.server = server
        self.stories: dict[str, dict[str, Any]] = {}
        self.comments: dict[str, dict[str, Any]] = {}
        self.fault: str | None = None
        self.extra_fields = False
        self.gone: set[str] = set()  # short ids answered with Lobsters' 404 / 400
        self.script: list[Reply | float] = []  # answers (or delays in seconds) for the next requests
        self.problems: list[str] = []
        for name in LISTINGS:
            for story in recorded_json(name):
                self.stories.setdefault(story["short_id"], story)
        for name in DETAILS:
            details = recorded_json(name)
            for comment in details.pop("comments"):
                self.comments[comment["short_id"]] = comment
            self.stories[details["short_id"]] = details
        self.routes()

    @property
    def url(self) -> str:
        return self.server.url

    def routes(self) -> None:
        """Register every path the pool can answer (the test server routes exact paths)."""
        route = self.server.route
        for prefix, lister in [("/newest", lambda: self.listing(None))] + [
            (f"/domains/{domain}", lambda d=domain: self.listing(d)) for domain in self.domains()
        ]:
            route("GET", f"{prefix}.json", self._page(lister, 1))
            for number in range(2, 60):
                route("GET", f"{prefix}/page/{number}.json", self._page(lister, number))
        route("GET", "/comments.rss", self._feed(1))
        for number in range(2, 60):
            route("GET", f"/comments/page/{number}.rss", self._feed(number))
        for short_id in self.stories:
            route("GET", f"/s/{short_id}.json", self._story(short_id))
        for short_id in self.comments:
            route("GET", f"/c/{short_id}.json", self._comment(short_id))

    def domains(self) -> set[str]:
        return {host(story["url"]) for story in self.stories.values() if story.get("url")}

    def add_story(self, story: dict[str, Any]) -> None:
        self.stories[story["short_id"]] = story
        self.routes()

    def add_comment(self, comment: dict[str, Any]) -> None:
        self.comments[comment["short_id"]] = comment
        self.routes()

    def listing(self, domain: str | None) -> list[dict[str, Any]]:
        stories = [s for s in self.stories.values() if domain is None or host(s.get("url") or "") == domain]
        return sorted(stories, key=_when, reverse=True)

    def _broken(self, request: Request) -> Reply | None:
        if request.query:
            self.problems.append(f"Lobsters pages by path, not by query: {request.path}?{request.query}")
        if self.script:
            step = self.script.pop(0)
            if isinstance(step, Reply):
                return step
            time.sleep(step)  # longer than the client's timeout: it gives up and retries
        if self.fault == "server_error":
            return Reply(503, "<html>503 Service Unavailable</html>", {"Content-Type": "text/html"})
        if self.fault == "rate_limit":
            return Reply(429, "Too Many Requests", {"Retry-After": "2", "Content-Type": "text/plain"})
        if self.fault == "malformed":
            if request.path.endswith(".rss"):
                return Reply(200, b"<rss><channel><item>", {"Content-Type": "application/rss+xml"})
            return Reply(200, b'[{"short_id": "x"', {})
        return None

    def _extra(self, item: dict[str, Any]) -> dict[str, Any]:
        if not self.extra_fields:
            return item
        return {**item, "future_field": {"nested": [1, {"x": None}]}, "karma_v2": 3}

    def _page(self, lister: Any, number: int) -> Any:
        def handle(request: Request) -> Reply:
            broken = self._broken(request)
            if broken is not None:
                return broken
            stories = lister()[(number - 1) * 25 : number * 25]
            return Reply(200, [self._extra({k: v for k, v in s.items() if k != "comments"}) for s in stories])

        return handle

    def comment_story(self, comment: dict[str, Any]) -> dict[str, Any]:
        found = _STORY.search(comment["url"])
        assert found is not None
        return self.stories[found.group(1)]

    def _feed(self, number: int) -> Any:
        def handle(request: Request) -> Reply:
            broken = self._broken(request)
            if broken is not None:
                return broken
            ordered = sorted(self.comments.values(), key=_when, reverse=True)
            page = ordered[(number - 1) * 20 : number * 20]
            items = "".join(rss_item(c, self.comment_story(c)) for c in page)
            body = (
                '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
                'xmlns:atom="http://www.w3.org/2005/Atom"><channel><title>Lobsters: Newest Comments</title>'
                f"<link>https://lobste.rs/</link><description>Newest Comments</description>{items}"
                "</channel></rss>"
            )
            return Reply(200, body, {"Content-Type": "application/rss+xml; charset=utf-8"})

        return handle

    def _story(self, short_id: str) -> Any:
        def handle(request: Request) -> Reply:
            broken = self._broken(request)
            if broken is not None:
                return broken
            if short_id in self.gone:
                return Reply(404, "<html>not found</html>", {"Content-Type": "text/html"})
            story = copy.deepcopy(self.stories[short_id])
            comments = [c for c in self.comments.values() if self.comment_story(c) is self.stories[short_id]]
            story["comments"] = comments
            return Reply(200, self._extra(story))

        return handle

    def _comment(self, short_id: str) -> Any:
        def handle(request: Request) -> Reply:
            broken = self._broken(request)
            if broken is not None:
                return broken
            if short_id in self.gone:
                return Reply(400, "can't find comment", {"Content-Type": "text/plain"})
            return Reply(200, self._extra(self.comments[short_id]))

        return handle


def _when(item: dict[str, Any]) -> datetime:
    """When an item was posted; a test's broken date sorts last."""
    try:
        return parse_iso(item["created_at"])
    except ValueError:
        return datetime(1970, 1, 1, tzinfo=UTC)


def later(moment: datetime, template: dict[str, Any], short_id: str, **changes: Any) -> dict[str, Any]:
    """A copy of a recorded story or comment, posted at ``moment`` under ``short_id``."""
    item = copy.deepcopy(template)
    item.update(short_id=short_id, created_at=moment.isoformat(), **changes)
    for key in ("short_id_url", "comments_url"):
        if key in item:
            item[key] = item[key].replace(template["short_id"], short_id)
    if "url" in item and isinstance(item["url"], str) and "#c_" in item["url"]:
        item["url"] = item["url"].replace(f"#c_{template['short_id']}", f"#c_{short_id}")
    for key in ("last_edited_at", "updated_at"):
        if key in item:
            item[key] = moment.isoformat()
    return item
