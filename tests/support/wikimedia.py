"""Stand-ins for Wikimedia: the Action API of several wikis, the REST pageviews API and EventStreams.

The wikis hold articles from the recordings folder (its MANIFEST says where each came from):

* ``en.wikipedia.org`` page 18978754 "Apple" and ``species.wikimedia.org`` page 86997 "Malus domestica": the
  ``action=parse`` answers recorded by ropensci/wikitaxa (2025-07-23), HTML and external links;
* ``en.wikipedia.org`` pages 1868108 "Celtuce" and 21196082 "Tropical Depression Ten (2005)": the
  ``prop=extlinks`` answers recorded by goldsmith/Wikipedia (about 2013). No ``action=parse`` of them was
  recorded, so their parse answer is built from those links: each an external link in a list item, its text
  the URL (as MediaWiki renders a bare link).

``list=exturlusage`` was never recorded anywhere (the MANIFEST's gaps): it is answered from the articles'
external links the way MediaWiki does (``euquery`` a host, ``*.`` for its subdomains too, ``euprotocol``,
namespace 0, ``eulimit`` rows a page continued with ``eucontinue``). Neither were the pageviews API and a
raw EventStreams capture: page views are synthetic (``views`` per article and day, in the documented
``items`` shape) and stream events are copies of the one recorded ``page-links-change`` event with other
pages, links, times and offsets, framed as EventStreams does (``event``, ``id``, ``data`` lines).

Links can be removed from and added to an article (``WikiPage.remove``/``add``), by a test or as the stream
emits the event that reports it, so the article a connector reads again is the article the event describes.
Every request is checked (parameters, continuation, ``maxlag``, a User-Agent with a contact); problems are
kept in ``problems``.
"""

from __future__ import annotations

import base64
import copy
import html
import json
import re
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.support.http_server import LoopbackServer, RecordingServer, Reply, Request
from tests.support.recordings import recording
from tests.support.routes import with_prefix_routes

USER_AGENT = "mention-tracker-tests/1.0 (tests@example.com)"
PAGEVIEWS = "/pageviews/api/rest_v1"
EVENT_TEMPLATE = "Iabotwatch__iabotwatch.awk__page-links-change_event.json"
FAR_FUTURE = datetime(2100, 1, 1, tzinfo=UTC)


def _wikitaxa_parse(name: str) -> dict[str, Any]:
    cassette = json.loads(recording("wikipedia", name).read_text(encoding="utf-8"))
    body = cassette["http_interactions"][0]["response"]["body"]["raw_gzip"]
    return dict(json.loads(zlib.decompress(base64.b64decode(body)).decode("utf-8"))["parse"])


def _extlinks_page(name: str) -> tuple[int, str, list[str]]:
    answer = json.loads(recording("wikipedia", name).read_text(encoding="utf-8"))
    (page,) = answer["query"]["pages"].values()
    return int(page["pageid"]), str(page["title"]), [link["*"] for link in page["extlinks"]]


@dataclass
class WikiPage:
    """An article as ``action=parse`` shows it; ``parse`` is the recorded answer's object (formatversion 1)."""

    wiki: str
    parse: dict[str, Any]
    gone: bool = False

    @property
    def page_id(self) -> int:
        return int(self.parse["pageid"])

    @property
    def title(self) -> str:
        return str(self.parse["title"])

    @property
    def links(self) -> list[str]:
        return list(self.parse["externallinks"])

    def remove(self, url: str) -> None:
        """The link is edited out: gone from the list and from the HTML (its anchor text stays as text)."""
        self.parse["externallinks"] = [link for link in self.links if link != url]

        def unlink(match: re.Match[str]) -> str:
            same = unquote(html.unescape(match.group(1))) == unquote(url)
            return match.group(2) if same else match.group(0)

        anchor = re.compile(r"<a [^>]*?href=\"([^\"]*)\"[^>]*>(.*?)</a>", re.S)
        self.parse["text"]["*"] = anchor.sub(unlink, self.parse["text"]["*"])

    def add(self, url: str, anchor: str | None = None) -> None:
        """The link is added as an external link in a list at the end of the article."""
        self.parse["externallinks"] = [*self.links, url]
        text = html.escape(anchor) if anchor else html.escape(url)
        kind = "text" if anchor else "free"
        item = f'<ul><li><a rel="nofollow" class="external {kind}" href="{html.escape(url)}">{text}</a></li></ul>'
        self.parse["text"]["*"] = self.parse["text"]["*"].replace("</div>", item + "</div>", 1)


