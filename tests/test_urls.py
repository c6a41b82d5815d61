"""Link matching and canonical URLs (CONTRACT §2). Expected values are written from the rules."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker.urls import DomainMatcher, Needles, ShortLink, canonical_url, normalize_domain, normalize_host

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


# Detection v2: UTS #46 / IDNA 2008 hosts (CONTRACT §2)

IDNA_2008 = [
    ("https://straße.de/", "xn--strae-oqa.de"),  # IDNA 2003 would have made it strasse.de
    ("https://STRASSE.de/", None),
    ("https://strasse.de/", None),
    ("https://xn--strae-oqa.de/a", "xn--strae-oqa.de"),
    ("https://shop.straße.de/", "xn--strae-oqa.de"),
    ("https://example。com/a", "example.com"),  # ideographic full stop
    ("https://example．com/a", "example.com"),  # full-width full stop
    ("https://example｡com/a", "example.com"),  # half-width ideographic full stop
    ("https://ｅｘａｍｐｌｅ．ｃｏｍ/", "example.com"),  # full-width letters are the ASCII ones
    ("https://EXAMPLE.COM/", "example.com"),
    ("https://ex\u00adample.com/", "example.com"),  # a soft hyphen is dropped, as browsers do
    ("https://ex\u200bample.com/", "example.com"),  # so is a zero-width space
    ("https://example.com./", "example.com"),
    ("https://example.com../", None),  # an empty label
    ("https://.example.com/", None),
    ("https://ex%61mple.com/", "example.com"),
    ("https://example%2ecom/", "example.com"),
    ("https://example.com%2eevil.net/", None),
    ("https://ex%ffample.com/", None),  # not UTF-8
    ("https://ex\u0430mple.com/", None),  # Cyrillic a
    ("https://xn--exmple-4nf.com/", None),  # the same look-alike, punycoded
    ("https://\u0435xample.com/", None),  # Cyrillic e
    ("https://examp\u217ce.com/", "example.com"),  # the Roman numeral fifty is an l under UTS #46
    ("https://exampl\u0435.com/", None),
    ("https://example.com\u3002evil.net/", None),
    ("https://example.com:8443/", "example.com"),
    ("https://example.com:0/", "example.com"),
    ("https://example.com:65536/", None),
    ("https://example.com:443@evil.net/", None),
    ("https://evil.net:443@example.com/", "example.com"),
    ("https://evil.net#@example.com/", None),
    ("https://evil.net?@example.com/", None),
    ("https://evil.net%2f@example.com/", "example.com"),  # the userinfo ends at the last @
    ("https://evil.net%40example.com/", None),  # an escaped @ is part of the host, which is not ours
    ("https://example.com%40evil.net/", None),
    ("https://bücher.de/", "xn--bcher-kva.de"),
    ("https://BÜCHER.DE/", "xn--bcher-kva.de"),
    ("https://b%C3%BCcher.de/", "xn--bcher-kva.de"),
    ("https://bucher.de/", None),
]


@pytest.mark.parametrize(("url", "expected"), IDNA_2008)
def test_hosts_compare_after_uts46_idna2008_processing(url: str, expected: str | None) -> None:
    matcher = DomainMatcher([("example.com", True), ("straße.de", True), ("bücher.de", True)])
    match = matcher.match_url(url)
    assert (match.domain if match else None) == expected


def test_strasse_and_strasse_with_sharp_s_are_distinct_domains() -> None:
    assert normalize_domain("straße.de") == "xn--strae-oqa.de"
    assert normalize_domain("strasse.de") == "strasse.de"
    assert canonical_url("https://straße.de/a") == "https://xn--strae-oqa.de/a"
    assert DomainMatcher([("strasse.de", True)]).match_url("https://straße.de/") is None
    assert DomainMatcher([("straße.de", True)]).match_url("https://strasse.de/") is None


def test_canonical_url_reads_ideographic_dots_and_full_width_hosts() -> None:
    assert canonical_url("example。com/a") == "https://example.com/a"
    assert canonical_url("https://ＷＷＷ．ＥＸＡＭＰＬＥ．ＣＯＭ/a") == "https://example.com/a"


def test_might_mention_finds_every_spelling_of_the_domain() -> None:
    matcher = DomainMatcher([("example.com", True), ("bücher.de", True)])
    assert matcher.might_mention("see example。com/a")
    assert matcher.might_mention("ＥＸＡＭＰＬＥ．ＣＯＭ")
    assert matcher.might_mention("ex\u00adample.com")
    assert matcher.might_mention("https://l.facebook.com/l.php?u=https%3A%2F%2Fb%C3%BCcher.de%2Fx")
    assert not matcher.might_mention("example dot com, bucher.de")


# Aliases (CONTRACT §2, §3)

ALIASED = DomainMatcher(
    [("example.com", True), ("exact.org", False)],
    aliases={"example.com": ["exm.pl", "old-example.net"], "exact.org": ["ex.act"]},
)

ALIAS_MATCHES = [
    ("https://exm.pl/x", "example.com", "https://exm.pl/x"),
    ("https://www.exm.pl/x", "example.com", "https://exm.pl/x"),
    ("https://go.exm.pl/x?utm_source=t", "example.com", "https://go.exm.pl/x"),
    ("https://old-example.net/blog/", "example.com", "https://old-example.net/blog"),
    ("https://ex.act/", "exact.org", "https://ex.act/"),
    ("https://sub.ex.act/", None, None),  # exact.org does not include subdomains, nor do its aliases
    ("https://notexm.pl/x", None, None),
    ("https://exm.pl.evil.net/x", None, None),
    ("https://exm.plx/", None, None),
]


@pytest.mark.parametrize(("url", "domain", "canonical"), ALIAS_MATCHES)
def test_links_to_an_alias_count_for_its_domain_and_keep_the_alias_host(
    url: str, domain: str | None, canonical: str | None
) -> None:
    match = ALIASED.match_url(url)
    assert (match.domain, match.canonical_url) == (domain, canonical) if match else (domain is None)


def test_alias_needles_let_texts_naming_an_alias_through() -> None:
    assert ALIASED.might_mention("go to EXM.PL/x")
    assert not ALIASED.might_mention("go to example dot com")


# Redirect wrappers (CONTRACT §2): unwrapped without a request; the target decides

WRAPPED = [
    ("https://l.facebook.com/l.php?u=https%3A%2F%2Fexample.com%2Fa%3Fb%3D1%26utm_source%3Dfb&h=AT0", "https://example.com/a?b=1"),
    ("https://lm.facebook.com/l.php?u=https%3A%2F%2Fblog.example.com%2F", "https://blog.example.com/"),
    ("https://www.facebook.com/l.php?u=http%3A%2F%2Fexample.com%2Fx", "https://example.com/x"),
    ("https://l.instagram.com/?u=https%3A%2F%2Fexample.com%2Fbio&e=AT1", "https://example.com/bio"),
    ("https://www.google.com/url?q=https://example.com/a&sa=D&source=editors", "https://example.com/a"),
    ("https://google.com/url?url=https%3A%2F%2Fexample.com%2Fb&rct=j", "https://example.com/b"),
    ("https://www.google.co.uk/url?q=https://example.com/uk", "https://example.com/uk"),
    ("https://www.google.com.br/url?q=https://example.com/br", "https://example.com/br"),
    ("https://www.google.de/url?q=https://example.com/de", "https://example.com/de"),
    ("https://out.reddit.com/t3_abc?url=https%3A%2F%2Fexample.com%2Fr&token=AQAA&app_name=web", "https://example.com/r"),
    ("https://www.youtube.com/redirect?event=video_description&redir_token=QUF&q=https%3A%2F%2Fexample.com%2Fy", "https://example.com/y"),
    ("https://m.youtube.com/redirect?q=https://example.com/m", "https://example.com/m"),
    ("https://t.umblr.com/redirect?z=https%3A%2F%2Fexample.com%2Ft&t=YjE", "https://example.com/t"),
    ("https://example-com.cdn.ampproject.org/c/s/example.com/amp/story?x=1", "https://example.com/amp/story?x=1"),
    ("https://blog-example-com.cdn.ampproject.org/v/s/blog.example.com/p/", "https://blog.example.com/p"),
    ("https://example-com.cdn.ampproject.org/c/example.com/plain", "https://example.com/plain"),
    ("https://www.google.com/amp/s/example.com/amp/a", "https://example.com/amp/a"),
    ("https://www.google.com/amp/example.com/http", "https://example.com/http"),
    ("https://www.linkedin.com/redir/redirect?url=https%3A%2F%2Fexample.com%2Fl&urlhash=x", "https://example.com/l"),
    ("https://slack-redir.net/link?url=https%3A%2F%2Fexample.com%2Fs", "https://example.com/s"),
    ("https://steamcommunity.com/linkfilter/?url=https://example.com/g", "https://example.com/g"),
    ("https://vk.com/away.php?to=https%3A%2F%2Fexample.com%2Fv", "https://example.com/v"),
    ("https://duckduckgo.com/l/?uddg=https%3A%2F%2Fexample.com%2Fd&rut=1", "https://example.com/d"),
    ("https://eur01.safelinks.protection.outlook.com/?url=https%3A%2F%2Fexample.com%2Fo&data=05", "https://example.com/o"),
    ("https://t.me/iv?url=https%3A%2F%2Fexample.com%2Fi&rhash=1", "https://example.com/i"),
    ("https://href.li/?https://example.com/h", "https://example.com/h"),
    ("https://l.threads.net/?u=https%3A%2F%2Fexample.com%2Fth", "https://example.com/th"),
    ("https://l.messenger.com/l.php?u=https%3A%2F%2Fexample.com%2Fmsg", "https://example.com/msg"),
    # nested: a Google redirect to a Facebook redirect to the page
    ("https://www.google.com/url?q=https://l.facebook.com/l.php?u%3Dhttps%253A%252F%252Fexample.com%252Fdeep&sa=D", "https://example.com/deep"),
    ("https://out.reddit.com/x?url=https%3A%2F%2Fexample-com.cdn.ampproject.org%2Fc%2Fs%2Fexample.com%2Famp", "https://example.com/amp"),
    ("https://l.facebook.com/l.php?u=https%3A%2F%2Fexm.pl%2Fz", "https://exm.pl/z"),  # to an alias
]  # fmt: skip


@pytest.mark.parametrize(("url", "target"), WRAPPED)
def test_a_redirect_wrapper_counts_as_a_link_to_its_target(url: str, target: str) -> None:
    match = ALIASED.match_url(url)
    assert match is not None and (match.domain, match.canonical_url) == ("example.com", target)


NOT_OURS_WRAPPED = [
    "https://l.facebook.com/l.php?u=https%3A%2F%2Fother.org%2Fexample.com",  # wraps a foreign host
    "https://www.google.com/url?q=https://example.com.evil.net/",
    "https://www.google.com/url?q=javascript:alert(1)//example.com",
    "https://out.reddit.com/t3_x?url=https%3A%2F%2Fnotexample.com",
    "https://google.evil.com/url?q=https://example.com/",  # not Google: a link to google.evil.com
    "https://www.google.com.evil.net/url?q=https://example.com/",
    "https://evil.net/l.php?u=https%3A%2F%2Fexample.com",
    "https://evil-com.cdn.ampproject.org.evil.net/c/s/example.com/a",
    "https://l.facebook.com/other?u=https%3A%2F%2Fexample.com",  # not the wrapper's path: a Facebook page
]


@pytest.mark.parametrize("url", NOT_OURS_WRAPPED)
def test_a_wrapper_whose_target_is_not_ours_is_not_a_match(url: str) -> None:
    assert ALIASED.match_url(url) is None


def test_wrappers_nested_deeper_than_the_limit_are_not_followed() -> None:
    url = "https://example.com/end"
    for _ in range(6):
        url = "https://href.li/?" + url
    assert ALIASED.match_url(url) is None
    for _ in range(1):
        url = url.replace("https://href.li/?", "", 1)
    assert ALIASED.match_url(url) is not None


# Short links (CONTRACT §2): recognised offline, resolved elsewhere


def test_a_short_link_is_one_to_resolve_only_when_resolving_shorteners() -> None:
    off = DomainMatcher([("example.com", True)])
    on = DomainMatcher([("example.com", True)], resolve_shorteners=True)
    assert off.classify("https://bit.ly/3xYz") is None
    assert on.classify("https://bit.ly/3xYz") == ShortLink("https://bit.ly/3xYz")
    assert on.classify("http://www.buff.ly/AbC#x") == ShortLink("https://buff.ly/AbC")
    assert on.classify("https://l.facebook.com/l.php?u=https%3A%2F%2Fdlvr.it%2FT1") == ShortLink(
        "https://dlvr.it/T1"
    )
    assert on.classify("https://notbit.ly/3xYz") is None
    assert on.match_url("https://bit.ly/3xYz") is None  # matching alone never counts a short link
    assert on.might_mention("read bit.ly/3xYz") and not off.might_mention("read bit.ly/3xYz")
    assert on.short_link_pattern is not None and on.short_link_pattern.search("https://tinyurl.com/x")
    assert off.short_link_pattern is None


# Look-alikes never match: properties over many hosts

CONFUSABLES = {"a": "\u0430", "e": "\u0435", "o": "\u043e", "p": "\u0440", "c": "\u0441", "x": "\u0445", "l": "\u04cf", "m": "\u043c"}  # fmt: skip


@st.composite
def look_alikes(draw: st.DrawFn, domain: str) -> str:
    """A host made from ``domain`` that is not it: a homoglyph swapped in (as Unicode or punycode), a
    character added, dropped or changed, the domain under another suffix, or glued to another label."""
    kind = draw(st.sampled_from(["homoglyph", "punycode", "edit", "suffix", "glued", "dash"]))
    first, _, rest = domain.partition(".")
    if kind in ("homoglyph", "punycode"):
        spots = [i for i, char in enumerate(first) if char in CONFUSABLES]
        spot = draw(st.sampled_from(spots))
        changed = first[:spot] + CONFUSABLES[first[spot]] + first[spot + 1 :]
        if kind == "punycode":
            changed = "xn--" + changed.encode("punycode").decode("ascii")
        return f"{changed}.{rest}"
    if kind == "edit":
        spot = draw(st.integers(0, len(first) - 1))
        char = draw(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789-"))
        changed = draw(st.sampled_from([first[:spot] + char + first[spot:], first[:spot] + first[spot + 1 :],
                                      first[:spot] + char + first[spot + 1 :]]))  # fmt: skip
        usable = changed and changed != first and changed.strip("-") == changed
        return f"{changed}.{rest}" if usable else f"x{first}.{rest}"
    if kind == "suffix":
        return f"{domain}.{draw(label)}" if draw(st.booleans()) else f"{first}.{draw(label)}"
    if kind == "glued":
        return f"{draw(label)}{domain}"
    return f"{draw(label)}-{domain}"


@settings(max_examples=400, deadline=None)
@given(st.data(), st.sampled_from(["example.com", "paypal.com", "exm.pl"]))
def test_a_look_alike_never_matches(data: st.DataObject, domain: str) -> None:
    candidate = data.draw(look_alikes(domain))
    matcher = DomainMatcher([(domain, True)])
    normalized = normalize_host(candidate)
    is_ours = normalized is not None and (normalized == domain or normalized.endswith("." + domain))
    assert not is_ours  # the strategy makes only look-alikes
    assert matcher.match_url(f"https://{candidate}/x") is None


@settings(max_examples=300, deadline=None)
@given(
    host,
    st.lists(
        st.sampled_from(list("abcdefghijklmnopqrstuvwxyz\u0430\u0435\u043e\u00fc\u00df\u03bf")),
        min_size=1,
        max_size=8,
    ).map("".join),
)
def test_a_mixed_script_host_matches_only_when_it_is_the_domain_after_idna(
    prefix: str, label_text: str
) -> None:
    matcher = DomainMatcher([("example.com", True)], aliases={"example.com": ["exm.pl"]})
    for candidate in (
        f"{label_text}.com",
        f"{label_text}example.com",
        f"{prefix}.{label_text}.pl",
        f"{label_text}.exm.pl",
    ):
        normalized = normalize_host(candidate)
        expected = normalized is not None and (
            normalized in ("example.com", "www.example.com", "exm.pl", "www.exm.pl")
            or normalized.endswith((".example.com", ".exm.pl"))
        )
        assert (matcher.match_host(candidate) is not None) == expected
        if normalized is not None and not normalized.isascii():
            raise AssertionError(f"{candidate!r} normalized to non-ASCII {normalized!r}")


@settings(max_examples=300, deadline=None)
@given(host, st.sampled_from(["exm.pl", "old-example.net"]))
def test_a_host_that_is_neither_an_alias_nor_below_it_never_matches(candidate: str, alias: str) -> None:
    matcher = DomainMatcher([("example.com", True)], aliases={"example.com": [alias]})
    for name in (candidate, candidate + alias, alias + "." + candidate, candidate + "-" + alias):
        ours = name in (alias, "www." + alias, "example.com", "www.example.com") or name.endswith(
            ("." + alias, ".example.com")
        )
        assert (matcher.match_host(name) is not None) == ours


# Many domains (1,000 monitored: own plus competitors): the same answers, whatever the number.

MANY = [f"site{n}.{('com', 'io', 'org', 'de')[n % 4]}" for n in range(1000)]


def test_needles_find_any_of_a_thousand_in_one_scan() -> None:
    needles = Needles(MANY)
    assert len(needles) == 1000
    assert needles.found_in("read https://site999.de/x today")
    assert needles.found_in("site0.com")
    assert not needles.found_in("site1000.com site1.co example.org")
    assert not Needles([]).found_in("anything")
    for few_or_many in (Needles(["site0.com"]), needles):  # a part of the text: [start:end]
        assert few_or_many.found_in("a site0.com b", 2, 11)
        assert not few_or_many.found_in("a site0.com b", 3)
        assert not few_or_many.found_in("a site0.com b", 0, 10)


@settings(max_examples=200)
@given(
    st.lists(st.sampled_from(["site7.io", "ab", "b.c", "xn--bcher-kva.de", "bücher.de"]), max_size=8),
    st.text(alphabet="abcdeio.site7xn-ü ", max_size=40),
)
def test_needles_answer_like_a_substring_test_of_each(needles: list[str], text: str) -> None:
    expected = any(needle in text for needle in needles)
    assert Needles(needles).found_in(text) == expected
    assert Needles(needles * 3 + MANY[:10]).found_in(text) == (
        expected or any(name in text for name in MANY[:10])
    )  # past LOOP_NEEDLES, the automaton


def test_a_thousand_domains_match_as_one_would_without_look_alikes() -> None:
    matcher = DomainMatcher([(name, True) for name in MANY], aliases={"site3.de": ["s3.example"]})
    assert matcher.match_host("blog.site999.de") == "site999.de"
    assert matcher.match_host("www.site5.io") == "site5.io"
    assert matcher.match_host("s3.example") == "site3.de"
    for look_alike in ("notsite5.io", "site5.io.evil.net", "site5.com", "site1000.com", "xsite0.com"):
        assert matcher.match_host(look_alike) is None, look_alike
    assert matcher.might_mention("see BLOG.SITE42.ORG/post")
    assert matcher.might_mention("see site42。org")  # an ideographic full stop is a dot
    assert not matcher.might_mention("see site42.co and site1001.com")
