"""A stand-in for Reddit: the OAuth API praw reads, its token endpoint and the public Atom feeds.

It serves a pool of things (listings recorded in praw's cassettes, plus any a test adds) the way
Reddit does: ``/domain/<d>/new`` lists link posts to ``d`` and its subdomains, ``/r/all/search`` answers
``site:<d> OR selftext:"<d>"`` with link posts to ``d`` and posts whose text names it, ``/r/a+b/comments``
lists the comments of those subreddits (``all``: every one), ``/api/info`` looks things up by fullname. Lists
are newest first, ``limit`` at a time, continued with ``after``; an ``after`` that is no longer listed gives
an empty page, as on Reddit. The feeds render the same lists as Reddit's Atom. Every request is checked for
what the connector must send (token, user agent, ``raw_json``, ``limit``, query); a failed check is kept in
``problems`` and answered with HTTP 400. The API, the token endpoint and the feeds live under different path
prefixes, so a test also checks that each configured base URL is used.
"""

from __future__ import annotations

import base64
import copy
import json
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape, quoteattr

from tests.support.cassettes import vcr_interactions
from tests.support.http_server import RecordingServer, Reply, Request
from tests.support.recordings import recording

DATA = (
    Path(__file__).parents[1] / "data" / "reddit"
)  # our own hand-written feed; the recordings are elsewhere
# praw's cassettes in the recordings folder (reddit/<name>)
DOMAIN_NEW = "praw__TestDomainListing.test_new.json"  # /domain/youtube.com/new, 2016-11-16
ALL_NEW = "praw__TestSubredditStreams.test_submissions.json"  # /r/all/new, 2016-12-22
ALL_COMMENTS = "praw__TestSubredditStreams.test_comments.json"  # /r/all/comments, 2016-12-22
SEARCH = "praw__TestSubreddit.test_search.json"  # /r/all/search, self posts of 2013-2016
INFO = "praw__TestReddit.test_info_url.json"  # /api/info?url=youtube.com, posts of 2017
CLIENT_ID = "test-client-id"
CLIENT_SECRET = "test-client-secret"
USER_AGENT = "mention-tracker-tests/1.0 by u/tester"
_QUERY = re.compile(r'^site:(\S+) OR selftext:"([^"]+)"$')


def recorded(name: str) -> list[dict[str, Any]]:
    """The things (``{"kind", "data"}``) of the listings praw's cassette ``name`` recorded from the API.

    One listing comes as Reddit sent it. A cassette of several pages (a stream polled again and again) is
    merged: each thing once (its first copy), newest first, fullname breaking ties.
    """
    listings = [
        exchange.json()
        for exchange in vcr_interactions(recording("reddit", name))
        if exchange.method == "GET" and exchange.uri.startswith("https://oauth.reddit.com/")
    ]
    if len(listings) == 1:
        return list(listings[0]["data"]["children"])
    things: dict[str, dict[str, Any]] = {}
    for listing in listings:
        for thing in listing["data"]["children"]:
            things.setdefault(thing["data"]["name"], thing)
    return sorted(things.values(), key=lambda t: (-float(t["data"]["created_utc"]), t["data"]["name"]))


def recorded_token() -> dict[str, Any]:
    """Reddit's answer to praw's token request (the token itself is praw's ``<ACCESS_TOKEN>`` placeholder)."""
    (exchange,) = (
        exchange
        for exchange in vcr_interactions(recording("reddit", DOMAIN_NEW))
        if exchange.uri == "https://www.reddit.com/api/v1/access_token"
    )
    return dict(exchange.json())


def order(thing: dict[str, Any]) -> tuple[float, str]:
    created = thing["data"].get("created_utc")
    return (float(created) if isinstance(created, int | float) else float("inf"), thing["data"]["name"])