def bare_page(wiki: str, page_id: int, title: str, links: list[str]) -> WikiPage:
    """An article known only by its list of links, rendered as MediaWiki renders bare links."""
    items = "".join(
        f'<li><a rel="nofollow" class="external free" href="{html.escape(u)}">{html.escape(u)}</a></li>'
        for u in links
    )
    markup = f'<div class="mw-content-ltr mw-parser-output" lang="en" dir="ltr"><ul>{items}</ul></div>'
    return WikiPage(
        wiki, {"title": title, "pageid": page_id, "revid": 1, "text": {"*": markup}, "externallinks": links}
    )


def recorded_pages() -> list[WikiPage]:
    pages = [
        WikiPage("en.wikipedia.org", _wikitaxa_parse("wikitaxa__wt_wiki_page.json")),
        WikiPage("species.wikimedia.org", _wikitaxa_parse("wikitaxa__wt_wikipedia_parse.json")),
    ]
    for name in (
        "Wikipedia__request_mock_data__extlinks_Celtuce.json",
        "Wikipedia__request_mock_data__extlinks_Tropical_Depression_Ten_2005.json",
    ):
        page_id, title, links = _extlinks_page(name)
        pages.append(bare_page("en.wikipedia.org", page_id, title, links))
    return pages


def _host(url: str) -> str:
    return (urlsplit(url if "//" in url else "//" + url).hostname or "").lower()


