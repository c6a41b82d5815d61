"""A stand-in for the Stack Exchange API 2.3: ``/search/excerpts``, ``/questions/{ids}``, ``/answers/{ids}``.

The only recorded Stack Exchange items with bodies are the ten questions of a ``/2.2/search?filter=withbody``
answer (Taichi-Pink, 2020-03-02, read from the recordings folder); no answer, ``/answers`` or
``/search/excerpts`` response with bodies was ever recorded. So the pool is built from those questions:

* each question as it is (``/questions/{ids}``);
* for a question with an ``accepted_answer_id``, an answer under that real id (``/answers/{ids}``) whose
  ``owner``, ``score`` and ``body`` are the question's and whose ``creation_date`` is the question's
  ``last_activity_date`` (a stand-in: only recorded values, no invented field);
* search excerpts of both (``item_type`` plus the search-excerpt fields the items already have).

Every request is checked (site, ``filter=withbody``, ``sort=creation&order=desc``, ``fromdate``/``todate``,
paging, ``key``); problems are kept in ``problems``. Each answer carries ``quota_max`` and a
``quota_remaining`` that goes down by one a request; ``backoff`` and errors can be scripted.
"""

from __future__ import annotations

import copy
import json
import time
from typing import Any

from tests.support.http_server import RecordingServer, Reply, Request
from tests.support.recordings import recording
from tests.support.routes import with_prefix_routes

QUESTIONS = "Android-related-questions-Stackoverflow__ten_voted_question.json"
BASE = "/2.3"
EXCERPT_FIELDS = ("question_id", "title", "body", "tags", "score", "creation_date", "last_activity_date",
                  "is_answered", "answer_count")  # fmt: skip


def recorded_questions() -> list[dict[str, Any]]:
    return list(json.loads(recording("stackexchange", QUESTIONS).read_text(encoding="utf-8"))["items"])


def answer_for(question: dict[str, Any]) -> dict[str, Any]:
    """The stand-in for a question's accepted answer (see the module docstring)."""
    return {
        "answer_id": question["accepted_answer_id"],
        "question_id": question["question_id"],
        "is_accepted": True,
        "owner": copy.deepcopy(question["owner"]),
        "score": question["score"],
        "creation_date": question["last_activity_date"],
        "last_activity_date": question["last_activity_date"],
        "body": question["body"],
    }


class FakeStackExchange:
    """Serves ``questions`` and ``answers`` (by id) and search excerpts of them."""

    def __init__(self, server: RecordingServer, *, quota_max: int = 300, key: str = "") -> None:
        self.server = server
        self.questions = {q["question_id"]: q for q in recorded_questions()}
        self.answers = {
            q["accepted_answer_id"]: answer_for(q)
            for q in self.questions.values()
            if q.get("accepted_answer_id")
        }
        self.quota_max = quota_max
        self.quota_remaining = quota_max
        self.key = key
        self.site = "stackoverflow"
        self.fault: str | None = None
        self.extra_fields = False
        self.script: list[Reply | float] = []  # answers (or delays in seconds) for the next requests
        self.backoff: dict[str, int] = {}  # method -> backoff to send once
        self.problems: list[str] = []
        with_prefix_routes(server)
        server.route("GET", f"{BASE}/search/excerpts", self.search)
        server.route("GET", f"{BASE}/questions/", self.lookup)
        server.route("GET", f"{BASE}/answers/", self.lookup)

    @property
    def url(self) -> str:
        return self.server.url + BASE

    def searches(self) -> list[Request]:
        return self.server.requests_to(f"{BASE}/search/excerpts")

    def _check(self, request: Request, *names: str) -> None:
        if request.param("site") != self.site:
            self.problems.append(f"site {request.param('site')!r} instead of {self.site!r}")
        if request.param("filter") != "withbody":
            self.problems.append(f"filter {request.param('filter')!r}: the bodies are needed")
        if (request.param("key") or "") != self.key:
            self.problems.append(f"key {request.param('key')!r} instead of {self.key!r}")
        for name in names:
            if request.param(name) is None:
                self.problems.append(f"{request.path} without {name}")

    def _wrap(self, method: str, items: list[dict[str, Any]], has_more: bool = False) -> Reply:
        self.quota_remaining = max(0, self.quota_remaining - 1)
        if self.extra_fields:
            items = [
                {**item, "content_license": "CC BY-SA 4.0", "collectives": [{"x": [1]}]} for item in items
            ]
        body: dict[str, Any] = {
            "items": items,
            "has_more": has_more,
            "quota_max": self.quota_max,
            "quota_remaining": self.quota_remaining,
        }
        if method in self.backoff:
            body["backoff"] = self.backoff.pop(method)
        return Reply(200, body)

    def _broken(self) -> Reply | None:
        if self.script:
            step = self.script.pop(0)
            if isinstance(step, Reply):
                return step
            time.sleep(step)  # longer than the client's timeout: it gives up and retries
        if self.fault == "server_error":
            return Reply(503, "<html>503</html>", {"Content-Type": "text/html"})
        if self.fault == "rate_limit":
            return Reply(429, {"error_id": 502, "error_name": "throttle_violation"}, {"Retry-After": "2"})
        if self.fault == "malformed":
            return Reply(200, b'{"items": [{"question_id": 1', {})
        return None

    def excerpts(self) -> list[dict[str, Any]]:
        found = [
            {"item_type": "question", **{k: q[k] for k in EXCERPT_FIELDS if k in q}}
            for q in self.questions.values()
        ]
        for answer in self.answers.values():
            question = self.questions[answer["question_id"]]
            found.append({
                "item_type": "answer", "answer_id": answer["answer_id"], "question_id": answer["question_id"],
                "title": question["title"], "body": answer["body"], "score": answer["score"],
                "creation_date": answer["creation_date"], "last_activity_date": answer["last_activity_date"],
                "is_accepted": answer["is_accepted"], "tags": question["tags"],
            })  # fmt: skip
        return found

    def search(self, request: Request) -> Reply:
        broken = self._broken()
        if broken is not None:
            return broken
        self._check(request, "url", "fromdate", "todate", "pagesize", "page")
        if (request.param("sort"), request.param("order")) != ("creation", "desc"):
            self.problems.append(f"search not newest first: {request.query}")
        needle = (request.param("url") or "").strip("*").lower()
        low, high = int(request.param("fromdate") or 0), int(request.param("todate") or 0)
        size, page = int(request.param("pagesize") or 30), int(request.param("page") or 1)
        if size > 100:
            self.problems.append(f"pagesize {size} is more than 100")
        hits = [
            hit for hit in self.excerpts()
            if needle and needle in hit["body"].lower() and low <= hit["creation_date"] <= high
        ]  # fmt: skip
        hits.sort(key=lambda hit: hit["creation_date"], reverse=True)
        return self._wrap("search", hits[(page - 1) * size : page * size], has_more=len(hits) > page * size)

    def lookup(self, request: Request) -> Reply:
        broken = self._broken()
        if broken is not None:
            return broken
        self._check(request)
        kind, _, ids = request.path[len(BASE) + 1 :].partition("/")
        pool: dict[int, dict[str, Any]] = self.questions if kind == "questions" else self.answers
        numbers = [int(n) for n in ids.split(";")]
        if len(numbers) > 100:
            self.problems.append(f"{len(numbers)} ids in one lookup")
        return self._wrap(kind, [copy.deepcopy(pool[n]) for n in numbers if n in pool])
