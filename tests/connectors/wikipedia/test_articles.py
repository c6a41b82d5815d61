"""A rendered article as a mention: which links count, their anchor texts and citations (synthetic HTML in the
shapes MediaWiki renders; the recorded articles are read in test_scan.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from connectors.wikipedia.articles import article_mention, digest, permalink
from tracker.urls import DomainMatcher

AT = datetime(2026, 1, 5, tzinfo=UTC)
MATCHER = DomainMatcher([("example.com", True)])


def parse(markup: str, links: list[str], title: str = "Some article") -> dict[str, object]:
    return {"title": title, "pageid": 77, "revid": 9, "text": markup, "externallinks": links}


def test_anchor_texts_are_the_visible_text_and_bare_or_numbered_links_have_none() -> None:
    markup = (
        '<div class="mw-parser-output" lang="de"><p>'
        '<a rel="nofollow" class="external text" href="https://example.com/guide?a=1&amp;b=2">The <i>Guide</i></a> '
        '<a rel="nofollow" class="external free" href="https://example.com/free">https://example.com/free</a> '
        '<a rel="nofollow" class="external autonumber" href="http://docs.example.com/n">[1]</a> '
        '<a rel="nofollow" class="external text" href="//example.com/relative">relative</a>'
        "</p></div>"
    )
    links = [
        "https://example.com/guide?a=1&b=2", "https://example.com/free", "http://docs.example.com/n",
        "//example.com/relative", "https://other.org/x",
    ]  # fmt: skip
    mention = article_mention("de.wikipedia.org", parse(markup, links), MATCHER, created_at=AT, views=5)
    assert mention is not None
    assert [(link.url, link.anchor_text) for link in mention.links] == [
        ("https://example.com/guide?a=1&b=2", "The Guide"),
        ("https://example.com/free", None),
        ("http://docs.example.com/n", None),
        ("https://example.com/relative", "relative"),  # protocol-relative links are https
    ]
    assert (mention.lang, mention.metrics.views, mention.platform_id) == ("de", 5, "de.wikipedia.org:77")
    assert mention.text is None  # none of them is in a list item
    assert '"text"' not in (mention.raw or "")  # the article's HTML is not kept


def test_the_citation_holding_a_link_is_the_mention_text_without_back_links_and_styles() -> None:
    markup = (
        '<ol class="references"><li id="cite_note-1"><span class="mw-cite-backlink"><b><a href="#cite_ref-1">^</a>'
        '</b></span> <span class="reference-text"><style data-mw-deduplicate="x">.cite{color:red}</style>'
        '<cite>Doe, J. (2020). <a rel="nofollow" class="external text" href="https://example.com/paper">'
        '"A paper"</a>. <i>Example</i>.</cite></span></li>'
        '<li id="cite_note-2">Other <a class="external text" href="https://example.com/paper2">two</a></li></ol>'
    )
    mention = article_mention(
        "en.wikipedia.org",
        parse(markup, ["https://example.com/paper", "https://example.com/paper2"]),
        MATCHER,
        created_at=AT,
        views=None,
    )
    assert mention is not None
    assert mention.text == 'Doe, J. (2020). "A paper". Example.\nOther two'


def test_an_article_without_a_link_to_a_monitored_domain_is_no_mention() -> None:
    markup = '<p><a class="external text" href="https://notexample.com/x">look-alike</a></p>'
    assert (
        article_mention(
            "en.wikipedia.org", parse(markup, ["https://notexample.com/x"]), MATCHER, created_at=AT, views=1
        )
        is None
    )


def test_permalinks_are_spelled_as_mediawiki_spells_article_urls() -> None:
    assert permalink("en.wikipedia.org", "Tropical Depression Ten (2005)") == (
        "https://en.wikipedia.org/wiki/Tropical_Depression_Ten_(2005)"
    )
    assert permalink("en.wikipedia.org", "AT&T") == "https://en.wikipedia.org/wiki/AT%26T"
    assert permalink("de.wikipedia.org", "Köln") == "https://de.wikipedia.org/wiki/K%C3%B6ln"


def test_the_digest_of_an_article_s_links_ignores_their_order_and_repeats() -> None:
    assert digest(["b", "a", "a"]) == digest(["a", "b"]) != digest(["a"])
