"""Redirect wrappers and public link shorteners (CONTRACT §2). Pure data and functions, no I/O.

A redirect wrapper carries its target in the link itself (``l.facebook.com/l.php?u=<target>``, an AMP cache's
path), so it is unwrapped without any request. A shortener hides its target behind a redirect; those links are
resolved (when ``[tracker] resolve_shorteners`` is on) by :mod:`tracker.shortlinks`.

To teach the tracker another wrapper, add a row to :data:`WRAPPERS`; another shortener, a host to
:data:`SHORTENER_HOSTS`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote


@dataclass(frozen=True, slots=True)
class Wrapper:
    """Links on one of ``hosts`` whose path starts with ``path`` carry their target.

    ``hosts`` are written without ``www.``; ``*.suffix`` stands for any subdomain of ``suffix`` and ``google.*``
    for Google's country domains (``google.de``, ``google.co.uk``, ``google.com.br``). The target is the
    first of the query parameters ``params`` that is set; with ``in_path`` it is the rest of the path (a host
    and its path, as AMP caches write it) under that scheme, with the wrapper's query; with ``whole_query``
    it is the query itself (``href.li/?https://...``).
    """

    hosts: tuple[str, ...]
    path: str
    params: tuple[str, ...] = ()
    in_path: str | None = None
    whole_query: bool = False


_GOOGLE = "google.*"

# The known redirect wrappers, one row each; first match wins.
WRAPPERS: tuple[Wrapper, ...] = (
    Wrapper(("l.facebook.com", "lm.facebook.com", "m.facebook.com", "facebook.com", "l.messenger.com"), "/l.php", ("u",)),
    Wrapper(("l.instagram.com", "l.threads.net", "l.threads.com"), "/", ("u",)),
    Wrapper((_GOOGLE,), "/url", ("q", "url")),
    Wrapper((_GOOGLE,), "/amp/s/", in_path="https"),
    Wrapper((_GOOGLE,), "/amp/", in_path="http"),
    Wrapper(("*.cdn.ampproject.org",), "/c/s/", in_path="https"),
    Wrapper(("*.cdn.ampproject.org",), "/v/s/", in_path="https"),
    Wrapper(("*.cdn.ampproject.org",), "/c/", in_path="http"),
    Wrapper(("*.cdn.ampproject.org",), "/v/", in_path="http"),
    Wrapper(("out.reddit.com",), "/", ("url",)),
    Wrapper(("youtube.com", "m.youtube.com"), "/redirect", ("q",)),
    Wrapper(("t.umblr.com",), "/redirect", ("z",)),
    Wrapper(("linkedin.com",), "/redir/redirect", ("url",)),
    Wrapper(("slack-redir.net",), "/link", ("url",)),
    Wrapper(("steamcommunity.com",), "/linkfilter/", ("url", "u")),
    Wrapper(("vk.com", "m.vk.com"), "/away.php", ("to",)),
    Wrapper(("duckduckgo.com",), "/l/", ("uddg",)),
    Wrapper(("*.safelinks.protection.outlook.com",), "/", ("url",)),
    Wrapper(("t.me",), "/iv", ("url",)),
    Wrapper(("href.li",), "/", whole_query=True),
)  # fmt: skip

# Well-known public shorteners: their links are resolved by reading redirect headers (never the target).
SHORTENER_HOSTS: frozenset[str] = frozenset(
    {
        "bit.ly", "j.mp", "bitly.com", "buff.ly", "ow.ly", "tinyurl.com", "dlvr.it", "trib.al", "lnkd.in", "is.gd",
        "v.gd", "rebrand.ly", "t.ly", "t.co", "tiny.cc", "cutt.ly", "shorturl.at", "rb.gy", "s.id", "wp.me",
        "ift.tt", "hubs.ly", "hubs.la", "bl.ink", "short.gy", "surl.li", "goo.gl", "tr.ee", "flip.it",
    }
)  # fmt: skip

_GOOGLE_RE = re.compile(r"google\.(?:com|(?:co\.|com\.)?[a-z]{2})")


def _index() -> tuple[dict[str, tuple[Wrapper, ...]], tuple[tuple[str, Wrapper], ...]]:
    exact: dict[str, list[Wrapper]] = {}
    suffixed: list[tuple[str, Wrapper]] = []
    for wrapper in WRAPPERS:
        for host in wrapper.hosts:
            if host.startswith("*."):
                suffixed.append((host[1:], wrapper))
            elif host != _GOOGLE:
                exact.setdefault(host, []).append(wrapper)
    return {host: tuple(rows) for host, rows in exact.items()}, tuple(suffixed)


_EXACT, _SUFFIXED = _index()
_SUFFIXES = tuple(suffix for suffix, _ in _SUFFIXED)
_GOOGLE_WRAPPERS = tuple(wrapper for wrapper in WRAPPERS if _GOOGLE in wrapper.hosts)

# For a quick "could a link on this host be a wrapper?" on the matching path, without a call:
# ``host in WRAPPER_HOSTS or host.endswith(WRAPPER_SUFFIXES) or host.startswith(WRAPPER_PREFIXES)``.
WRAPPER_HOSTS: frozenset[str] = frozenset(_EXACT) | frozenset("www." + host for host in _EXACT)
WRAPPER_SUFFIXES: tuple[str, ...] = _SUFFIXES
WRAPPER_PREFIXES: tuple[str, ...] = ("google.", "www.google.")


def _bare(host: str) -> str:
    return host[4:] if host.startswith("www.") else host


def wrappers_of(host: str) -> tuple[Wrapper, ...]:
    """The wrapper rows that apply to links on ``host`` (normalized: lower-case ASCII); mostly none."""
    host = _bare(host)
    found = _EXACT.get(host, ())
    if host.endswith(_SUFFIXES):
        found += tuple(wrapper for suffix, wrapper in _SUFFIXED if host.endswith(suffix))
    if host.startswith("google.") and _GOOGLE_RE.fullmatch(host):
        found += _GOOGLE_WRAPPERS
    return found


def wrapped_target(host: str, path: str, query: str) -> str | None:
    """The target of a link on ``host`` with this (still escaped) path and query when it is a known redirect
    wrapper, else None. The target is returned as written in the wrapper; it may be a wrapper again."""
    for wrapper in wrappers_of(host):
        if not path.startswith(wrapper.path):
            continue
        if wrapper.in_path is not None:
            rest = path[len(wrapper.path) :]
            if "." in rest.partition("/")[0]:
                return f"{wrapper.in_path}://{rest}" + (f"?{query}" if query else "")
            continue
        if wrapper.whole_query:
            target = query if "://" in query else unquote(query)
            if target.lower().startswith(("http://", "https://")):
                return target
            continue
        values = dict(parse_qsl(query, keep_blank_values=False))
        for name in wrapper.params:
            value = values.get(name, "").strip()
            if value.lower().startswith(("http://", "https://")):
                return value
    return None


def is_shortener(host: str) -> bool:
    """Whether ``host`` (normalized) is one of :data:`SHORTENER_HOSTS`."""
    return _bare(host) in SHORTENER_HOSTS