class FakeReddit:
    """Serves a pool of things; ``fault`` breaks every request until cleared, ``script`` replies come first."""

    def __init__(
        self,
        server: RecordingServer,
        things: Iterable[dict[str, Any]] = (),
        *,
        api_prefix: str = "/oauth",
        auth_prefix: str = "/www",
        feed_prefix: str = "/feeds",
        user_agent: str = USER_AGENT,
    ) -> None:
        self.server = server
        self.api_prefix, self.auth_prefix, self.feed_prefix = api_prefix, auth_prefix, feed_prefix
        self.user_agent = user_agent
        self.things: dict[str, dict[str, Any]] = {}
        self.unlisted: set[str] = set()
        self.add(things)
        self.token = recorded_token()["access_token"]
        self.tokens_issued = 0
        self.fault: str | None = None
        self.script: list[Reply] = []
        self.fail_when: Callable[[Request], Reply | None] | None = None
        self.extra_fields = False
        self.ratelimit_remaining = 599.0
        self.ratelimit_reset = 300
        self.problems: list[str] = []
        self.served: list[list[str]] = []  # fullnames of each listing page served
        server.route("POST", auth_prefix + "/api/v1/access_token", self.access_token)
        server.route("GET", api_prefix + "/api/info/", self.info)
        server.route("GET", api_prefix + "/r/all/search/", self.search)
        server.route("GET", feed_prefix + "/search.rss", self.search_feed)

    # Setting up

    @property
    def api_url(self) -> str:
        return self.server.url + self.api_prefix

    @property
    def auth_url(self) -> str:
        return self.server.url + self.auth_prefix

    @property
    def feed_url(self) -> str:
        return self.server.url + self.feed_prefix

    def add(self, things: Iterable[dict[str, Any]]) -> None:
        for thing in things:
            self.things[thing["data"]["name"]] = copy.deepcopy(thing)

    def expose_domain(self, domain: str) -> None:
        """Serve ``/domain/<domain>/new`` and its feed."""
        self.server.route(
            "GET", f"{self.api_prefix}/domain/{domain}/new", lambda r: self.domain_new(r, domain)
        )
        self.server.route(
            "GET", f"{self.feed_prefix}/domain/{domain}/new/.rss", lambda r: self.domain_feed(r, domain)
        )

    def expose_comments(self, *subreddits: str) -> None:
        """Serve ``/r/<a+b>/comments`` and its feed."""
        multi = "+".join(subreddits)
        names = {name.lower() for name in subreddits}
        self.server.route("GET", f"{self.api_prefix}/r/{multi}/comments/", lambda r: self.comments(r, names))
        self.server.route(
            "GET", f"{self.feed_prefix}/r/{multi}/comments/.rss", lambda r: self.comments_feed(r, names)
        )

    def unlist(self, fullname: str) -> None:
        """The author deletes it: it leaves every listing and looks deleted when looked up."""
        self.unlisted.add(fullname)
        data = self.things[fullname]["data"]
        data["author"] = "[deleted]"
        data["body" if fullname.startswith("t1_") else "selftext"] = "[deleted]"
        data["removed_by_category"] = "deleted"

    def api_requests(self) -> list[Request]:
        return [r for r in self.server.requests if r.path.startswith(self.api_prefix + "/")]

    def feed_requests(self) -> list[Request]:
        return [r for r in self.server.requests if r.path.startswith(self.feed_prefix + "/")]

    def token_requests(self) -> list[Request]:
        return self.server.requests_to(self.auth_prefix + "/api/v1/access_token")

    # The pool, as Reddit lists it

    def linking_to(self, domain: str) -> list[dict[str, Any]]:
        return [
            t
            for t in self.things.values()
            if t["kind"] == "t3" and _on(str(t["data"].get("domain") or ""), domain)
        ]

    def search_hits(self, domain: str) -> list[dict[str, Any]]:
        needle = domain.lower()
        return [
            t
            for t in self.things.values()
            if t["kind"] == "t3"
            and (
                _on(str(t["data"].get("domain") or ""), domain)
                or needle in str(t["data"].get("selftext") or "").lower()
            )
        ]

    def comments_in(self, names: set[str]) -> list[dict[str, Any]]:
        return [
            t
            for t in self.things.values()
            if t["kind"] == "t1" and ("all" in names or str(t["data"]["subreddit"]).lower() in names)
        ]

    # API answers

    def access_token(self, request: Request) -> Reply:
        early = self._fault_reply(request, feed=False)
        if early is not None:
            return early
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        form = parse_qs(request.body.decode())
        if request.headers.get("authorization") != expected:
            return Reply(401, {"message": "Unauthorized", "error": 401})
        if form.get("grant_type") != ["client_credentials"]:
            self.problems.append(f"token request with grant_type {form.get('grant_type')}")
            return Reply(400, {"error": "unsupported_grant_type"})
        self._check_user_agent(request, praw=True)
        self.tokens_issued += 1
        # prawcore asks to close the connection after a token request; say so, as Reddit's servers do
        closing = {"Connection": "close"} if request.headers.get("connection") == "close" else {}
        return Reply(200, {**recorded_token(), "access_token": self.token}, closing)

    def domain_new(self, request: Request, domain: str) -> Reply:
        return self._api_listing(request, self.linking_to(domain))

    def search(self, request: Request) -> Reply:
        expected = {"sort": "new", "t": "all", "restrict_sr": "False", "syntax": "lucene"}
        wrong = {k: request.param(k) for k, v in expected.items() if request.param(k) != v}
        match = _QUERY.match(request.param("q") or "")
        if wrong or match is None or match.group(1) != match.group(2):
            return self._reject(request, f"search with {wrong or request.param('q')!r}")
        return self._api_listing(request, self.search_hits(match.group(1)))

    def comments(self, request: Request, names: set[str]) -> Reply:
        return self._api_listing(request, self.comments_in(names))

    def info(self, request: Request) -> Reply:
        early = self._early_api_reply(request)
        if early is not None:
            return early
        ids = (request.param("id") or "").split(",")
        if not ids or len(ids) > 100:
            return self._reject(request, f"info lookup of {len(ids)} ids")
        found = [self.things[name] for name in ids if name in self.things]
        return self._listing_reply(found, None)

    # Feed answers

    def domain_feed(self, request: Request, domain: str) -> Reply:
        return self._feed(request, self.linking_to(domain), f"newest submissions : {domain}")

    def search_feed(self, request: Request) -> Reply:
        match = _QUERY.match(request.param("q") or "")
        if request.param("sort") != "new" or match is None or match.group(1) != match.group(2):
            return self._reject(
                request, f"feed search with q={request.param('q')!r} sort={request.param('sort')}"
            )
        return self._feed(request, self.search_hits(match.group(1)), "reddit.com: search results")

    def comments_feed(self, request: Request, names: set[str]) -> Reply:
        return self._feed(request, self.comments_in(names), "newest comments")

    # Helpers

    def _api_listing(self, request: Request, things: list[dict[str, Any]]) -> Reply:
        early = self._early_api_reply(request)
        if early is not None:
            return early
        page, after = self._page(request, things)
        return self._listing_reply(page, after)

    def _page(
        self, request: Request, things: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], str | None]:
        listed = sorted(
            (t for t in things if t["data"]["name"] not in self.unlisted), key=order, reverse=True
        )
        names = [t["data"]["name"] for t in listed]
        limit = int(request.param("limit") or 25)
        start = 0
        if request.param("after"):
            if request.param("after") not in names:
                self.served.append([])
                return [], None  # Reddit's answer to an `after` that is no longer listed
            start = names.index(request.param("after") or "") + 1
        page = listed[start : start + limit]
        self.served.append([t["data"]["name"] for t in page])
        more = start + limit < len(listed)
        return page, page[-1]["data"]["name"] if page and more else None

    def _listing_reply(self, things: list[dict[str, Any]], after: str | None) -> Reply:
        children = [self._dress(thing) for thing in things]
        data: dict[str, Any] = {"modhash": "", "children": children, "after": after, "before": None}
        if self.extra_fields:
            data.update({"dist": len(children), "geo_filter": "", "facets": {"nested": {"a": [1, 2]}}})
        headers = {
            "x-ratelimit-remaining": str(self.ratelimit_remaining),
            "x-ratelimit-used": str(int(600 - self.ratelimit_remaining)),
            "x-ratelimit-reset": str(self.ratelimit_reset),
        }
        return Reply(200, {"kind": "Listing", "data": data}, headers)

    def _dress(self, thing: dict[str, Any]) -> dict[str, Any]:
        if not self.extra_fields:
            return thing
        data = {
            **thing["data"],
            "ai_summary": {"nested": [1, 2], "by": {"model": "x"}},
            "awarders": [],
            "treatment_tags": ["a"],
        }
        return {"kind": thing["kind"], "data": data}

    def _early_api_reply(self, request: Request) -> Reply | None:
        early = self._fault_reply(request, feed=False)
        if early is not None:
            return early
        if request.headers.get("authorization") != f"bearer {self.token}":
            return Reply(
                401,
                {"message": "Unauthorized", "error": 401},
                {"www-authenticate": 'Bearer realm="reddit", error="invalid_token"'},
            )
        self._check_user_agent(request, praw=True)
        if request.param("raw_json") != "1":
            self.problems.append(f"{request.path} without raw_json=1")
        if request.path != self.api_prefix + "/api/info/" and request.param("limit") != "100":
            return self._reject(request, f"listing with limit={request.param('limit')}")
        return None

    def _feed(self, request: Request, things: list[dict[str, Any]], title: str) -> Reply:
        early = self._fault_reply(request, feed=True)
        if early is not None:
            return early
        self._check_user_agent(request, praw=False)
        if "authorization" in request.headers:
            self.problems.append("a feed request carried credentials")
        if request.param("limit") != "100":
            return self._reject(request, f"feed with limit={request.param('limit')}")
        page, _ = self._page(request, things)
        return Reply(
            200, atom_feed(page, title, request.path), {"Content-Type": "application/atom+xml; charset=UTF-8"}
        )

    def _fault_reply(self, request: Request, *, feed: bool) -> Reply | None:
        if self.script:
            return self.script.pop(0)
        failure = self.fail_when(request) if self.fail_when is not None else None
        if failure is not None:
            return failure
        if self.fault == "server_error":
            return Reply(503, "<html><body>Service Unavailable</body></html>", {"Content-Type": "text/html"})
        if self.fault == "rate_limit":
            return Reply(429, {"message": "Too Many Requests", "error": 429}, {"Retry-After": "2"})
        if self.fault == "malformed":
            if feed:
                return Reply(
                    200,
                    "<feed xmlns='http://www.w3.org/2005/Atom'><entry>",
                    {"Content-Type": "application/atom+xml"},
                )
            return Reply(200, b'{"kind": "Listing", "data": {"children": [{"kind": "t3"', {})
        return None

    def _check_user_agent(self, request: Request, *, praw: bool) -> None:
        agent = request.headers.get("user-agent", "")
        if not agent.startswith(self.user_agent) or ("PRAW/" in agent) != praw:
            self.problems.append(f"{request.path} with user agent {agent!r}")

    def _reject(self, request: Request, problem: str) -> Reply:
        self.problems.append(f"{request.path}: {problem}")
        return Reply(400, {"message": "Bad Request", "error": 400})


