"""The Wikimedia calls: the MediaWiki Action API of each wiki (``list=exturlusage``, ``action=parse``) and the
REST pageviews API. Requests are serial, carry the configured User-Agent and ``maxlag``, as Wikimedia asks."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from tracker.connector import ConnectorContext
from tracker.errors import ConnectorError
from tracker.http import HttpClient, HttpStatusError

log = logging.getLogger("tracker.connectors.wikipedia")

GONE = frozenset({"nosuchpageid", "missingtitle", "nosuchrevid", "permissiondenied"})
MAXLAG_TRIES = 4
VIEW_DAYS = 30


@dataclass(frozen=True)
class LinkUsage:
    """One ``list=exturlusage`` row: an article and one of its links."""

    page_id: int
    title: str
    url: str


class WikiApi:
    """Calls for one connector; ``api_url`` has ``{wiki}`` where the wiki's host goes."""

    def __init__(
        self,
        http: HttpClient,
        context: ConnectorContext,
        *,
        api_url: str,
        pageviews_url: str,
        maxlag: int,
    ) -> None:
        self.http = http
        self.context = context
        self.api_url = api_url
        self.pageviews_url = pageviews_url.rstrip("/")
        self.maxlag = maxlag
        self.views_failing = False  # set after a pageviews failure: the rest of the pass goes without views

    def call(self, wiki: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """One Action API request; waits and tries again while the wiki's replicas lag (``maxlag``)."""
        query = {**params, "format": "json", "formatversion": 2, "maxlag": self.maxlag}
        url = self.api_url.format(wiki=wiki)
        for attempt in range(1, MAXLAG_TRIES + 1):
            answer = self.http.get_json(url, query)
            if not isinstance(answer, dict):
                raise ConnectorError(f"{wiki} answered the API with {type(answer).__name__}, not an object")
            error = answer.get("error")
            if not isinstance(error, dict):
                return answer
            if error.get("code") != "maxlag" or attempt == MAXLAG_TRIES:
                raise ApiError(wiki, str(error.get("code")), str(error.get("info") or ""))
            log.info("%s: replicas lag (%s); waiting before trying again", wiki, error.get("info"))
            self.context.sleep(5.0 * attempt)
        raise AssertionError("unreachable")

    def link_usage(self, wiki: str, protocol: str, pattern: str, limit: int) -> Iterator[LinkUsage]:
        """Every article (namespace 0) with a link to ``protocol://pattern...`` (``pattern`` may start
        ``*.``), followed through ``continue``; at most ``limit`` rows."""
        params: dict[str, Any] = {
            "action": "query", "list": "exturlusage", "euprop": "ids|title|url", "euprotocol": protocol,
            "euquery": pattern, "eunamespace": 0, "eulimit": "max",
        }  # fmt: skip
        read = 0
        while True:
            answer = self.call(wiki, params)
            rows = (answer.get("query") or {}).get("exturlusage")
            if not isinstance(rows, list):
                raise ConnectorError(
                    f"{wiki} answered list=exturlusage without a list; the API may have changed"
                )
            for row in rows:
                try:
                    yield LinkUsage(int(row["pageid"]), str(row["title"]), str(row.get("url") or row["*"]))
                except (KeyError, TypeError, ValueError):
                    log.warning("%s: skipped a list=exturlusage row that cannot be read: %.200s", wiki, row)
                    continue
                read += 1
                if read >= limit:
                    return
            more = answer.get("continue")
            if not isinstance(more, dict) or not more:
                return
            params = {**params, **{str(k): v for k, v in more.items()}}

    def page(self, wiki: str, page_id: int) -> dict[str, Any] | None:
        """The article as rendered now (``action=parse``: HTML, external links, revision); None when gone."""
        try:
            answer = self.call(
                wiki,
                {
                    "action": "parse", "pageid": page_id, "prop": "text|externallinks|revid",
                    "disableeditsection": 1, "disablelimitreport": 1,
                },
            )  # fmt: skip
        except ApiError as exc:
            if exc.code in GONE:
                return None
            raise
        parse = answer.get("parse")
        if not isinstance(parse, dict) or "pageid" not in parse or "title" not in parse:
            raise ConnectorError(f"{wiki} answered action=parse for page {page_id} without the page")
        return parse

    def views(self, wiki: str, title: str, today: datetime) -> int | None:
        """Views of the article by people (not bots) over the last 30 complete days; None when unknown."""
        if self.views_failing:
            return None
        end = (today - timedelta(days=1)).strftime("%Y%m%d")
        start = (today - timedelta(days=VIEW_DAYS)).strftime("%Y%m%d")
        article = quote(title.replace(" ", "_"), safe="")
        path = f"/metrics/pageviews/per-article/{wiki}/all-access/user/{article}/daily/{start}/{end}"
        try:
            answer = self.http.get_json(self.pageviews_url + path)
        except HttpStatusError as exc:
            if exc.status == 404:
                return None  # no views recorded in the range (a new or an obscure article)
            self._views_failed(exc)
            return None
        except ConnectorError as exc:
            self._views_failed(exc)
            return None
        items = answer.get("items") if isinstance(answer, dict) else None
        if not isinstance(items, list):
            return None
        return sum(
            int(item["views"])
            for item in items
            if isinstance(item, dict) and isinstance(item.get("views"), int)
        )

    def _views_failed(self, exc: Exception) -> None:
        log.warning("page views unavailable for the rest of this pass: %s", exc)
        self.views_failing = True


class ApiError(ConnectorError):
    """The Action API answered with an error object."""

    def __init__(self, wiki: str, code: str, info: str) -> None:
        super().__init__(f"{wiki} API error {code}: {info}")
        self.code = code