class FakeWikis:
    """The Action API of each wiki of ``pages`` at ``<server>/<wiki>/w/api.php``."""

    def __init__(
        self, server: RecordingServer, pages: list[WikiPage] | None = None, *, rows_per_page: int = 500
    ) -> None:
        self.server = server
        self.pages: dict[tuple[str, int], WikiPage] = {}
        self.rows_per_page = rows_per_page
        self.fault: str | None = None
        self.extra_fields = False
        self.maxlag_errors = 0  # answer this many requests with a maxlag error first
        self.script: list[Reply | float] = []
        self.problems: list[str] = []
        for page in pages if pages is not None else recorded_pages():
            self.add_page(page)

    @property
    def api_url(self) -> str:
        return self.server.url + "/{wiki}/w/api.php"

    def add_page(self, page: WikiPage) -> None:
        self.pages[(page.wiki, page.page_id)] = page
        self.server.route(
            "GET", f"/{page.wiki}/w/api.php", lambda request, wiki=page.wiki: self.api(wiki, request)
        )

    def page(self, wiki: str, page_id: int) -> WikiPage:
        return self.pages[(wiki, page_id)]

    def calls(self, action: str) -> list[Request]:
        """The API requests with ``action`` (``name=value``), e.g. ``list=exturlusage``."""
        name, _, value = action.partition("=")
        return [r for r in self.server.requests if r.path.endswith("/w/api.php") and r.param(name) == value]

    def api(self, wiki: str, request: Request) -> Reply:
        if self.script:
            step = self.script.pop(0)
            if isinstance(step, Reply):
                return step
            time.sleep(step)
        if self.fault == "server_error":
            return Reply(
                503, "<html>Our servers are currently under maintenance</html>", {"Content-Type": "text/html"}
            )
        if self.fault == "rate_limit":
            return Reply(429, "Too many requests", {"Retry-After": "1", "Content-Type": "text/plain"})
        if self.fault == "malformed":
            return Reply(200, b'{"query": {"exturlusage": [', {})
        for name, value in (("format", "json"), ("formatversion", "2")):
            if request.param(name) != value:
                self.problems.append(f"{name}={request.param(name)!r}, expected {value}")
        if not (request.param("maxlag") or "").isdigit():
            self.problems.append(f"no maxlag in {request.query}")
        if "@" not in request.headers.get("user-agent", ""):
            self.problems.append(f"User-Agent without a contact: {request.headers.get('user-agent')!r}")
        if self.maxlag_errors:
            self.maxlag_errors -= 1
            return Reply(
                200, {"error": {"code": "maxlag", "info": "Waiting for 10.64.48.1: 7 seconds lagged."}}
            )
        if request.param("action") == "query" and request.param("list") == "exturlusage":
            return self.exturlusage(wiki, request)
        if request.param("action") == "parse":
            return self.parse(wiki, request)
        self.problems.append(f"unexpected API call {request.query}")
        return Reply(200, {"error": {"code": "badvalue", "info": "Unrecognized value"}})

    def exturlusage(self, wiki: str, request: Request) -> Reply:
        if set((request.param("euprop") or "").split("|")) != {"ids", "title", "url"}:
            self.problems.append(f"euprop {request.param('euprop')!r}")
        if (request.param("eunamespace"), request.param("eulimit")) != ("0", "max"):
            self.problems.append(f"eunamespace/eulimit {request.query}")
        protocol = request.param("euprotocol")
        pattern = (request.param("euquery") or "").lower()
        if protocol not in ("http", "https") or not pattern:
            self.problems.append(f"euprotocol/euquery {request.query}")
        domain = pattern.removeprefix("*.")
        rows = []
        for page in self.pages.values():
            if page.wiki != wiki or page.gone:
                continue
            for url in page.links:
                host = _host(url)
                scheme_ok = url.startswith(f"{protocol}://") or url.startswith("//")
                host_ok = host == domain or (pattern.startswith("*.") and host.endswith("." + domain))
                if scheme_ok and host_ok:
                    rows.append({"pageid": page.page_id, "ns": 0, "title": page.title, "url": url})
        rows.sort(key=lambda row: (row["url"], row["pageid"]))
        offset = int(request.param("eucontinue") or 0)
        if request.param("eucontinue") is not None and request.param("continue") != "-||":
            self.problems.append(f"eucontinue without continue=-||: {request.query}")
        chunk = rows[offset : offset + self.rows_per_page]
        if self.extra_fields:
            chunk = [{**row, "future": {"nested": [1]}} for row in chunk]
        body: dict[str, Any] = {"batchcomplete": True, "query": {"exturlusage": chunk}}
        if offset + self.rows_per_page < len(rows):
            body["continue"] = {"eucontinue": str(offset + self.rows_per_page), "continue": "-||"}
        return Reply(200, body)

    def parse(self, wiki: str, request: Request) -> Reply:
        if not {"text", "externallinks"} <= set((request.param("prop") or "").split("|")):
            self.problems.append(f"parse without text and externallinks: {request.query}")
        page_id = int(request.param("pageid") or 0)
        page = self.pages.get((wiki, page_id))
        if page is None or page.gone:
            return Reply(
                200, {"error": {"code": "nosuchpageid", "info": f"There is no page with ID {page_id}."}}
            )
        parse = copy.deepcopy(page.parse)
        if self.extra_fields:
            parse["future_prop"] = {"nested": [1, {"x": None}]}
        return Reply(200, {"parse": parse})


