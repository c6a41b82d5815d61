"""A stand-in for the GitHub REST API (issue search, issue comments, single issues and comments) serving
recorded search items, for the GitHub connector's tests.

``/search/issues`` answers the way GitHub does: the quoted phrase of ``q`` matches an item's title, body or
comments (case-insensitive), ``is:issue`` / ``is:pull-request`` pick the kind (one is required, as GitHub
requires since 2025), ``created:A..B`` and ``updated:A..B`` are inclusive ranges, results are sorted as asked
and capped at 1,000 however they are paged (a page past the cap is a 422). Every request is checked: the
bearer token, the API version header, the parameters the connector must send; a failed check is kept in
``problems`` and answered with HTTP 400. Rate-limit headers are sent on every answer.

The pool is the items of the recorded search answers (values unchanged). No recording of the comments
endpoint exists beside them, so comments are added by tests with :func:`comment` (the fields of a real
``/repos/{owner}/{repo}/issues/{n}/comments`` answer: github3.py's ``Issue_comments`` cassette, 2017).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tests.support.http_server import RecordingServer, Reply, Request
from tests.support.recorded_formats import responses
from tests.support.recordings import recording

TOKEN = "test-github-token"
SEARCH = "/search/issues"
PYGITHUB_SEARCH = "PyGithub__Search.testSearchIssues.txt"
PYGITHUB_QUOTING = "PyGithub__Search.testUrlquotingOfQuery.txt"
GITHUB3_SEARCH = "github3.py__GitHub_search_issues.json"
_PHRASE = re.compile(r'"([^"]+)"')
_KIND = re.compile(r"\bis:(issue|pull-request)\b")
_RANGE = re.compile(r"\b(created|updated):(\S+)\.\.(\S+)")
_COMMENTS = re.compile(r"^/repos/([^/]+/[^/]+)/issues/(\d+)/comments$")
_ISSUE = re.compile(r"^/repos/([^/]+/[^/]+)/issues/(\d+)$")
_COMMENT = re.compile(r"^/repos/([^/]+/[^/]+)/issues/comments/(\d+)$")


def recorded_body(name: str) -> str:
    """The body of a recorded search answer, as GitHub sent it."""
    (response,) = responses(recording("github", name))
    return response.body


def recorded_items(*names: str) -> list[dict[str, Any]]:
    """The items of recorded search answers, each once (by ``html_url``), values unchanged."""
    items: dict[str, dict[str, Any]] = {}
    for name in names or (PYGITHUB_SEARCH, PYGITHUB_QUOTING, GITHUB3_SEARCH):
        for response in responses(recording("github", name)):
            for item in response.json()["items"]:
                items.setdefault(item["html_url"], item)
    return list(items.values())


def repository(item: dict[str, Any]) -> str:
    parts = item["html_url"].split("/")
    return f"{parts[3]}/{parts[4]}"


def is_pull(item: dict[str, Any]) -> bool:
    pull = item.get("pull_request")
    return isinstance(pull, dict) and bool(pull.get("html_url"))


def comment(
    item: dict[str, Any], comment_id: int, body: str, created: str, *, reactions: int | None = None
) -> dict[str, Any]:
    """A comment on ``item`` in the shape GitHub answers (author: the item's author)."""
    repo, number = repository(item), item["number"]
    made: dict[str, Any] = {
        "url": f"https://api.github.com/repos/{repo}/issues/comments/{comment_id}",
        "html_url": f"https://github.com/{repo}/issues/{number}#issuecomment-{comment_id}",
        "issue_url": f"https://api.github.com/repos/{repo}/issues/{number}",
        "id": comment_id,
        "user": copy.deepcopy(item["user"]),
        "created_at": created,
        "updated_at": created,
        "author_association": "NONE",
        "body": body,
    }
    if reactions is not None:
        made["reactions"] = {"url": made["url"] + "/reactions", "total_count": reactions, "+1": reactions}
    return made


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class FakeGitHub:
    """``fault`` makes every request fail (``server_error``, ``rate_limit``, ``malformed``) until cleared."""

    def __init__(
        self,
        server: RecordingServer,
        items: list[dict[str, Any]] | None = None,
        *,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.server = server
        self.items = items if items is not None else recorded_items()
        self.comments: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self.now = now or (lambda: datetime.now(UTC))
        self.fault: str | None = None
        self.extra_fields = False
        self.search_remaining = 29
        self.script: list[Reply] = []  # answers served before anything else, one per request
        self.problems: list[str] = []
        server.route("GET", SEARCH, self._checked(self.search))
        self._routed: set[str] = set()
        self._route_items()

    @property
    def base_url(self) -> str:
        return self.server.url

    def add(self, *items: dict[str, Any]) -> None:
        self.items.extend(items)
        self._route_items()

    def add_comments(self, item: dict[str, Any], *comments: dict[str, Any]) -> None:
        self.comments.setdefault((repository(item), item["number"]), []).extend(comments)
        self._route_items()

    def searches(self) -> list[Request]:
        return self.server.requests_to(SEARCH)

    def comment_requests(self) -> list[Request]:
        return [r for r in self.server.requests if _COMMENTS.match(r.path)]

    # Routing: the server routes exact paths, so each item's and comment's paths are added as they come.

    def _route_items(self) -> None:
        paths = []
        for item in self.items:
            repo, number = repository(item), item["number"]
            paths += [f"/repos/{repo}/issues/{number}/comments", f"/repos/{repo}/issues/{number}"]
        for (repo, _), comments in self.comments.items():
            paths += [f"/repos/{repo}/issues/comments/{c['id']}" for c in comments]
        for path in paths:
            if path not in self._routed:
                self._routed.add(path)
                self.server.route("GET", path, self._checked(self.single))

    def _checked(self, handler: Callable[[Request], Reply]) -> Callable[[Request], Reply]:
        def serve(request: Request) -> Reply:
            if request.headers.get("authorization") != f"Bearer {TOKEN}":
                return Reply(401, {"message": "Bad credentials"})
            if request.headers.get("x-github-api-version") != "2022-11-28":
                self.problems.append(f"no X-GitHub-Api-Version header on {request.path}")
            if self.script:
                return self.script.pop(0)
            fault = self._fault_reply()
            return fault if fault is not None else handler(request)

        return serve

    def _fault_reply(self) -> Reply | None:
        if self.fault == "server_error":
            return Reply(502, "<html>Unicorn!</html>", {"Content-Type": "text/html"})
        if self.fault == "rate_limit":
            reset = int(self.now().timestamp()) + 30
            headers = {
                "x-ratelimit-remaining": "0",
                "x-ratelimit-reset": str(reset),
                "x-ratelimit-limit": "30",
            }
            return Reply(403, {"message": "API rate limit exceeded"}, headers)
        if self.fault == "malformed":
            return Reply(200, b'{"total_count": 3, "items": [{"url": ')
        return None

    def _limits(self, resource: str, remaining: int) -> dict[str, str]:
        return {
            "x-ratelimit-limit": "30" if resource == "search" else "5000",
            "x-ratelimit-remaining": str(remaining),
            "x-ratelimit-reset": str(int(self.now().timestamp()) + 60),
            "x-ratelimit-resource": resource,
        }

    # Endpoints

    def search(self, request: Request) -> Reply:
        q = request.param("q") or ""
        phrase, kind, ranges = (
            _PHRASE.search(q),
            _KIND.search(q),
            {m.group(1): (_time(m.group(2)), _time(m.group(3))) for m in _RANGE.finditer(q)},
        )
        per_page, page = int(request.param("per_page") or 30), int(request.param("page") or 1)
        wanted = {"q", "sort", "order", "per_page", "page"}
        if phrase is None or kind is None or "created" not in ranges or set(request.query) != wanted:
            self.problems.append(f"bad search: {request.query}")
            return Reply(400, {"message": "bad request"})
        if (request.param("sort"), request.param("order")) != ("created", "asc"):
            self.problems.append(f"search not sorted by creation, oldest first: {request.query}")
        if (page - 1) * per_page >= 1000:
            return Reply(422, {"message": "Only the first 1000 search results are available"})
        text = phrase.group(1).lower()
        found = [
            item
            for item in self.items
            if is_pull(item) == (kind.group(1) == "pull-request")
            and all(low <= _time(item[f"{field}_at"]) <= high for field, (low, high) in ranges.items())
            and self._mentions(item, text)
        ]
        found.sort(key=lambda item: (item["created_at"], item["number"]))
        reachable = found[:1000]
        items = [self._extra(item) for item in reachable[(page - 1) * per_page : page * per_page]]
        body = {"total_count": len(found), "incomplete_results": False, "items": items}
        return Reply(200, body, self._limits("search", self.search_remaining))

    def single(self, request: Request) -> Reply:
        headers = self._limits("core", 4999)
        if match := _COMMENTS.match(request.path):
            comments = self.comments.get((match.group(1), int(match.group(2))), [])
            since = request.param("since")
            if since is None or set(request.query) != {"since", "per_page", "page"}:
                self.problems.append(f"comments read without since, per_page and page: {request.query}")
            chosen = [c for c in comments if since is None or _time(c["updated_at"]) >= _time(since)]
            chosen.sort(key=lambda c: c["created_at"])
            per_page, page = int(request.param("per_page") or 30), int(request.param("page") or 1)
            page_of = chosen[(page - 1) * per_page : page * per_page]
            return Reply(200, [self._extra(c) for c in page_of], headers)
        if match := _ISSUE.match(request.path):
            for item in self.items:
                if (repository(item), item["number"]) == (match.group(1), int(match.group(2))):
                    return Reply(200, self._extra(item), headers)
        if match := _COMMENT.match(request.path):
            for comments in self.comments.values():
                for made in comments:
                    if made["id"] == int(match.group(2)):
                        return Reply(200, self._extra(made), headers)
        return Reply(404, {"message": "Not Found"}, headers)

    def _mentions(self, item: dict[str, Any], text: str) -> bool:
        fields = [item.get("title") or "", item.get("body") or ""]
        fields += [c.get("body") or "" for c in self.comments.get((repository(item), item["number"]), [])]
        return any(text in field.lower() for field in fields)

    def _extra(self, data: dict[str, Any]) -> dict[str, Any]:
        if not self.extra_fields:
            return data
        return {**data, "sub_issues_summary": {"total": 0, "completed": 0}, "pinned_comment": None,
                "issue_field_values": [{"field": {"id": 7}, "value": ["x"]}]}  # fmt: skip
