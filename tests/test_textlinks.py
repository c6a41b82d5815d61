"""Finding link candidates in text, Markdown and HTML."""

from __future__ import annotations

import html

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker.textlinks import (
    html_links,
    html_to_text,
    markdown_links,
    strip_markdown_links,
    unescape,
    url_spans,
    urls_in_text,
)


@pytest.mark.parametrize(
    ("text", "urls"),
    [
        ("see https://example.com/a.", ["https://example.com/a"]),
        ("(https://en.wikipedia.org/wiki/Foo_(bar))", ["https://en.wikipedia.org/wiki/Foo_(bar)"]),
        ("visit example.com/page, then", ["example.com/page"]),
        ("mail me@example.com please", []),
        ("bücher.de!", ["bücher.de"]),
        ("https://example.com/x?y=1&z=2#f", ["https://example.com/x?y=1&z=2#f"]),
        ("truncated example.com/very-lo...", []),
        ("two: a.example.com and https://b.example.org", ["a.example.com", "https://b.example.org"]),
        ("no links here, just words.", []),
    ],
)
def test_urls_in_text_finds_schemes_and_bare_hosts(text: str, urls: list[str]) -> None:
    assert urls_in_text(text) == urls


def test_only_scheme_urls_when_bare_hosts_are_off() -> None:
    assert urls_in_text("example.com and https://example.org/x", bare=False) == ["https://example.org/x"]


def test_markdown_links_give_their_anchor_text() -> None:
    text = 'Read [my post](https://example.com/a_(b)) and [x [y]](<https://e.com/z> "title") or [](https://e.com/empty)'
    assert markdown_links(text) == [
        ("https://example.com/a_(b)", "my post"),
        ("https://e.com/z", "x [y]"),
        ("https://e.com/empty", ""),
    ]
    assert "example.com" not in strip_markdown_links(text)


def test_html_links_unescape_entities_in_hrefs_and_text() -> None:
    markup = 'I wrote <a href="https:&#x2F;&#x2F;example.com&#x2F;a?x=1&amp;y=2" rel="nofollow">my &quot;post&quot;</a>.'
    assert html_links(markup) == [("https://example.com/a?x=1&y=2", 'my "post"')]
    assert html_to_text("<p>a &lt;b&gt;<p>c") == "a <b>\nc"


_ENTITY_PIECES = [
    "&",
    "amp;",
    "&amp;",
    "&#x2F;",
    "&#x27;",
    "&quot;",
    "&#x",
    "2F;",
    "#",
    ";",
    "x",
    "/",
    "a",
    "&lt;",
    "&gt",
]


@given(st.lists(st.sampled_from(_ENTITY_PIECES), max_size=12).map("".join))
def test_unescape_gives_what_html_unescape_gives(text: str) -> None:
    assert unescape(text) == html.unescape(text)


# Detection v2: hosts written with other dots, and in scripts without spaces

UNICODE_TEXT = [
    ("see example。com/x now", ["example。com/x"]),
    ("see ｅｘａｍｐｌｅ．ｃｏｍ today", ["ｅｘａｍｐｌｅ．ｃｏｍ"]),
    ("see example｡com", ["example｡com"]),
    ("詳しくはexample.com/a を", ["example.com/a"]),  # glued to Japanese text, as the platforms link it
    ("詳しくはexample.comを見てください", ["example.com"]),
    ("見て。example.com/a。", ["example.com/a"]),  # an ideographic full stop ends the sentence
    ("詳細はhttps://example.com/a、どうぞ", ["https://example.com/a"]),
    ("今日は晴れ。明日は雨。", []),  # two sentences, not a host
    ("例え.テスト/x", ["例え.テスト/x"]),  # a Unicode top-level domain after a dot
    ("visit bücher.de/x, thanks", ["bücher.de/x"]),
    ("mail me@example。com", []),
]


@pytest.mark.parametrize(("text", "expected"), UNICODE_TEXT)
def test_hosts_with_ideographic_dots_or_in_unspaced_scripts_are_found(text: str, expected: list[str]) -> None:
    assert urls_in_text(text) == expected


def test_spans_of_a_glued_host_start_at_the_host() -> None:
    text = "詳しくはexample.com/a を"
    ((start, end, url),) = url_spans(text)
    assert text[start:end] == url == "example.com/a"