class FakePageviews:
    """``/metrics/pageviews/per-article/<project>/all-access/user/<title>/daily/<start>/<end>`` with
    ``daily[(project, title)]`` views each day; an article without an entry is a 404, as the API answers for
    one without data."""

    def __init__(self, server: RecordingServer) -> None:
        self.server = with_prefix_routes(server)
        self.daily: dict[tuple[str, str], int] = {}
        self.fault: int | None = None
        self.today: datetime | None = None  # when set, the range must be the 30 days before it
        self.problems: list[str] = []
        server.route("GET", f"{PAGEVIEWS}/metrics/pageviews/per-article/", self.handle)

    @property
    def url(self) -> str:
        return self.server.url + PAGEVIEWS

    def calls(self) -> list[Request]:
        return [r for r in self.server.requests if r.path.startswith(PAGEVIEWS)]

    def handle(self, request: Request) -> Reply:
        if self.fault is not None:
            return Reply(self.fault, "<html>unavailable</html>", {"Content-Type": "text/html"})
        parts = request.path.split("/")[len(PAGEVIEWS.split("/")) + 3 :]
        project, access, agent, article, granularity, start, end = (unquote(p) for p in parts)
        if (access, agent, granularity) != ("all-access", "user", "daily"):
            self.problems.append(f"pageviews of {access}/{agent}/{granularity}")
        first = datetime.strptime(start + "+0000", "%Y%m%d%z")
        last = datetime.strptime(end + "+0000", "%Y%m%d%z")
        if (last - first).days != 29:
            self.problems.append(f"pageviews for {(last - first).days + 1} days")
        if self.today is not None and last.date() != (self.today - timedelta(days=1)).date():
            self.problems.append(f"pageviews ending {end}, not the day before {self.today.date()}")
        views = self.daily.get((project, article.replace("_", " ")))
        if views is None:
            return Reply(
                404,
                {"type": "https://mediawiki.org/wiki/HyperSwitch/errors/not_found", "title": "Not found."},
            )
        items = [
            {"project": project.removesuffix(".org"), "article": article, "granularity": "daily",
             "timestamp": (first + timedelta(days=n)).strftime("%Y%m%d00"), "access": "all-access", "agent": "user",
             "views": views}
            for n in range(30)
        ]  # fmt: skip
        return Reply(200, {"items": items})


def recorded_event() -> dict[str, Any]:
    return dict(json.loads(recording("wikipedia", EVENT_TEMPLATE).read_text(encoding="utf-8")))


def link_event(
    offset: int,
    at: datetime,
    wiki: str,
    page_id: int,
    title: str,
    *,
    added: list[str] = (),  # type: ignore[assignment]
    removed: list[str] = (),  # type: ignore[assignment]
    namespace: int = 0,
) -> dict[str, Any]:
    """A ``page-links-change`` event: the recorded one, for another page, links, time and offset."""
    event = recorded_event()
    event["meta"].update(
        domain=wiki, dt=at.strftime("%Y-%m-%dT%H:%M:%SZ"), offset=offset, id=f"00000000-0000-0000-0000-{offset:012d}",
        uri=f"https://{wiki}/wiki/{title.replace(' ', '_')}",
    )  # fmt: skip
    event.update(page_id=page_id, page_title=title.replace(" ", "_"), page_namespace=namespace, rev_id=offset)
    event["added_links"] = [{"link": url, "external": True} for url in added]
    if removed:
        event["removed_links"] = [{"link": url, "external": True} for url in removed]
    return event


def event_id(event: dict[str, Any]) -> str:
    meta = event["meta"]
    return json.dumps([{"topic": meta["topic"], "partition": meta["partition"], "offset": meta["offset"]}])