def _on(host: str, domain: str) -> bool:
    host = host.lower()
    return host == domain or host.endswith("." + domain)


def atom_feed(things: list[dict[str, Any]], title: str, path: str) -> str:
    """Things as Reddit renders them in an Atom feed."""
    entries = "".join(atom_entry(thing) for thing in things)
    return (
        '<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom" '
        'xmlns:media="http://search.yahoo.com/mrss/"><category term="all" label="r/all"/>'
        f"<updated>2016-12-22T02:17:30+00:00</updated><icon>https://www.redditstatic.com/icon.png/</icon>"
        f'<id>{escape(path)}</id><link rel="self" href={quoteattr("https://www.reddit.com" + path)} '
        f'type="application/atom+xml" /><title>{escape(title)}</title>{entries}</feed>'
    )


def atom_entry(thing: dict[str, Any]) -> str:
    data = thing["data"]
    author, subreddit = str(data["author"]), str(data["subreddit"])
    moment = datetime.fromtimestamp(float(data["created_utc"]), UTC).isoformat()
    byline = (
        f' &#32; submitted by &#32; <a href="https://www.reddit.com/user/{author}"> /u/{author} </a> &#32; to '
        f'&#32; <a href="https://www.reddit.com/r/{subreddit}/"> r/{subreddit} </a> <br/>'
    )
    if thing["kind"] == "t1":
        permalink = "https://www.reddit.com" + str(
            data.get("permalink") or f"/r/{subreddit}/comments/{data['link_id'][3:]}/_/{data['id']}/"
        )
        content = str(data.get("body_html") or "")
        title = f"/u/{author} on {data.get('link_title') or ''}"
    else:
        permalink = "https://www.reddit.com" + str(data["permalink"])
        title = str(data["title"])
        target = permalink if data.get("is_self") else str(data["url"])
        footer = (
            f'<span><a href="{escape(target, {chr(34): "&quot;"})}">[link]</a></span> &#32; '
            f'<span><a href="{permalink}">[comments]</a></span>'
        )
        if data.get("is_self"):
            content = str(data.get("selftext_html") or "") + byline + " " + footer
        else:
            thumbnail = quoteattr(str(data.get("thumbnail") or ""))
            content = (
                f'<table> <tr><td> <a href="{permalink}"> <img src={thumbnail} alt={quoteattr(title)} '
                f"title={quoteattr(title)} /> </a> </td><td>{byline} {footer} </td></tr></table>"
            )
    return (
        f"<entry><author><name>/u/{escape(author)}</name><uri>https://www.reddit.com/user/{escape(author)}</uri>"
        f"</author><category term={quoteattr(subreddit)} label={quoteattr('r/' + subreddit)}/>"
        f'<content type="html">{escape(content)}</content><id>{thing["kind"]}_{data["id"]}</id>'
        f"<link href={quoteattr(permalink)} /><updated>{moment}</updated><published>{moment}</published>"
        f"<title>{escape(title)}</title></entry>"
    )


