"""A stand-in for a Lemmy instance's API v3 (``/api/v3/search``, ``/api/v3/community``), for the Lemmy
connector's tests.

No recorded Lemmy traffic exists (see ``tests/data/README.md``), so the instance serves the recorded items of
the closest real source, Reddit (a Lemmy community is a subreddit's counterpart): the link posts of
communal's ``search?q=url:...`` answer, the post and comment tree of its ``comments/2r8es6`` answer and the
self posts of praw's ``r/all/search`` cassette, each put in the fields of Lemmy 0.19's post, comment and
community views (as a real 0.19 server answers them: shadone/LemmyKit's ``searchResponseV3.json`` and
``getCommunityResponseV3.json``). Values come from the recorded items (title, url, body, author,
subreddit, subscribers, score, ups, downs, comment counts, times); ids follow from Reddit's base-36 ids
(``ap_id`` ``https://lemmy.world/post/<int(id, 36)>``; an instance's own ids add its ``offset``); fields with no
recorded value are left out, as Lemmy leaves out empty optional ones.

Searches answer the way Lemmy does: ``type_=Url`` matches the post URL, ``Posts`` the title and body,
``Comments`` the comment text (case-insensitive), ``sort=New`` newest first, ``page``/``limit`` (at most 50).
Every request is checked for the parameters the connector must send; a failed check is kept in ``problems``.
"""

from __future__ import annotations

import copy
import json
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from tests.support.http_server import RecordingServer, Reply, Request
from tests.support.recorded_formats import responses
from tests.support.recordings import recording

HOME = "lemmy.world"  # the instance the communities live on
SEARCH = "/api/v3/search"
COMMUNITY = "/api/v3/community"
SEARCH_BY_URL = "communal__reddit_search_by_url.json"
COMMENT_TREE = "communal__reddit_comments.json"
PRAW_SEARCH = "praw__TestSubreddit.test_search.json"


def recorded_posts() -> list[dict[str, Any]]:
    """Reddit posts (``t3`` data) of the recordings, each once: link posts and self posts."""
    found: dict[str, dict[str, Any]] = {}
    listing = json.loads(recording("reddit", SEARCH_BY_URL).read_text(encoding="utf-8"))
    tree = json.loads(recording("reddit", COMMENT_TREE).read_text(encoding="utf-8"))
    searched = next(r for r in responses(recording("reddit", PRAW_SEARCH)) if "/search" in r.uri).json()
    for child in [*listing["data"]["children"], *tree[0]["data"]["children"], *searched["data"]["children"]]:
        found.setdefault(child["data"]["name"], child["data"])
    return list(found.values())


def recorded_comments() -> list[dict[str, Any]]:
    """Reddit comments (``t1`` data) of the recorded tree, depth first, each with its ``_path`` of ids from
    the post down and its ``_descendants`` count."""
    tree = json.loads(recording("reddit", COMMENT_TREE).read_text(encoding="utf-8"))
    return list(_walk(tree[1]["data"]["children"], []))


def _walk(children: list[dict[str, Any]], above: list[str]) -> Iterator[dict[str, Any]]:
    for child in children:
        if child["kind"] != "t1":
            continue
        data = dict(child["data"])
        replies = data.get("replies")
        below = list(_walk(replies["data"]["children"], [*above, data["id"]])) if replies else []
        data["_path"] = [*above, data["id"]]
        data["_descendants"] = len(below)
        yield data
        yield from below


def number(reddit_id: str) -> int:
    return int(reddit_id, 36)


def post_ap_id(reddit_id: str) -> str:
    return f"https://{HOME}/post/{number(reddit_id)}"


def comment_ap_id(reddit_id: str) -> str:
    return f"https://{HOME}/comment/{number(reddit_id)}"


