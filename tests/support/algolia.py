"""A stand-in for the Hacker News Algolia API that serves recorded hit objects.

It answers ``/api/v1/search_by_date`` the way Algolia does (tags, a query on the url or text, or no query
with ``tags=(story,comment)`` for every item, ``numericFilters`` on ``created_at_i``, newest first, pages
capped at 1000 hits in all) and checks that every request carries the parameters the connector must send.
"""

from __future__ import annotations

import math
import re
from typing import Any

from tests.support.cassettes import json_file
from tests.support.http_server import RecordingServer, Reply, Request
from tests.support.recordings import recording

PATH = "/api/v1/search_by_date"
_FILTER = re.compile(r"^created_at_i>=(\d+),created_at_i<=(\d+)$")


def recorded_hits() -> list[dict[str, Any]]:
    """The hits of the 26 recorded Algolia answers of node-hacker-news-api's fixtures (2014-05-30), each
    once (the first copy, in the order recorded)."""
    hits: dict[str, dict[str, Any]] = {}
    for exchange in json_file(recording("hackernews", "node-hacker-news-api__fixtures_2014-05-30.json")):
        reply = exchange["reply"]
        for hit in reply.get("hits") or () if isinstance(reply, dict) else ():
            hits.setdefault(hit["objectID"], hit)
    return list(hits.values())


def recorded_search_by_url() -> bytes:
    """A verbatim Algolia answer to a search restricted to the url (shazow/communal's test data)."""
    return recording("hackernews", "communal__hn_search_by_url.json").read_bytes()


class FakeAlgolia:
    """Holds a pool of hits; ``fault`` makes every request fail (``server_error``, ``rate_limit``, ``malformed``)."""

    def __init__(self, server: RecordingServer, hits: list[dict[str, Any]] | None = None) -> None:
        self.server = server
        self.hits = hits if hits is not None else recorded_hits()
        self.fault: str | None = None
        self.extra_fields = False
        self.problems: list[str] = []
        server.route("GET", PATH, self.search)
        server.route("GET", "/api/v1/search", self.lookup)

    @property
    def base_url(self) -> str:
        return self.server.url + "/api/v1"

    def search(self, request: Request) -> Reply:
        if self.fault == "server_error":
            return Reply(503, "<html>Service Unavailable</html>", {"Content-Type": "text/html"})
        if self.fault == "rate_limit":
            return Reply(429, {"message": "too many requests"}, {"Retry-After": "2"})
        if self.fault == "malformed":
            return Reply(200, b'{"hits": [{"objectID": "1"', {})
        tag = request.param("tags") or ""
        query = (request.param("query") or "").lower()
        match = _FILTER.match(request.param("numericFilters") or "")
        per_page = int(request.param("hitsPerPage") or 20)
        page = int(request.param("page") or 0)
        every_item = "query" not in request.query  # every story and comment of the window
        tags = tag.strip("()").split(",") if every_item and tag.startswith("(") else [tag]
        if (
            match is None
            or not 1 <= per_page <= 1000
            or (every_item and tag not in ("(story,comment)", "story"))
            or (not every_item and (tag not in ("story", "comment") or not query))
        ):
            self.problems.append(f"bad request: {request.query}")
            return Reply(400, {"message": "bad request"})
        restricted = request.param("restrictSearchableAttributes")
        if not every_item and tag == "story" and restricted != "url":
            self.problems.append(f"a story search must be restricted to the url: {request.query}")
        if every_item and restricted is not None:
            self.problems.append(f"reading every item must not restrict attributes: {request.query}")
        low, high = int(match.group(1)), int(match.group(2))
        found = [
            hit
            for hit in self.hits
            if any(each in hit.get("_tags", []) for each in tags)
            and low <= hit.get("created_at_i", low) <= high
            and (
                every_item
                or query
                in ((hit.get("url") or "") if tag == "story" else (hit.get("comment_text") or "")).lower()
            )
        ]
        found.sort(key=lambda hit: hit.get("created_at_i", 0), reverse=True)
        reachable = found[:1000]
        hits = reachable[page * per_page : (page + 1) * per_page]
        if self.extra_fields:
            hits = [{**hit, "ai_summary": {"nested": [1, 2]}, "children_count": 7} for hit in hits]
        body = {
            "hits": hits,
            "nbHits": len(found),
            "page": page,
            "nbPages": math.ceil(len(reachable) / per_page),
            "hitsPerPage": per_page,
            "exhaustiveNbHits": True,
            "query": query,
            "params": "&".join(f"{k}={v[0]}" for k, v in request.query.items()),
        }
        return Reply(200, body)

    def lookup(self, request: Request) -> Reply:
        """``tags=story,(story_1,story_2)``: the stories with those ids, as the engagement refresh asks."""
        match = re.fullmatch(r"story,\(((?:story_\d+,?)+)\)", request.param("tags") or "")
        if match is None:
            self.problems.append(f"bad lookup: {request.query}")
            return Reply(400, {"message": "bad tags"})
        wanted = {tag.removeprefix("story_") for tag in match.group(1).split(",") if tag}
        hits = [hit for hit in self.hits if hit["objectID"] in wanted and "story" in hit.get("_tags", [])]
        return Reply(
            200, {"hits": hits, "nbHits": len(hits), "page": 0, "nbPages": 1, "hitsPerPage": len(hits)}
        )

    def searches(self) -> list[Request]:
        return self.server.requests_to(PATH)
