"""Bluesky posts as mention records: facets and their UTF-8 byte offsets, cards, kinds, times, permalinks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.bluesky.posts import (
    created_at,
    kind_and_parents,
    permalink,
    post_view_mention,
    record_links,
    record_mention,
    split_uri,
)
from tests.support.bluesky_data import external_embed, quote_embed, recorded_post_view
from tracker.connector import Author
from tracker.record import RecordError

LINK = "app.bsky.richtext.facet#link"
URI = "at://did:plc:abc/app.bsky.feed.post/3kabc"
RECEIVED = datetime(2026, 7, 4, 14, 38, 8, tzinfo=UTC)


def facet(start: int, end: Any, uri: str = "https://example.com/a", kind: str = LINK) -> dict[str, Any]:
    return {"index": {"byteStart": start, "byteEnd": end}, "features": [{"$type": kind, "uri": uri}]}


def linked(before: str, anchor: str, after: str = "", uri: str = "https://example.com/a") -> dict[str, Any]:
    start = len(before.encode())
    return {"text": before + anchor + after, "facets": [facet(start, start + len(anchor.encode()), uri)]}


def test_facet_byte_offsets_after_emoji_and_accented_text() -> None:
    (link,) = record_links(linked("Café 🎉 naïve — lisez ", "mon article", " 👩‍👩‍👧"))
    assert (link.url, link.anchor_text, link.source) == ("https://example.com/a", "mon article", "facet")
    (family,) = record_links(linked("👩‍👩‍👧 ", "example.com/x", " and more", "https://example.com/x"))
    assert (family.anchor_text, family.source) == ("example.com/x", "facet")  # not found again as bare text
    (cjk,) = record_links(linked("日本語のテキスト：", "記事はこちら", "。"))
    assert cjk.anchor_text == "記事はこちら"


text_without_surrogates = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@given(
    before=text_without_surrogates,
    anchor=text_without_surrogates.filter(lambda s: s.strip()),
    after=text_without_surrogates,
)
def test_a_facets_anchor_is_the_text_between_its_byte_offsets(before: str, anchor: str, after: str) -> None:
    links = record_links(linked(before, anchor, after, "https://example.com/a"))
    assert links[0].url == "https://example.com/a"
    assert links[0].anchor_text == anchor.strip()
    assert all(link.source == "text" for link in links[1:])  # only links in the text outside the facet


def test_a_facet_splitting_a_character_or_out_of_range_keeps_the_link() -> None:
    split = {"text": "é example", "facets": [facet(1, 5)]}  # starts inside the two bytes of "é"
    assert record_links(split)[0].anchor_text == "\ufffd ex"
    for start, end in [(3, 99), (-1, 4), (4, 4), (5, 2), (0, "9"), (True, 3)]:
        (link,) = record_links({"text": "short text", "facets": [facet(start, end)]})  # type: ignore[arg-type]
        assert (link.url, link.anchor_text) == ("https://example.com/a", None)


def test_only_link_features_count_and_odd_shapes_are_ignored() -> None:
    record = {
        "text": "#tag @someone",
        "facets": [
            facet(0, 4, kind="app.bsky.richtext.facet#tag"),
            {"index": {"byteStart": 5, "byteEnd": 13}, "features": [{"$type": "app.bsky.richtext.facet#mention", "did": "did:plc:x"}]},
            "not a facet", {"index": "nope", "features": {"$type": LINK}}, {"features": [{"$type": LINK, "uri": 7}]},
        ],
    }  # fmt: skip
    assert record_links(record) == ()
    assert record_links({"text": 5, "facets": {"a": 1}, "embed": ["x"]}) == ()


def test_cards_give_their_title_as_anchor_text() -> None:
    (card,) = record_links({"text": "", "embed": external_embed("https://example.com/c", "  A title \n")})
    assert (card.url, card.source, card.anchor_text) == ("https://example.com/c", "embed", "A title")
    (untitled,) = record_links({"text": "", "embed": external_embed("https://example.com/c", " ")})
    assert untitled.anchor_text is None
    media = quote_embed(URI, external_embed("https://example.com/m", "Media card"))
    assert [(k.url, k.anchor_text) for k in record_links({"text": "", "embed": media})] == [
        ("https://example.com/m", "Media card"),
    ]  # fmt: skip
    images = quote_embed(URI, {"$type": "app.bsky.embed.images", "images": []})
    assert record_links({"text": "", "embed": images}) == ()


def test_bare_links_in_the_text_are_found_unless_a_facet_covers_them_or_they_are_shortened() -> None:
    record = linked(
        "read ", "example.com/a", " and example.org/b, or https://example.net/c. Also example.com/very-lo..."
    )
    assert [(k.url, k.source) for k in record_links(record)] == [
        ("https://example.com/a", "facet"), ("example.org/b", "text"), ("https://example.net/c", "text"),
    ]  # fmt: skip


def test_replies_and_quotes_are_kinds_with_their_parents() -> None:
    reply = {
        "reply": {
            "root": {"uri": "at://r/app.bsky.feed.post/1"},
            "parent": {"uri": "at://p/app.bsky.feed.post/2"},
        }
    }
    assert kind_and_parents(reply, URI) == (
        "reply",
        "at://r/app.bsky.feed.post/1",
        "at://p/app.bsky.feed.post/2",
    )
    only_parent = {"reply": {"parent": {"uri": "at://p/app.bsky.feed.post/2"}}}
    assert kind_and_parents(only_parent, URI) == (
        "reply",
        "at://p/app.bsky.feed.post/2",
        "at://p/app.bsky.feed.post/2",
    )
    quote = {"embed": quote_embed("at://q/app.bsky.feed.post/3")}
    assert kind_and_parents(quote, URI) == ("quote", URI, "at://q/app.bsky.feed.post/3")
    assert kind_and_parents({"embed": external_embed("https://x.test", "t")}, URI) == ("post", URI, None)


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2026-07-04T14:38:06.240Z", datetime(2026, 7, 4, 14, 38, 6, 240000, tzinfo=UTC)),
        ("2026-07-04T16:38:02+02:00", datetime(2026, 7, 4, 14, 38, 2, tzinfo=UTC)),
        ("2031-01-01T00:00:00Z", RECEIVED),  # a client's clock in the future: when Bluesky received it
        ("yesterday", RECEIVED),
        (None, RECEIVED),
    ],
)
def test_created_at_is_never_later_than_when_the_post_was_received(stamp: Any, expected: datetime) -> None:
    assert created_at({"createdAt": stamp}, RECEIVED) == expected


def test_permalinks_use_the_handle_when_it_is_known() -> None:
    assert permalink(URI, "alice.test") == "https://bsky.app/profile/alice.test/post/3kabc"
    assert permalink(URI, None) == "https://bsky.app/profile/did:plc:abc/post/3kabc"
    assert permalink(URI, "handle.invalid") == "https://bsky.app/profile/did:plc:abc/post/3kabc"
    for bad in (
        "at://did:plc:abc/app.bsky.feed.like/3k",
        "https://bsky.app/x",
        "at://did:plc:abc/app.bsky.feed.post/",
    ):
        with pytest.raises(RecordError):
            split_uri(bad)


def test_a_record_becomes_a_mention() -> None:
    record = {
        **linked("new: ", "example.com/a"),
        "langs": ["pt-BR", "en"],
        "createdAt": "2026-07-04T14:38:06Z",
    }
    author = Author("bluesky", "did:plc:abc", "alice.test", "Alice", 12)
    mention = record_mention(URI, record, raw="{}", author=author, received=RECEIVED)
    assert (mention.platform, mention.platform_id, mention.kind, mention.lang) == (
        "bluesky",
        URI,
        "post",
        "pt-BR",
    )
    assert (mention.author_id, mention.author_handle, mention.author_name, mention.author_followers) == (
        "did:plc:abc", "alice.test", "Alice", 12,
    )  # fmt: skip
    assert (mention.thread_id, mention.parent_id, mention.metrics.engagement) == (URI, None, None)
    bare = record_mention(URI, {"text": ""}, raw="{}", author=None, received=RECEIVED)
    assert (bare.text, bare.lang, bare.author_handle, bare.created_at) == (None, None, None, RECEIVED)


def test_a_recorded_post_view_becomes_a_mention_with_its_counts() -> None:
    view = recorded_post_view()
    mention = post_view_mention(
        view, RECEIVED, Author("bluesky", "did:plc:ic6zqvuw5ulmfpjiwnhsr2ns", followers=321)
    )
    assert mention.permalink == "https://bsky.app/profile/soubhikbarari.bsky.social/post/3k7qmjev5lr2s"
    assert (mention.author_handle, mention.author_name, mention.author_followers) == (
        "soubhikbarari.bsky.social", "Soubhik Barari", 321,
    )  # fmt: skip
    assert (
        mention.metrics.likes,
        mention.metrics.reposts,
        mention.metrics.replies,
        mention.metrics.quotes,
    ) == (4, 0, 0, 0)
    assert mention.created_at == datetime(2023, 9, 19, 11, 32, 54, 574000, tzinfo=UTC)
    assert [(k.url, k.anchor_text) for k in mention.links] == [
        ("http://localview.net", "localview.net"), ("https://rstats.ai/gov.html", "rstats.ai/gov.html"),
    ]  # fmt: skip
    odd = {
        **view,
        "likeCount": -1,
        "repostCount": "3",
        "author": {"did": view["author"]["did"], "handle": "handle.invalid"},
    }
    other = post_view_mention(odd, RECEIVED, Author("bluesky", "did:plc:someoneelse", "x.test", followers=5))
    assert (other.metrics.likes, other.metrics.reposts, other.author_handle, other.author_followers) == (
        None,
        None,
        None,
        None,
    )
