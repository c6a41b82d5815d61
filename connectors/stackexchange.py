"""Stack Exchange (Stack Overflow and its sister sites), through the public API 2.3.

Per configured site and monitored domain, ``/search/excerpts`` with ``url=*<domain>*``, newest first
(``sort=creation&order=desc``), from the cursor (``fromdate``) to the start of the pass (``todate``).
``/search/excerpts`` is the search that returns answers as well as questions (``/search/advanced`` returns
questions only, and the answers are where links to documentation and blogs usually are). The hits are then
read in full, up to 100 a request, through ``/questions/{ids}`` and ``/answers/{ids}`` with the ``withbody``
filter: the excerpts carry no author, and those two calls are also what refresh uses.

The API allows 300 requests a day per IP address without a ``key`` and 10,000 with one. Every answer says how
many are left (``quota_remaining``, shown in `tracker status`); a pass stops before the last ``quota_reserve``
are spent and the next pass continues from the cursor. A ``backoff`` in an answer is obeyed before the same
method is called again. A window is read page by page, its position kept in the cursor, so a pass cut short
(quota, ``max_pages``, a failure) resumes at the next page instead of reading it all again.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import Field, SecretStr, field_validator

from tracker.connector import Connector, ConnectorContext, FetchRequest, Page, Usage, domain_names
from tracker.errors import ConnectorError
from tracker.http import HttpClient, HttpStatusError
from tracker.record import Link, Mention, Metrics, RecordError, from_timestamp, parse_iso, raw_json
from tracker.settings import BaseUrl, ConnectorSettings, DomainSettings, Duration
from tracker.textlinks import html_links, html_to_text

FILTER = "withbody"  # the built-in filter: the default fields plus the bodies
_SITE = re.compile(r"^[a-z0-9][a-z0-9.\-]{0,60}$")
_ID = re.compile(r"^([a-z0-9.\-]+):([qa])(\d{1,12})$")
_ERROR = re.compile(r'"error_message":\s*"([^"]*)".*?"error_name":\s*"([^"]*)"|"error_name":\s*"([^"]*)"')
# Sites whose host is not <site>.stackexchange.com.
HOSTS = {
    "stackoverflow": "stackoverflow.com",
    "superuser": "superuser.com",
    "serverfault": "serverfault.com",
    "askubuntu": "askubuntu.com",
    "stackapps": "stackapps.com",
    "mathoverflow.net": "mathoverflow.net",
    "meta": "meta.stackexchange.com",
}


class QuotaError(ConnectorError):
    """The day's request quota is (almost) used up; the next pass after it resets continues."""


class StackExchangeSettings(ConnectorSettings):
    interval: Duration = timedelta(hours=1)
    sites: tuple[str, ...] = ("stackoverflow",)
    """The sites searched, by their API names: `"stackoverflow"`, `"superuser"`, `"unix"`."""
    key: SecretStr = SecretStr("")  # optional app key: 10,000 requests a day instead of 300
    api_base_url: BaseUrl = "https://api.stackexchange.com/2.3"
    """The Stack Exchange API (or a proxy)."""
    page_size: int = Field(100, ge=1, le=100)
    """Results per request."""
    initial_lookback: Duration = timedelta(days=7)
    """How far back the first pass searches."""
    overlap: Duration = timedelta(hours=1)  # the search index takes a while to show new posts
    quota_reserve: int = Field(10, ge=0, le=10_000)  # requests left unspent each day, for refresh and you
    max_pages: int = Field(10, ge=1, le=1000)  # search pages per site, domain and pass
    max_backoff: Duration = timedelta(minutes=10)  # a longer `backoff` fails the pass instead of stalling it
    timeout: Duration = timedelta(seconds=30)
    """How long one request may take."""

    @field_validator("sites")
    @classmethod
    def _site_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError('is empty; list at least one site, like ["stackoverflow"]')
        names = []
        for site in value:
            name = site.strip().lower()
            if not _SITE.match(name):
                raise ValueError(
                    f'{site!r} is not a Stack Exchange site name; use its API name, like "stackoverflow", '
                    '"superuser" or "unix" (the `api_site_parameter` of https://api.stackexchange.com/2.3/sites)'
                )
            names.append(name)
        return tuple(dict.fromkeys(names))


def site_host(site: str) -> str:
    """The web host of a site from its API name: ``unix`` is ``unix.stackexchange.com``, ``meta.unix`` is
    ``unix.meta.stackexchange.com``, ``ru.stackoverflow`` is ``ru.stackoverflow.com``."""
    if site in HOSTS:
        return HOSTS[site]
    if site.endswith((".com", ".net")):
        return site
    meta = site.startswith("meta.")
    base = site[5:] if meta else site
    host = HOSTS.get(base) or (f"{base}.com" if "." in base else f"{base}.stackexchange.com")
    if not meta:
        return host
    if host.endswith(".stackexchange.com"):
        return host.replace(".stackexchange.com", ".meta.stackexchange.com")
    return f"meta.{host}"


