"""Link matching and canonical URLs (CONTRACT §2). Expected values are written from the rules."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker.urls import DomainMatcher, canonical_url, normalize_domain

CANONICAL = [
    ("https://example.com", "https://example.com/"),
    ("http://example.com/", "https://example.com/"),
    ("HTTPS://EXAMPLE.COM/Path", "https://example.com/Path"),
    ("https://www.example.com/a", "https://example.com/a"),
    ("https://example.com:443/a", "https://example.com/a"),
    ("http://example.com:80/a", "https://example.com/a"),
    ("https://example.com:8443/a", "https://example.com:8443/a"),
    ("https://example.com/a/", "https://example.com/a"),
    ("https://example.com/a//", "https://example.com/a"),
    ("https://example.com/a#section", "https://example.com/a"),
    ("https://example.com/?utm_source=x", "https://example.com/"),
    ("https://example.com/a?utm_source=tw&utm_medium=social&id=5", "https://example.com/a?id=5"),
    ("https://example.com/a?b=2&a=1", "https://example.com/a?a=1&b=2"),
    ("https://example.com/a?fbclid=abc", "https://example.com/a"),
    ("https://example.com/a?gclid=1&dclid=2&msclkid=3", "https://example.com/a"),
    ("https://example.com/a?mc_cid=1&mc_eid=2&igshid=3&ref_src=twsrc", "https://example.com/a"),
    ("https://example.com/a?_hsenc=x&_hsmi=y&page=2", "https://example.com/a?page=2"),
    ("https://example.com/a?UTM_Source=x", "https://example.com/a"),
    ("https://example.com./a", "https://example.com/a"),
    ("https://bücher.de/katalog", "https://xn--bcher-kva.de/katalog"),
    ("https://BÜCHER.DE/", "https://xn--bcher-kva.de/"),
    ("https://user:pass@example.com/a", "https://example.com/a"),
    ("https://example.com/a/./b/../c", "https://example.com/a/c"),
    ("https://example.com/%7Euser", "https://example.com/~user"),
    ("https://example.com/a%2fb", "https://example.com/a%2Fb"),
    ("https://example.com/caf%c3%a9", "https://example.com/caf%C3%A9"),
    ("https://example.com/café", "https://example.com/caf%C3%A9"),
    ("https://example.com/a b", "https://example.com/a%20b"),
    ("https://example.com/a?q=hello+world", "https://example.com/a?q=hello+world"),
    ("https://example.com/a?q=hello%20world", "https://example.com/a?q=hello+world"),
    ("https://example.com/a?x=1&x=0", "https://example.com/a?x=1&x=0"),
    ("https://example.com/a?", "https://example.com/a"),
    ("https://example.com/a?flag", "https://example.com/a?flag"),
    ("//example.com/a", "https://example.com/a"),
    ("example.com/a", "https://example.com/a"),
    ("www.example.com", "https://example.com/"),
    ("https://sub.www.example.com/", "https://sub.www.example.com/"),
    ("https://www.com/", "https://www.com/"),
    (
        "https://example.com/a?redirect=https%3A%2F%2Fother.org%2F",
        "https://example.com/a?redirect=https://other.org/",
    ),
    ("https://example.com/a?b=%26", "https://example.com/a?b=%26"),
    ("https://example.com/a?c=%3D", "https://example.com/a?c=%3D"),
    ("https://[2001:db8::1]:443/x", "https://[2001:db8::1]/x"),
    ("https://example.com/100%", "https://example.com/100%25"),
    ("https://Example.com/a?B=1&a=2", "https://example.com/a?B=1&a=2"),
    ("https://example.com/a;param", "https://example.com/a;param"),
    ("https://example.com/a?spm=1.2", "https://example.com/a"),
    ("https://m.example.com/a", "https://m.example.com/a"),
    ("https://example.com:0443/", "https://example.com/"),
    ("https://example.com/a/%2E%2E/b", "https://example.com/b"),
    ("https://example.com/../a", "https://example.com/a"),
    ("HTTP://WWW.EXAMPLE.COM:80/?utm_campaign=x#top", "https://example.com/"),
    ("https://example.com/a?_ga=2.1&_gl=1*abc", "https://example.com/a"),
    ("  https://example.com/a  ", "https://example.com/a"),
    ("https://example.com/a?z=1&utm_content=x&m=2", "https://example.com/a?m=2&z=1"),
]

NOT_HTTP = [
    "mailto:me@example.com",
    "javascript:alert(1)",
    "ftp://example.com/file",
    "data:text/html,hi",
    "https://exa mple.com/",
    "https://example.com:99999/",
    "https://",
]

DOMAINS = [("example.com", True), ("bücher.de", True), ("exact.org", False)]

MATCHES = [
    ("https://example.com/x", "example.com"),
    ("https://blog.example.com/x", "example.com"),
    ("https://a.b.c.example.com", "example.com"),
    ("https://notexample.com", None),
    ("https://example.com.evil.net/", None),
    ("https://example.co/", None),
    ("https://examplecom.net", None),
    ("https://evil.net/example.com", None),
    ("https://evil.net/?u=https://example.com", None),
    ("https://example.com@evil.net/", None),
    ("https://evil.net\\@example.com/", None),  # a browser goes to evil.net (a backslash is a "/")
    ("https://example.com\\@evil.net/", "example.com"),
    ("https://EXAMPLE.COM.", "example.com"),
    ("https://xn--bcher-kva.de/", "xn--bcher-kva.de"),
    ("https://shop.bücher.de/", "xn--bcher-kva.de"),
    ("https://exact.org/", "exact.org"),
    ("https://www.exact.org/", "exact.org"),
    ("https://blog.exact.org/", None),
    ("https://xexact.org", None),
    ("http://example.com:8080/", "example.com"),
    ("example.com/page", "example.com"),
    ("mailto:a@example.com", None),
    ("https://ex%61mple.com/", "example.com"),  # a browser decodes the escape: it is example.com
    ("https://example.com-evil.net/", None),
    ("https://bucher.de/", None),
]


@pytest.mark.parametrize(("url", "expected"), CANONICAL)
def test_canonical_url_follows_the_contract_rules(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


@pytest.mark.parametrize(("url", "expected"), CANONICAL)
def test_canonical_url_of_a_canonical_url_is_itself(url: str, expected: str) -> None:
    assert canonical_url(expected) == expected


@pytest.mark.parametrize("url", NOT_HTTP)
def test_canonical_url_rejects_what_is_not_an_http_link(url: str) -> None:
    with pytest.raises(ValueError, match="URL"):
        canonical_url(url)


@pytest.mark.parametrize(("url", "expected"), MATCHES)
def test_matcher_accepts_the_domain_and_subdomains_and_never_look_alikes(
    url: str, expected: str | None
) -> None:
    match = DomainMatcher(DOMAINS).match_url(url)
    assert (match.domain if match else None) == expected


def test_the_most_specific_monitored_domain_wins() -> None:
    matcher = DomainMatcher([("example.com", True), ("blog.example.com", True)])
    assert matcher.match_host("x.blog.example.com") == "blog.example.com"
    assert matcher.match_host("shop.example.com") == "example.com"


@pytest.mark.parametrize(
    ("written", "normalized"),
    [("Example.COM", "example.com"), ("example.com.", "example.com"), ("bücher.de", "xn--bcher-kva.de")],
)
def test_domain_names_in_the_config_are_normalized(written: str, normalized: str) -> None:
    assert normalize_domain(written) == normalized


@pytest.mark.parametrize(
    "written", ["https://example.com", "example.com/path", "localhost", "", "exa mple.com"]
)
def test_a_domain_name_must_be_a_bare_host(written: str) -> None:
    with pytest.raises(ValueError, match="domain name"):
        normalize_domain(written)


def test_might_mention_finds_unicode_and_ascii_spellings() -> None:
    matcher = DomainMatcher([("bücher.de", True), ("example.com", True)])
    assert matcher.might_mention("see BÜCHER.de/x")
    assert matcher.might_mention("https://xn--bcher-kva.de")
    assert matcher.might_mention("EXAMPLE.COM")
    assert not matcher.might_mention("nothing to see")


label = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12).filter(
    lambda s: not s.startswith("-") and not s.endswith("-")
)
host = st.lists(label, min_size=1, max_size=4).map(".".join)
path_char = st.sampled_from([*"abcXYZ019-._~!$&'()*+,;=:@/%é ü?#", "%2F", "%7e", "%zz", "/./", "/../"])
query_part = st.tuples(
    st.sampled_from(["a", "B", "utm_source", "fbclid", "q", "x", "ref", "%26", "é"]),
    st.text(alphabet="ab1+ %&=/:é", max_size=5),
)


@st.composite
def urls(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["http://", "https://", "HTTPS://", "//", ""]))
    www = draw(st.sampled_from(["", "www.", "WWW."]))
    port = draw(st.sampled_from(["", ":80", ":443", ":8080"]))
    path = "/" + "".join(draw(st.lists(path_char, max_size=8)))
    pairs = draw(st.lists(query_part, max_size=4))
    query = "&".join(f"{k}={v}" for k, v in pairs)
    fragment = draw(st.sampled_from(["", "#frag", "#"]))
    return f"{scheme}{www}{draw(host)}.com{port}{path}{'?' + query if query else ''}{fragment}"


@settings(max_examples=500, deadline=None)
@given(urls())
def test_canonicalization_is_idempotent(url: str) -> None:
    once = canonical_url(url)
    assert canonical_url(once) == once


@settings(max_examples=500, deadline=None)
@given(host, st.sampled_from(["example.com", "blog.example.net", "xn--bcher-kva.de"]))
def test_a_host_that_is_not_the_domain_or_a_subdomain_never_matches(candidate: str, domain: str) -> None:
    matcher = DomainMatcher([(domain, True)])
    for host_name in (candidate, candidate + domain, domain + "." + candidate, candidate + "-" + domain):
        is_ours = host_name in (domain, "www." + domain) or host_name.endswith("." + domain)
        assert (matcher.match_host(host_name) is not None) == is_ours


@settings(max_examples=200, deadline=None)
@given(host)
def test_every_subdomain_matches_when_subdomains_are_included(prefix: str) -> None:
    matcher = DomainMatcher([("example.com", True)])
    assert matcher.match_host(f"{prefix}.example.com") == "example.com"
    assert DomainMatcher([("example.com", False)]).match_host(f"{prefix}.example.com") == (
        "example.com" if prefix == "www" else None
    )