def _time(created_utc: float) -> str:
    return datetime.fromtimestamp(created_utc, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class FakeLemmy:
    """One instance; ``offset`` shifts its own ids, ``local`` says whether the content is its own."""

    def __init__(self, server: RecordingServer, *, offset: int = 0, local: bool = True) -> None:
        self.server = server
        self.offset = offset
        self.local = local
        self.posts = recorded_posts()
        self.comments = recorded_comments()
        self.removed: set[str] = set()  # Reddit ids of posts a moderator removed
        self.fault: str | None = None
        self.extra_fields = False
        self.script: list[Reply] = []
        self.problems: list[str] = []
        server.route("GET", SEARCH, self._checked(self.search))
        server.route("GET", COMMUNITY, self._checked(self.community))

    @property
    def url(self) -> str:
        return self.server.url

    def searches(self) -> list[Request]:
        return self.server.requests_to(SEARCH)

    def publish(self, template_name: str, reddit_id: str, created_utc: float, url: str) -> str:
        """A new link post like recorded post ``template_name``; returns its ActivityPub id."""
        post = copy.deepcopy(next(p for p in self.posts if p["name"] == template_name))
        post.update(id=reddit_id, name=f"t3_{reddit_id}", created_utc=created_utc, url=url, num_comments=0)
        self.posts.append(post)
        return post_ap_id(reddit_id)

    # Views, in the fields of Lemmy 0.19

    def post_view(self, post: dict[str, Any]) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "id": number(post["id"]) + self.offset,
            "name": post["title"],
            "creator_id": self._person_id(post["author"]),
            "community_id": self._community_id(post),
            "removed": post["id"] in self.removed,
            "locked": bool(post.get("locked")),
            "published": _time(post["created_utc"]),
            "deleted": False,
            "nsfw": bool(post.get("over_18")),
            "ap_id": post_ap_id(post["id"]),
            "local": self.local,
            "language_id": 0,
            "featured_community": bool(post.get("stickied")),
            "featured_local": False,
        }
        if post.get("is_self"):
            if post.get("selftext"):
                fields["body"] = post["selftext"]
        else:
            fields["url"] = post["url"]
        view = {
            "post": fields,
            "creator": self._person(post["author"]),
            "community": self._community(post),
            "creator_banned_from_community": False,
            "banned_from_community": False,
            "creator_is_moderator": False,
            "creator_is_admin": False,
            "counts": {
                "post_id": fields["id"],
                "comments": post["num_comments"],
                "score": post["score"],
                "upvotes": post["ups"],
                "downvotes": post["downs"],
                "published": fields["published"],
            },
            "subscribed": "NotSubscribed",
            "saved": False,
            "read": False,
            "hidden": False,
            "creator_blocked": False,
            "unread_comments": post["num_comments"],
        }
        return self._extra(view)

    def comment_view(self, comment: dict[str, Any]) -> dict[str, Any]:
        post = next(p for p in self.posts if p["name"] == comment["link_id"])
        local_id = number(comment["id"]) + self.offset
        fields = {
            "id": local_id,
            "creator_id": self._person_id(comment["author"]),
            "post_id": number(post["id"]) + self.offset,
            "content": comment["body"],
            "removed": False,
            "published": _time(comment["created_utc"]),
            "deleted": False,
            "ap_id": comment_ap_id(comment["id"]),
            "local": self.local,
            "path": "0." + ".".join(str(number(i) + self.offset) for i in comment["_path"]),
            "distinguished": bool(comment.get("distinguished")),
            "language_id": 0,
        }
        view = {
            "comment": fields,
            "creator": self._person(comment["author"]),
            "post": self.post_view(post)["post"],
            "community": self._community(post),
            "counts": {
                "comment_id": local_id,
                "score": comment["score"],
                "upvotes": comment["ups"],
                "downvotes": comment["downs"],
                "published": fields["published"],
                "child_count": comment["_descendants"],
            },
            "creator_banned_from_community": False,
            "banned_from_community": False,
            "creator_is_moderator": False,
            "creator_is_admin": False,
            "subscribed": "NotSubscribed",
            "saved": False,
            "creator_blocked": False,
        }
        return self._extra(view)

    def _person(self, author: str) -> dict[str, Any]:
        return {
            "id": self._person_id(author),
            "name": author,
            "banned": False,
            "actor_id": f"https://{HOME}/u/{author}",
            "local": self.local,
            "deleted": author == "[deleted]",
            "bot_account": False,
            "instance_id": 1,
        }

    def _person_id(self, author: str) -> int:
        return zlib.crc32(author.encode()) % 100_000 + self.offset

    def _community_id(self, post: dict[str, Any]) -> int:
        return number(post["subreddit_id"].removeprefix("t5_")) + self.offset

    def _community(self, post: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": self._community_id(post),
            "name": post["subreddit"].lower(),
            "title": post["subreddit"],
            "removed": False,
            "deleted": False,
            "nsfw": bool(post.get("over_18")),
            "actor_id": f"https://{HOME}/c/{post['subreddit'].lower()}",
            "local": self.local,
            "hidden": False,
            "posting_restricted_to_mods": False,
            "instance_id": 1,
            "visibility": "Public",
        }

    def _extra(self, view: dict[str, Any]) -> dict[str, Any]:
        if not self.extra_fields:
            return view
        return {**view, "image_details": {"width": 1, "height": 1}, "tags": [], "can_mod": False}

    # Plumbing and endpoints

    def _checked(self, handler: Any) -> Any:
        def serve(request: Request) -> Reply:
            if "authorization" in request.headers:
                self.problems.append("an Authorization header was sent to a Lemmy instance")
            if self.script:
                return self.script.pop(0)
            if self.fault == "server_error":
                return Reply(502, "<html>502 Bad Gateway</html>", {"Content-Type": "text/html"})
            if self.fault == "rate_limit":
                return Reply(429, {"error": "rate_limit_error"}, {"Retry-After": "3"})
            if self.fault == "malformed":
                return Reply(200, b'{"type_": "Url", "posts": [{"post": ')
            reply: Reply = handler(request)
            return reply

        return serve

    def search(self, request: Request) -> Reply:
        wanted = {"q", "type_", "sort", "listing_type", "page", "limit"}
        kind = request.param("type_")
        if set(request.query) != wanted or kind not in ("Url", "Posts", "Comments"):
            self.problems.append(f"bad search: {request.query}")
            return Reply(400, {"error": "couldnt_parse_query"})
        if (request.param("sort"), request.param("listing_type")) != ("New", "All"):
            self.problems.append(f"search not newest first over all communities: {request.query}")
        text = (request.param("q") or "").lower()
        limit, page = min(int(request.param("limit") or 10), 50), int(request.param("page") or 1)
        answer: dict[str, Any] = {"type_": kind, "comments": [], "posts": [], "communities": [], "users": []}
        if kind == "Comments":
            found = [c for c in self.comments if text in c["body"].lower()]
            found.sort(key=lambda c: c["created_utc"], reverse=True)
            answer["comments"] = [self.comment_view(c) for c in found[(page - 1) * limit : page * limit]]
        else:

            def matches(post: dict[str, Any]) -> bool:
                if kind == "Url":
                    return not post.get("is_self") and text in post["url"].lower()
                return text in post["title"].lower() or text in (post.get("selftext") or "").lower()

            found = sorted(
                (p for p in self.posts if matches(p)), key=lambda p: p["created_utc"], reverse=True
            )
            answer["posts"] = [self.post_view(p) for p in found[(page - 1) * limit : page * limit]]
        return Reply(200, answer)

    def community(self, request: Request) -> Reply:
        wanted = int(request.param("id") or 0)
        for post in self.posts:
            if self._community_id(post) == wanted and post.get("subreddit_subscribers") is not None:
                community = self._community(post)
                counts = {"community_id": wanted, "subscribers": post["subreddit_subscribers"]}
                view = {"community": community, "subscribed": "NotSubscribed", "blocked": False, "counts": counts,
                        "banned_from_community": False}  # fmt: skip
                return Reply(200, {"community_view": view, "moderators": [], "discussion_languages": []})
        return Reply(404, {"error": "couldnt_find_community"})
