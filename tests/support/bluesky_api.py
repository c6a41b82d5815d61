"""A Bluesky PDS stand-in on 127.0.0.1 for the real atproto client, serving the recorded ``searchPosts`` posts.

It checks logins (``createSession``, ``refreshSession``) and the bearer token of every call, answers
``searchPosts`` like the AppView (``domain`` keeps posts whose facet or card links are on that host, ``q=*``
matches everything and any other ``q`` the post text, ``since``/``until`` on the post's sort time, newest
first, paged by ``cursor``), ``getProfiles`` and ``getPosts``; and it records each request so tests check the
parameters the client sent.
"""

from __future__ import annotations

import base64
import copy
import json
import threading
import time
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from tests.support.cassettes import json_file
from tests.support.http_server import RecordingServer, Reply, Request
from tests.support.recordings import recording

HANDLE, PASSWORD, DID = "tracker.test", "abcd-efgh-ijkl-mnop", "did:plc:trackertestaccount0000"
SEARCH = "/xrpc/app.bsky.feed.searchPosts"
CREATE_SESSION = "/xrpc/com.atproto.server.createSession"
REFRESH_SESSION = "/xrpc/com.atproto.server.refreshSession"
GET_PROFILES = "/xrpc/app.bsky.actor.getProfiles"
GET_POSTS = "/xrpc/app.bsky.feed.getPosts"


def recorded_search() -> dict[str, Any]:
    """The recorded ``searchPosts?q=redistricting`` answer (25 post views, 2025-05-19), from the decoded
    bskyr cassette ``bluesky/bskyr__f_search.yml``."""
    recorded = json_file(
        recording(
            "bluesky", "decoded", "bskyr__f_search", "000_GET_bsky.social_xrpc_app.bsky.feed.searchPosts.json"
        )
    )
    return dict(recorded["body"])


def recorded_posts() -> list[dict[str, Any]]:
    return list(recorded_search()["posts"])


def jwt(scope: str, serial: int, lifetime: float) -> str:
    """A token shaped like the PDS's (the client reads its ``exp``; the signature is not checked)."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    now = int(time.time())
    payload = {"scope": scope, "sub": DID, "aud": "did:web:pds.test", "iat": now, "exp": int(now + lifetime),
               "jti": f"{scope}-{serial}"}  # fmt: skip
    return f"{part({'typ': 'at+jwt', 'alg': 'ES256K'})}.{part(payload)}.c2lnbmF0dXJl"


def link_hosts(post: dict[str, Any]) -> list[str]:
    """The hosts of a post's facet links and card, ``www.`` dropped (what ``domain=`` filters on)."""
    record = post.get("record") or {}
    uris = [f.get("uri", "") for facet in record.get("facets") or [] for f in facet.get("features") or []
            if f.get("$type") == "app.bsky.richtext.facet#link"]  # fmt: skip
    embed = record.get("embed") or {}
    external = embed.get("external") or (embed.get("media") or {}).get("external") or {}
    if external.get("uri"):
        uris.append(external["uri"])
    return [(urlsplit(uri).hostname or "").lower().removeprefix("www.") for uri in uris]


def sort_at(post: dict[str, Any]) -> datetime:
    stamps = [post["record"]["createdAt"], post.get("indexedAt") or post["record"]["createdAt"]]
    return min(datetime.fromisoformat(s) for s in stamps)