def synthetic_posts(
    template: dict[str, Any], count: int, *, start: float, url: str = "https://www.youtube.com/watch?v={n}"
) -> list[dict[str, Any]]:
    """``count`` link posts one minute apart from ``start`` (epoch), copies of a recorded ``template``
    linking to ``url`` (volume for paging tests); ids ``zz0000`` and up, so they never collide with recorded
    ones."""
    posts = []
    for n in range(count):
        post = copy.deepcopy(template)
        data = post["data"]
        data["id"] = f"zz{n:04d}"
        data["name"] = f"t3_zz{n:04d}"
        data["created_utc"] = data["created"] = float(start + 60 * n)
        data["url"] = url.format(n=n)
        data["permalink"] = f"/r/{data['subreddit']}/comments/zz{n:04d}/synthetic/"
        posts.append(post)
    return posts


class RedditRig:
    """A fake Reddit, a config whose ``[connectors.reddit]`` points at it, a store and a frozen clock."""

    def __init__(
        self,
        server: RecordingServer,
        tmp_path: Path,
        things: Iterable[dict[str, Any]],
        *,
        now: datetime,
        domains: Iterable[str] = ("youtube.com",),
        watch: Iterable[str] = (),
        comment_groups: Iterable[Iterable[str]] | None = None,
        auth: str = "oauth",
        extra: str = "",
        lookback: str = "4000d",
        secret: str = CLIENT_SECRET,
        database_url: str | None = None,
    ) -> None:
        from tests.conftest import Clock, Sleeps, make_config
        from tracker.store import Store

        tmp_path.mkdir(parents=True, exist_ok=True)
        self.clock = Clock(now)
        self.sleeps = Sleeps()
        self.fake = FakeReddit(server, things)
        self.domains, self.watch = tuple(domains), tuple(watch)
        for domain in self.domains:
            self.fake.expose_domain(domain)
        for group in comment_groups if comment_groups is not None else [self.watch] if self.watch else []:
            self.fake.expose_comments(*group)
        tables = "".join(f'[[domains]]\nname = "{d}"\n' for d in self.domains)
        database = f'[tracker]\ndatabase_url = "{database_url}"\n' if database_url else ""
        credentials = (
            'client_id = "${REDDIT_CLIENT_ID}"\nclient_secret = "${REDDIT_CLIENT_SECRET}"\n'
            if auth == "oauth"
            else ""
        )
        self.config = make_config(
            tmp_path,
            f'{database}{tables}[connectors.reddit]\nauth = "{auth}"\n{credentials}'
            f'user_agent = "{USER_AGENT}"\napi_base_url = "{self.fake.api_url}"\n'
            f'auth_base_url = "{self.fake.auth_url}"\nfeed_base_url = "{self.fake.feed_url}"\n'
            f'watch_subreddits = {json.dumps(list(self.watch))}\ninitial_lookback = "{lookback}"\n{extra}',
            env={"REDDIT_CLIENT_ID": CLIENT_ID, "REDDIT_CLIENT_SECRET": secret},
        )
        self.store = Store.open(self.config.database_url)

    def poller(self, **options: Any) -> Any:
        from tracker.poller import Poller

        options.setdefault("sleeper", self.sleeps)
        return Poller(self.config, self.store, clock=self.clock, **options)

    def poll(self, **options: Any) -> Any:
        """One pass with a fresh poller (and so a fresh connector, as after a restart)."""
        poller = self.poller()
        try:
            return poller.poll("reddit", **options)
        finally:
            poller.close()

    def mentions(self) -> dict[str, Any]:
        return {m.platform_id: m for m in self.store.iter_mentions()}

    def cursors(self) -> dict[str, Any]:
        return {key: cursor.state for key, cursor in self.store.cursors("reddit").items()}

    def close(self) -> None:
        self.store.close()