class StackExchangeConnector(Connector):
    type = "stackexchange"
    platform = "stackexchange"
    Settings = StackExchangeSettings
    refresh_kinds = frozenset({"question", "answer"})
    description = "Stack Exchange questions and answers (API 2.3, /search/excerpts)"

    settings: StackExchangeSettings

    def __init__(self, name: str, settings: ConnectorSettings, context: ConnectorContext) -> None:
        super().__init__(name, settings, context)
        self.http = HttpClient(
            self.settings.api_base_url, context, timeout=self.settings.timeout.total_seconds()
        )
        self.quota: tuple[int, int, datetime] | None = None  # (remaining, max, when it was said)
        self._not_before: dict[str, float] = {}  # method -> monotonic time its backoff ends

    def close(self) -> None:
        self.http.close()

    def describe(self, domains: Sequence[DomainSettings]) -> str:
        names = domain_names(domains)
        key = "an app key" if self.settings.key.get_secret_value() else "no key: 300 requests a day"
        return (
            f"searches {', '.join(self.settings.sites)} for questions and answers linking to {names} ({key})"
        )

    # Requests

    def _call(self, method: str, path: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """One API call: quota and backoff first, then the request; returns the wrapper object."""
        self._check_quota()
        wait = self._not_before.get(method, 0.0) - self.context.monotonic()
        if wait > 0:
            self.context.sleep(wait)
        query = {**params, "filter": FILTER}
        key = self.settings.key.get_secret_value()
        if key:
            query["key"] = key
        try:
            wrapper = self.http.get_json(path, query)
        except HttpStatusError as exc:
            raise ConnectorError(_explain(exc)) from exc
        if not isinstance(wrapper, dict) or not isinstance(wrapper.get("items"), list):
            raise ConnectorError(
                f"Stack Exchange answered {method} without an items list; the API may have changed"
            )
        remaining, most = wrapper.get("quota_remaining"), wrapper.get("quota_max")
        if isinstance(remaining, int) and isinstance(most, int):
            self.quota = (remaining, most, self.context.clock())
            # Into the meter as soon as it is known, so a pass that fails after this request reports it too.
            self.context.usage.add(Usage(counters={"quota_remaining": remaining, "quota_max": most}))
        backoff = wrapper.get("backoff")
        if isinstance(backoff, int | float) and backoff > 0:
            if backoff > self.settings.max_backoff.total_seconds():
                raise ConnectorError(
                    f"Stack Exchange asked to wait {backoff:.0f}s before calling {method} again; the next pass will"
                )
            self._not_before[method] = self.context.monotonic() + float(backoff)
        return wrapper

    def _remember_quota(self, request: FetchRequest) -> None:
        """The latest quota any source's cursor saw, when it is newer than what this process knows."""
        for cursor in request.cursors.values():
            saved = cursor.state.get("quota") if cursor.version == self.cursor_version else None
            if not (isinstance(saved, list) and len(saved) == 3):
                continue
            try:
                remaining, most, said = int(saved[0]), int(saved[1]), parse_iso(str(saved[2]))
            except (TypeError, ValueError):
                continue
            if self.quota is None or said > self.quota[2]:
                self.quota = (remaining, most, said)

    def _check_quota(self) -> None:
        if self.quota is None:
            return
        remaining, most, said = self.quota
        if said.astimezone(UTC).date() != self.context.clock().astimezone(UTC).date():
            self.quota = None  # the quota resets at midnight UTC
            return
        if remaining <= self.settings.quota_reserve:
            hint = "" if self.settings.key.get_secret_value() else "; set `key` for 10,000 a day"
            raise QuotaError(
                f"Stack Exchange's daily quota is almost used: {remaining} of {most} requests left, "
                f"{self.settings.quota_reserve} kept in reserve (quota_reserve); the next pass after 00:00 UTC "
                f"continues from the cursor{hint}"
            )

    def _lookup(self, site: str, kind: str, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """Questions or answers (``kind``) by id, 100 a request; ids the site no longer has are missing."""
        found: dict[int, dict[str, Any]] = {}
        for start in range(0, len(ids), 100):
            chunk = ids[start : start + 100]
            wrapper = self._call(
                f"/{kind}", f"/{kind}/{';'.join(str(i) for i in chunk)}",
                {"site": site, "pagesize": len(chunk)},
            )  # fmt: skip
            key = "question_id" if kind == "questions" else "answer_id"
            for item in wrapper["items"]:
                if isinstance(item, dict) and isinstance(item.get(key), int):
                    found[item[key]] = item
        return found

    # Passes

    def fetch(self, request: FetchRequest) -> Iterator[Page]:
        self._remember_quota(request)
        for site in self.settings.sites:
            for domain in request.domains:
                yield from self._read_source(request, site, domain.name)

    def _read_source(self, request: FetchRequest, site: str, domain: str) -> Iterator[Page]:
        key = f"{site}:{domain}"
        state = self.cursor_state(request, key) or {}
        since = int(request.since.timestamp()) if request.since is not None else None
        if state.get("since") != since:
            state = {}  # a backfill to another date starts over
        window = state.get("window")
        if (
            isinstance(window, list)
            and len(window) == 2
            and all(isinstance(bound, int) for bound in window)
            and isinstance(state.get("page"), int)
        ):
            low, high, page = window[0], window[1], int(state["page"])  # resume a window's paging
        else:
            high = int(request.started_at.timestamp())
            if isinstance(state.get("until"), int):
                low = int(state["until"]) - int(self.settings.overlap.total_seconds())
            elif since is not None:
                low = since
            else:
                low = high - int(self.settings.initial_lookback.total_seconds())
            page = 1
        for _ in range(self.settings.max_pages):
            wrapper = self._call(
                "/search/excerpts",
                "/search/excerpts",
                {
                    "site": site, "url": f"*{domain}*", "sort": "creation", "order": "desc",
                    "fromdate": low, "todate": high, "pagesize": self.settings.page_size, "page": page,
                },
            )  # fmt: skip
            hits = wrapper["items"]
            mentions, problems = self._read_hits(site, hits)
            more = bool(wrapper.get("has_more")) and bool(hits)
            next_state: dict[str, Any] = (
                {"window": [low, high], "page": page + 1} if more else {"until": high}
            )
            if since is not None:
                next_state["since"] = since
            if self.quota is not None:  # so the next process knows it too (`tracker poll` from cron)
                next_state["quota"] = [self.quota[0], self.quota[1], self.quota[2].isoformat()]
            yield Page(
                key,
                mentions,
                cursor=self.make_cursor(next_state),
                usage=self.context.usage.take(len(hits)),
                skipped=len(problems),
                problems=problems,
            )
            if not more:
                return
            page += 1

    def _read_hits(self, site: str, hits: list[Any]) -> tuple[list[Mention], list[str]]:
        """The questions and answers of a page of search hits, read in full."""
        problems: list[str] = []
        titles: dict[int, str] = {}
        question_ids: list[int] = []
        answer_ids: list[int] = []
        for hit in hits:
            kind = hit.get("item_type") if isinstance(hit, dict) else None
            if kind == "question" and isinstance(hit.get("question_id"), int):
                question_ids.append(hit["question_id"])
            elif kind == "answer" and isinstance(hit.get("answer_id"), int):
                answer_ids.append(hit["answer_id"])
                if isinstance(hit.get("question_id"), int) and isinstance(hit.get("title"), str):
                    titles[hit["answer_id"]] = hit["title"]
            else:
                problems.append(
                    f"Stack Exchange search hit is neither a question nor an answer: {str(hit)[:100]}"
                )
        questions = self._lookup(site, "questions", list(dict.fromkeys(question_ids))) if question_ids else {}
        answers = self._lookup(site, "answers", list(dict.fromkeys(answer_ids))) if answer_ids else {}
        host = self._host(site, questions.values())
        mentions, more_problems = normalize(site, host, questions, answers, titles)
        return mentions, problems + more_problems

    def _host(self, site: str, questions: Any) -> str:
        for question in questions:
            found = re.match(r"https://([^/]+)/", str(question.get("link") or ""))
            if found:
                return found.group(1)
        return site_host(site)

    # Engagement refresh

    def refresh(self, platform_ids: Sequence[str]) -> Iterator[Page]:
        """Questions and answers by id; those a site no longer returns were deleted."""
        wanted: dict[tuple[str, str], list[int]] = {}
        problems: list[str] = []
        for platform_id in platform_ids:
            found = _ID.match(platform_id)
            if found is None:
                problems.append(f"Stack Exchange id {platform_id!r} is not <site>:q<id> or <site>:a<id>")
                continue
            wanted.setdefault((found.group(1), found.group(2)), []).append(int(found.group(3)))
        for (site, letter), ids in wanted.items():
            kind = "questions" if letter == "q" else "answers"
            items = self._lookup(site, kind, ids)
            questions = items if kind == "questions" else {}
            answers = items if kind == "answers" else {}
            titles: dict[int, str] = {}
            parents: dict[int, dict[str, Any]] = {}
            untitled = {a["question_id"] for a in answers.values() if "title" not in a and "question_id" in a}
            if untitled:  # an answer's title is its question's
                parents = self._lookup(site, "questions", sorted(untitled))
                titles = {
                    aid: parents[a["question_id"]]["title"]
                    for aid, a in answers.items()
                    if "question_id" in a and "title" in parents.get(a["question_id"], {})
                }
            host = self._host(site, [*questions.values(), *parents.values()])
            mentions, bad = normalize(site, host, questions, answers, titles)
            yield Page(
                "refresh",
                mentions,
                usage=self.context.usage.take(len(items)),
                deleted=[f"{site}:{letter}{i}" for i in ids if i not in items],
                skipped=len(bad) + len(problems),
                problems=bad + problems,
            )
            problems = []
        if problems:
            yield Page("refresh", usage=self.context.usage.take(), skipped=len(problems), problems=problems)


def _explain(exc: HttpStatusError) -> str:
    """A Stack Exchange error answer as one line (``error_name``: ``error_message``)."""
    found = _ERROR.search(str(exc))
    if found is None:
        return str(exc)
    message, name = (found.group(1), found.group(2)) if found.group(2) else ("", found.group(3))
    if name == "throttle_violation":
        return f"Stack Exchange throttled the requests ({message or name}); the next pass will try again"
    return f"Stack Exchange refused the request: {name}: {message}".rstrip(": ")


def normalize(
    site: str,
    host: str,
    questions: Mapping[int, dict[str, Any]],
    answers: Mapping[int, dict[str, Any]],
    titles: Mapping[int, str],
) -> tuple[list[Mention], list[str]]:
    """Mentions of full question and answer objects; ``titles`` are the titles of answers' questions, for
    answers that do not carry it."""
    mentions: list[Mention] = []
    problems: list[str] = []
    for qid, question in questions.items():
        try:
            mentions.append(question_mention(site, host, question))
        except (KeyError, TypeError, ValueError, RecordError) as exc:
            problems.append(f"Stack Exchange question {site}:q{qid}: {type(exc).__name__}: {exc}")
    for aid, answer in answers.items():
        try:
            mentions.append(answer_mention(site, host, answer, titles.get(aid)))
        except (KeyError, TypeError, ValueError, RecordError) as exc:
            problems.append(f"Stack Exchange answer {site}:a{aid}: {type(exc).__name__}: {exc}")
    return mentions, problems


def _owner(item: Mapping[str, Any]) -> tuple[str | None, str | None]:
    owner = item.get("owner")
    if not isinstance(owner, dict):
        return None, None
    user_id = owner.get("user_id")
    name = owner.get("display_name")
    return (str(user_id) if user_id is not None else None, html.unescape(name) if name else None)


def _links(body: str) -> tuple[Link, ...]:
    return tuple(Link(href, "text", anchor or None) for href, anchor in html_links(body))


def _int(value: Any) -> int | None:
    return None if value is None or isinstance(value, bool) else int(value)


def question_mention(site: str, host: str, question: Mapping[str, Any]) -> Mention:
    qid = int(question["question_id"])
    author_id, author_name = _owner(question)
    body = question.get("body") or ""
    title = question.get("title")
    return Mention(
        platform="stackexchange",
        platform_id=f"{site}:q{qid}",
        kind="question",
        permalink=f"https://{host}/q/{qid}",
        created_at=from_timestamp(int(question["creation_date"])),
        author_id=author_id,
        author_handle=author_name,
        author_name=author_name,
        community=site,
        title=html.unescape(title) if isinstance(title, str) else None,
        text=html_to_text(body) or None,
        thread_id=f"{site}:q{qid}",
        links=_links(body),
        metrics=Metrics(
            score=_int(question.get("score")),
            replies=_int(question.get("answer_count")),
            views=_int(question.get("view_count")),
        ),
        raw=raw_json(question),
    )


def answer_mention(site: str, host: str, answer: Mapping[str, Any], title: str | None) -> Mention:
    aid = int(answer["answer_id"])
    qid = int(answer["question_id"])
    author_id, author_name = _owner(answer)
    body = answer.get("body") or ""
    title = answer.get("title", title)
    return Mention(
        platform="stackexchange",
        platform_id=f"{site}:a{aid}",
        kind="answer",
        permalink=f"https://{host}/a/{aid}",
        created_at=from_timestamp(int(answer["creation_date"])),
        author_id=author_id,
        author_handle=author_name,
        author_name=author_name,
        community=site,
        title=html.unescape(title) if isinstance(title, str) else None,
        text=html_to_text(body) or None,
        thread_id=f"{site}:q{qid}",
        parent_id=f"{site}:q{qid}",
        links=_links(body),
        metrics=Metrics(score=_int(answer.get("score"))),
        raw=raw_json(answer),
    )