class FakePds:
    """``faults`` maps a path to ``server_error``, ``rate_limit`` or ``malformed`` (every call fails so)."""

    def __init__(self, server: RecordingServer, posts: list[dict[str, Any]] | None = None) -> None:
        self.server = server
        self.posts = posts if posts is not None else recorded_posts()
        # Accounts outlive their posts: deleting a post leaves its author's profile answering.
        self.accounts: dict[str, dict[str, Any]] = {
            post["author"]["did"]: post["author"] for post in self.posts
        }
        self.access_lifetime = 7200.0
        self.sessions_created = 0
        self.refreshes = 0
        self.valid_access: set[str] = set()
        self.valid_refresh: set[str] = set()
        self.reject_star = False
        self.faults: dict[str, str] = {}
        self.extra_fields = False
        self.problems: list[str] = []
        self._lock = threading.Lock()
        server.route("POST", CREATE_SESSION, self.create_session)
        server.route("POST", REFRESH_SESSION, self.refresh_session)
        server.route("GET", SEARCH, self.search)
        server.route("GET", GET_PROFILES, self.get_profiles)
        server.route("GET", GET_POSTS, self.get_posts)

    @property
    def url(self) -> str:
        return self.server.url

    def requests_to(self, path: str) -> list[Request]:
        return self.server.requests_to(path)

    def searches(self) -> list[Request]:
        return self.server.requests_to(SEARCH)

    # Sessions

    def _new_session(self) -> dict[str, Any]:
        with self._lock:
            serial = self.sessions_created + self.refreshes
            access = jwt("com.atproto.access", serial, self.access_lifetime)
            refresh = jwt("com.atproto.refresh", serial, 90 * 86400)
            self.valid_access.add(access)
            self.valid_refresh.add(refresh)
        return {"accessJwt": access, "refreshJwt": refresh, "handle": HANDLE, "did": DID, "active": True}

    def create_session(self, request: Request) -> Reply:
        body = request.json()
        if self.faults.get(CREATE_SESSION) == "rate_limit":
            return Reply(429, {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
                         {"RateLimit-Limit": "30", "RateLimit-Remaining": "0", "Retry-After": "4000"})  # fmt: skip
        if (body.get("identifier"), body.get("password")) != (HANDLE, PASSWORD):
            return Reply(
                401, {"error": "AuthenticationRequired", "message": "Invalid identifier or password"}
            )
        self.sessions_created += 1
        return Reply(200, self._new_session())

    def refresh_session(self, request: Request) -> Reply:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        with self._lock:
            if token not in self.valid_refresh:
                return Reply(400, {"error": "ExpiredToken", "message": "Token has expired"})
            self.valid_refresh.discard(token)  # refresh tokens are single-use
            self.refreshes += 1
        return Reply(200, self._new_session())

    def expire_sessions(self) -> None:
        """Forget every token, as when the account's sessions are revoked."""
        with self._lock:
            self.valid_access.clear()
            self.valid_refresh.clear()

    def _refused(self, request: Request) -> Reply | None:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token not in self.valid_access:
            return Reply(400, {"error": "ExpiredToken", "message": "Token has been revoked"})
        fault = self.faults.get(request.path)
        if fault == "server_error":
            return Reply(503, {"error": "InternalServerError", "message": "upstream busy"})
        if fault == "rate_limit":
            reset = str(int(time.time()) + 3)
            return Reply(429, {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
                         {"Retry-After": "3", "RateLimit-Limit": "3000", "RateLimit-Remaining": "0",
                          "RateLimit-Reset": reset, "RateLimit-Policy": "3000;w=300"})  # fmt: skip
        if fault == "malformed":
            return Reply(200, b'{"posts": [{"uri": "at://did:plc:')
        return None

    # Queries

    def search(self, request: Request) -> Reply:
        refused = self._refused(request)
        if refused is not None:
            return refused
        q, domain, since, until = (request.param(n) for n in ("q", "domain", "since", "until"))
        if request.param("sort") != "latest" or not domain or not since or not until:
            self.problems.append(f"a search without sort=latest, domain, since and until: {request.query}")
        if q == "*" and self.reject_star:
            return Reply(400, {"error": "InvalidRequest", "message": "query must not be a bare wildcard"})
        found = [
            post for post in self.posts
            if domain in link_hosts(post)
            and (q == "*" or (q or "").lower() in (post["record"].get("text") or "").lower())
            and (not since or sort_at(post) >= datetime.fromisoformat(since))
            and (not until or sort_at(post) < datetime.fromisoformat(until))
        ]  # fmt: skip
        found.sort(key=sort_at, reverse=True)
        limit = int(request.param("limit") or 25)
        if not 1 <= limit <= 100:
            return Reply(400, {"error": "InvalidRequest", "message": "limit must be 1..100"})
        offset = int(request.param("cursor") or 0)
        page = copy.deepcopy(found[offset : offset + limit])
        if self.extra_fields:
            for post in page:
                post["bookmarkCount"] = 2
                post["threadgate"] = {"uri": "at://x/app.bsky.feed.threadgate/1", "lists": [], "record": {}}
                post["record"]["$futureField"] = {"nested": [1, {"a": None}]}
        body: dict[str, Any] = {"posts": page, "hitsTotal": len(found)}
        if offset + limit < len(found):
            body["cursor"] = str(offset + limit)
        return Reply(200, body)

    def get_profiles(self, request: Request) -> Reply:
        refused = self._refused(request)
        if refused is not None:
            return refused
        actors = request.query.get("actors", [])
        if not 1 <= len(actors) <= 25:
            return Reply(400, {"error": "InvalidRequest", "message": "actors must hold 1 to 25 items"})
        authors = {**self.accounts, **{post["author"]["did"]: post["author"] for post in self.posts}}
        profiles = [
            {**authors[did], "followersCount": 100 + len(authors[did]["handle"]), "followsCount": 7, "postsCount": 9}
            for did in actors if did in authors
        ]  # fmt: skip
        return Reply(200, {"profiles": profiles})

    def get_posts(self, request: Request) -> Reply:
        refused = self._refused(request)
        if refused is not None:
            return refused
        uris = request.query.get("uris", [])
        if not 1 <= len(uris) <= 25:
            return Reply(400, {"error": "InvalidRequest", "message": "uris must hold 1 to 25 items"})
        return Reply(200, {"posts": [copy.deepcopy(p) for p in self.posts if p["uri"] in uris]})
