"""The table of redirect wrappers and shorteners: every row is exercised by the URL tests' examples."""

from __future__ import annotations

from urllib.parse import urlsplit

from tests.test_urls import WRAPPED
from tracker.redirects import SHORTENER_HOSTS, WRAPPERS, is_shortener, wrappers_of


def test_every_wrapper_row_has_an_example_in_the_url_tests() -> None:
    untested = []
    for wrapper in WRAPPERS:
        examples = [
            url
            for url, _ in WRAPPED
            if wrapper in wrappers_of(urlsplit(url).hostname or "")
            and urlsplit(url).path.startswith(wrapper.path)
        ]
        if not examples:
            untested.append(wrapper)
    assert untested == []


def test_the_contract_lists_shorteners_and_wrappers_are_known() -> None:
    for host in (
        "bit.ly",
        "buff.ly",
        "ow.ly",
        "tinyurl.com",
        "dlvr.it",
        "trib.al",
        "lnkd.in",
        "is.gd",
        "rebrand.ly",
        "t.ly",
    ):
        assert host in SHORTENER_HOSTS
        assert is_shortener("www." + host)
    for host in (
        "l.facebook.com",
        "www.google.com",
        "out.reddit.com",
        "youtube.com",
        "t.umblr.com",
        "x-y.cdn.ampproject.org",
    ):
        assert wrappers_of(host), host
    assert not wrappers_of("example.com") and not is_shortener("example.com")
