"""Reddit things as records: Markdown links and their anchor texts, crossposts, deleted and removed things."""

from __future__ import annotations

import copy

import pytest

from connectors.reddit.things import (
    anchor_text,
    is_gone,
    normalize_comment,
    normalize_post,
    normalize_thing,
    text_links,
)
from tests.support.reddit_api import ALL_COMMENTS, DOMAIN_NEW, SEARCH, recorded
from tracker.record import RecordError


def thing(listing: str, fullname: str) -> dict[str, object]:
    return next(t["data"] for t in recorded(listing) if t["data"]["name"] == fullname)


@pytest.mark.parametrize(
    ("markdown", "links"),
    [
        ("[the docs](https://example.com/docs)", [("https://example.com/docs", "the docs")]),
        ("[**Bold** ~~old~~ `code`](https://example.com/a)", [("https://example.com/a", "Bold old code")]),
        (
            "[^(visit us on Discord!)](https://discordapp.com/x)",
            [("https://discordapp.com/x", "visit us on Discord!")],
        ),
        (
            r"see https://en.wikipedia.org/wiki/Foo\_bar now",
            [("https://en.wikipedia.org/wiki/Foo_bar", None)],
        ),
        (
            "[x](https://example.com/x) and https://example.com/y.",
            [("https://example.com/x", "x"), ("https://example.com/y", None)],
        ),
        ("Tacticalhaptics.com is great", [("Tacticalhaptics.com", None)]),
        ('[spoiler](/s "the end")', [("/s", "spoiler")]),
    ],
)
def test_markdown_links_come_with_their_visible_anchor_text(
    markdown: str, links: list[tuple[str, str | None]]
) -> None:
    assert [(link.url, link.anchor_text) for link in text_links(markdown)] == links


def test_anchor_text_without_any_text_is_none() -> None:
    assert anchor_text("**  **") is None


def test_a_crosspost_of_a_self_post_takes_the_shared_posts_text_and_links() -> None:
    parent = copy.deepcopy(thing(SEARCH, "t3_4at068"))
    crosspost = {
        **copy.deepcopy(thing(DOMAIN_NEW, "t3_5d7qul")),
        "id": "zzx", "name": "t3_zzx", "is_self": False, "selftext": "", "subreddit": "redditdev",
        "url": "/r/p18s/comments/4at068/", "permalink": "/r/redditdev/comments/zzx/crossposted/",
        "crosspost_parent": "t3_4at068", "crosspost_parent_list": [parent],
    }  # fmt: skip
    mention = normalize_post(crosspost)
    assert (mention.platform_id, mention.community, mention.thread_id) == ("t3_zzx", "r/redditdev", "t3_zzx")
    assert mention.text == parent["selftext"]
    github = [link for link in mention.links if "github.com" in link.url]
    assert [link.anchor_text for link in github][:2] == [
        "最近（去年の 12 月）コミットされた",
        "隔離（quarantine）されたサブレにおいて",
    ]


def test_a_comment_without_a_permalink_gets_one_built_from_its_thread() -> None:
    mention = normalize_comment(thing(ALL_COMMENTS, "t1_dbhn0zu"))
    assert mention.permalink == "https://www.reddit.com/r/smashbros/comments/5jadwu/_/dbhn0zu/"
    modern = {
        **thing(ALL_COMMENTS, "t1_dbhn0zu"),
        "permalink": "/r/smashbros/comments/5jadwu/nominate/dbhn0zu/",
    }
    assert (
        normalize_comment(modern).permalink
        == "https://www.reddit.com/r/smashbros/comments/5jadwu/nominate/dbhn0zu/"
    )


def test_a_search_results_permalink_loses_its_tracking_query() -> None:
    mention = normalize_post(thing(SEARCH, "t3_3b4erh"))
    assert (
        mention.permalink
        == "https://www.reddit.com/r/learnpython/comments/3b4erh/collecting_submission_data_from_reddit/"
    )


@pytest.mark.parametrize(
    ("change", "gone"),
    [
        ({"selftext": "[deleted]", "author": "[deleted]"}, True),
        ({"selftext": "[removed]"}, True),
        ({"removed_by_category": "moderator"}, True),
        ({"removed_by_category": None}, False),
        ({"author": "[deleted]"}, False),  # a deleted account: its posts stay up
    ],
)
def test_deleted_and_removed_posts_are_told_apart_from_deleted_accounts(
    change: dict[str, object], gone: bool
) -> None:
    assert is_gone({**thing(SEARCH, "t3_3b4erh"), **change}) is gone


def test_a_removed_comment_is_gone() -> None:
    assert is_gone({**thing(ALL_COMMENTS, "t1_dbhn0zu"), "body": "[removed]"})
    assert not is_gone(thing(ALL_COMMENTS, "t1_dbhn0zu"))


def test_a_thing_without_a_usable_time_or_kind_is_refused() -> None:
    with pytest.raises(RecordError, match="created_utc is 'yesterday'"):
        normalize_post({**thing(SEARCH, "t3_3b4erh"), "created_utc": "yesterday"})
    with pytest.raises(RecordError, match="neither a post"):
        normalize_thing("t5", {"id": "2qh0u"})
