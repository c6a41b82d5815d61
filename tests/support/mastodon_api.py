"""A stand-in for one Mastodon instance's REST API serving recorded statuses, for the Mastodon connector's
tests: the public timeline, status search, trending links and the link timeline.

It answers the way Mastodon 4.3 does: newest first; ``max_id`` (older than), ``since_id`` (newer than, newest
first) and ``min_id`` (the page right after it) by id; ``local=true`` keeps the instance's own accounts;
``limit`` up to 40; a search (``type=statuses``) needs a logged-in app and matches the statuses whose text or
card mentions the query. Every answer carries the rate-limit headers. Every request is checked (the
parameters the connector must send, and that a token is sent only to an instance it belongs to); a failed
check is kept in ``problems``.

The pool is the statuses of the recorded fosstodon.org public timelines (rtoot's cassettes), values unchanged;
trending links are Mastodon.py's recorded ``/api/v1/trends/links`` answer.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support.http_server import RecordingServer, Reply, Request
from tests.support.recorded_formats import responses
from tests.support.recordings import recording

TOKEN = "test-mastodon-token"
PUBLIC = "/api/v1/timelines/public"
SEARCH = "/api/v2/search"
TRENDS = "/api/v1/trends/links"
LINK = "/api/v1/timelines/link"
FOSSTODON_TIMELINES = (
    "rtoot__get_timeline_public_default.yml",
    "rtoot__get_timeline_public_instance_local.yml",
    "rtoot__process_request_bigger.yml",
)
SEARCH_V2 = "mastodonpy__test_entity_searchv2.yaml"
TRENDING_LINKS = "mastodonpy__test_entity_trendinglinkhistory.yaml"


def recorded_statuses(*names: str) -> list[dict[str, Any]]:
    """The statuses of recorded timeline answers, each once (by id), values unchanged."""
    found: dict[str, dict[str, Any]] = {}
    for name in names or FOSSTODON_TIMELINES:
        for response in responses(recording("mastodon", name)):
            for status in response.json():
                found.setdefault(status["id"], status)
    return list(found.values())


def recorded_answer(name: str, path: str) -> str:
    """The body of the recorded answer to ``path`` in cassette ``name``, as the server sent it."""
    return next(r.body for r in responses(recording("mastodon", name)) if path in r.uri)


def snowflake(moment: datetime, sequence: int = 0) -> str:
    return str((int(moment.timestamp() * 1000) << 16) + sequence)


def published(template: dict[str, Any], moment: datetime, sequence: int, href: str) -> dict[str, Any]:
    """A new status like ``template`` (a recorded one), posted at ``moment``, linking to ``href``."""
    status = copy.deepcopy(template)
    status_id = snowflake(moment, sequence)
    account = status["account"]
    home = account["url"].rsplit("/@", 1)[0]
    status.update(
        id=status_id,
        uri=f"{home}/users/{account['username']}/statuses/{status_id}",
        url=f"{home}/@{account['username']}/{status_id}",
        created_at=moment.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        content=f'<p>New: <a href="{href}" rel="nofollow noopener" target="_blank">{href}</a></p>',
        card=None,
    )
    return status


class FakeMastodon:
    """One instance. ``token``: the access token it accepts (None: it expects no token at all)."""

    def __init__(
        self,
        server: RecordingServer,
        statuses: list[dict[str, Any]] | None = None,
        *,
        token: str | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.server = server
        self.statuses = statuses if statuses is not None else recorded_statuses()
        self.token = token
        self.now = now or (lambda: datetime.now(UTC))
        self.trends: list[dict[str, Any]] = [dict(t) for t in _recorded_trends()]
        self.public_needs_token = False
        self.fault: str | None = None
        self.extra_fields = False
        self.script: list[Reply] = []
        self.problems: list[str] = []
        for path, handler in ((PUBLIC, self.public), (SEARCH, self.search), (TRENDS, self.trending),
                              (LINK, self.link_timeline)):  # fmt: skip
            server.route("GET", path, self._checked(handler))

    @property
    def url(self) -> str:
        return self.server.url

    def requests_to(self, path: str) -> list[Request]:
        return self.server.requests_to(path)

    def trend(self, url: str) -> None:
        """Make ``url`` trend (a recorded trend entry with this URL)."""
        entry = copy.deepcopy(self.trends[0])
        entry["url"] = url
        self.trends.insert(0, entry)

    # Plumbing

    def _checked(self, handler: Callable[[Request], Reply]) -> Callable[[Request], Reply]:
        def serve(request: Request) -> Reply:
            sent = request.headers.get("authorization")
            if sent is not None and self.token is None:
                self.problems.append(f"a token was sent to an instance it does not belong to: {request.path}")
            if sent is not None and sent != f"Bearer {self.token}":
                return Reply(401, {"error": "The access token is invalid"})
            if "limit" not in request.query and request.path != TRENDS:
                self.problems.append(f"no limit on {request.path}: {request.query}")
            if self.script:
                return self.script.pop(0)
            fault = self._fault()
            if fault is not None:
                return fault
            reply = handler(request)
            reset = (self.now() + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
            reply.headers.update({"x-ratelimit-limit": "300", "x-ratelimit-remaining": "299",
                                  "x-ratelimit-reset": reset})  # fmt: skip
            return reply

        return serve

    def _fault(self) -> Reply | None:
        if self.fault == "server_error":
            return Reply(
                503, "<html>We're sorry, but something went wrong</html>", {"Content-Type": "text/html"}
            )
        if self.fault == "rate_limit":
            reset = (self.now() + timedelta(seconds=40)).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
            return Reply(429, {"error": "Too many requests"},
                         {"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset})  # fmt: skip
        if self.fault == "malformed":
            return Reply(200, b'[{"id": "1", "content": ')
        return None

    def _page(self, request: Request, pool: list[dict[str, Any]]) -> list[dict[str, Any]]:
        limit = min(int(request.param("limit") or 20), 40)
        chosen = sorted(pool, key=lambda s: int(s["id"]), reverse=True)
        if (max_id := request.param("max_id")) is not None:
            chosen = [s for s in chosen if int(s["id"]) < int(max_id)]
        if (since_id := request.param("since_id")) is not None:
            chosen = [s for s in chosen if int(s["id"]) > int(since_id)]
        if (min_id := request.param("min_id")) is not None:
            after = sorted((s for s in chosen if int(s["id"]) > int(min_id)), key=lambda s: int(s["id"]))
            chosen = list(reversed(after[:limit]))
        return [self._extra(s) for s in chosen[:limit]]

    def _extra(self, status: dict[str, Any]) -> dict[str, Any]:
        if not self.extra_fields:
            return status
        return {**status, "quote_approval": {"automatic": ["public"], "manual": []},
                "account": {**status["account"], "hide_collections": True, "memorial": False}}  # fmt: skip

    # Endpoints

    def public(self, request: Request) -> Reply:
        if self.public_needs_token and request.headers.get("authorization") is None:
            return Reply(422, {"error": "This method requires an authenticated user"})
        local = request.param("local")
        if local not in ("true", "false"):
            self.problems.append(f"public timeline without local=true|false: {request.query}")
        pool = [s for s in self.statuses if local != "true" or "@" not in s["account"]["acct"]]
        return Reply(200, self._page(request, pool))

    def search(self, request: Request) -> Reply:
        if request.headers.get("authorization") is None:
            self.problems.append("a status search without a token")
            return Reply(401, {"error": "This action is outside the authorized scopes"})
        if (request.param("type"), request.param("resolve")) != ("statuses", "false"):
            self.problems.append(f"search not for statuses only, without resolving: {request.query}")
        text = (request.param("q") or "").lower()
        pool = [s for s in self.statuses
                if text in s["content"].lower() or text in ((s.get("card") or {}).get("url") or "").lower()]  # fmt: skip
        return Reply(200, {"accounts": [], "statuses": self._page(request, pool), "hashtags": []})

    def trending(self, request: Request) -> Reply:
        limit, offset = int(request.param("limit") or 10), int(request.param("offset") or 0)
        return Reply(200, self.trends[offset : offset + limit])

    def link_timeline(self, request: Request) -> Reply:
        url = request.param("url") or ""
        pool = [s for s in self.statuses
                if f'href="{url}"' in s["content"] or (s.get("card") or {}).get("url") == url]  # fmt: skip
        return Reply(200, self._page(request, pool))


def _recorded_trends() -> list[dict[str, Any]]:
    (response,) = (r for r in responses(recording("mastodon", TRENDING_LINKS)) if TRENDS in r.uri)
    trends: list[dict[str, Any]] = response.json()
    return trends