class FakeEventStreams(LoopbackServer):
    """``/v2/stream/page-links-change`` over server-sent events: the ``events`` from the one after
    ``Last-Event-ID`` (else from ``since``), then, when ``live``, an event stamped in the far future and a
    connection held open, like the live stream: events added later are sent on it as they come, with
    keep-alive comments between them. ``on_emit`` runs the first time each event is sent (the wiki changes as
    the stream reports it)."""

    PATH = "/v2/stream/page-links-change"

    def __init__(
        self, events: list[dict[str, Any]], *, on_emit: Callable[[dict[str, Any]], None] | None = None
    ) -> None:
        self.events = list(events)
        self.on_emit = on_emit
        self.live = True
        self.delay = 0.0
        self.refuse: int | None = None
        self.retry_after: str | None = None
        self.malformed = False
        self.drop_after: int | None = None  # events per connection before it is dropped
        self.huge: bool = False  # send one event larger than any client should accept
        self.requests: list[dict[str, Any]] = []
        self.emitted: set[int] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        fake = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                fake._serve(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        super().__init__(_Handler, poll_interval=0.05)

    @property
    def url(self) -> str:
        return f"{super().url}{self.PATH}"

    def stop(self) -> None:
        self._stopping.set()  # open streams end
        super().stop()

    def add(self, *events: dict[str, Any]) -> None:
        with self._lock:
            self.events.extend(events)

    def _start(self, last_id: str | None, since: str | None) -> tuple[list[dict[str, Any]], set[int]]:
        """The events a connection sends first, and the offsets of all events there were when it opened."""
        with self._lock:
            events = sorted(self.events, key=lambda e: e["meta"]["offset"])
        known = {e["meta"]["offset"] for e in events}
        if last_id:
            offset = max(int(part["offset"]) for part in json.loads(last_id))
            return [e for e in events if e["meta"]["offset"] > offset], known
        if since:
            return [e for e in events if e["meta"]["dt"] >= since], known
        return events, known

    def _added(self, known: set[int]) -> list[dict[str, Any]]:
        """Events added since a connection opened and not sent on it yet (``known`` is updated)."""
        with self._lock:
            added = sorted(
                (e for e in self.events if e["meta"]["offset"] not in known),
                key=lambda e: e["meta"]["offset"],
            )
        known.update(e["meta"]["offset"] for e in added)
        return added

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        headers = {k.lower(): v for k, v in handler.headers.items()}
        with self._lock:
            self.requests.append({"path": parts.path, "query": query, "headers": headers})
        if parts.path != self.PATH:
            handler.send_error(404)
            return
        if self.refuse is not None:
            body = b"Too Many Requests" if self.refuse == 429 else b"Service Unavailable"
            handler.send_response(self.refuse)
            if self.retry_after:
                handler.send_header("Retry-After", self.retry_after)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
            return
        handler.send_response(200)
        handler.send_header(
            "Content-Type", "text/html" if self.malformed else "text/event-stream; charset=utf-8"
        )
        handler.send_header("Cache-Control", "no-cache")
        handler.send_header("Connection", "close")
        handler.end_headers()
        try:
            if self.malformed:
                handler.wfile.write(b"<html>Service Temporarily Unavailable</html>")
                return
            self._write_events(handler, *self._start(headers.get("last-event-id"), query.get("since")))
        except (BrokenPipeError, ConnectionResetError, OSError):
            return  # the client went away

    def _write_events(
        self, handler: BaseHTTPRequestHandler, events: list[dict[str, Any]], known: set[int]
    ) -> None:
        out = handler.wfile
        out.write(b":ok\n\n")
        for sent, event in enumerate(events):
            if self.drop_after is not None and sent >= self.drop_after:
                return
            if self._stopping.is_set():
                return
            self._send(out, event)
        if self.huge:
            out.write(b"event: message\ndata: " + b"x" * (5 * 2**20) + b"\n\n")
        if not self.live:
            return
        future = link_event(10**12, FAR_FUTURE, "canary", 1, "Live edge")
        future["meta"]["domain"] = "canary"
        out.write(f"event: message\nid: {event_id(future)}\ndata: {json.dumps(future)}\n\n".encode())
        out.flush()
        while not self._stopping.wait(0.2):
            for event in self._added(known):
                self._send(out, event)
            out.write(b":\n\n")  # keep-alive; fails once the client has gone
            out.flush()

    def _send(self, out: Any, event: dict[str, Any]) -> None:
        with self._lock:
            first_time = event["meta"]["offset"] not in self.emitted
            self.emitted.add(event["meta"]["offset"])
        if first_time and self.on_emit is not None:
            self.on_emit(event)
        data = json.dumps(event, separators=(",", ":"))
        out.write(f"event: message\nid: {event_id(event)}\ndata: {data}\n\n".encode())
        out.flush()
        if self.delay:
            time.sleep(self.delay)


@dataclass
class Scenario:
    """A wiki, its page views and its link stream, wired so emitted events change the wiki."""

    server: RecordingServer
    wikis: FakeWikis
    views: FakePageviews
    stream: FakeEventStreams
    applied: list[int] = field(default_factory=list)

    def apply(self, event: dict[str, Any]) -> None:
        wiki = event["meta"]["domain"]
        page = self.wikis.pages.get((wiki, int(event["page_id"])))
        if page is None:
            return
        for link in event.get("removed_links") or []:
            page.remove(link["link"])
        for link in event.get("added_links") or []:
            if link["external"] and link["link"] not in page.links:
                page.add(link["link"])
        self.applied.append(int(event["meta"]["offset"]))
