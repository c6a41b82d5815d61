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
