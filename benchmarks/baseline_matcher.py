"""The link matcher before detection v2 (``tracker/urls.py`` and the poller's ``MentionFilter`` as of commit
2de197c: IDNA 2003 hosts, no aliases, wrappers or short links), kept verbatim as the baseline of
``benchmarks/detection.py``. Not used by the tracker.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import quote, quote_plus, unquote_plus, urlsplit

from tracker.record import Link

# Query parameters that only say where a click came from. Names compare case-insensitively;
# anything starting with ``utm_`` is tracking too.
TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid", "ttclid", "li_fat_id",
        "mc_cid", "mc_eid", "igshid", "igsh", "ref_src", "ref_url", "_hsenc", "_hsmi", "__hstc", "__hssc",
        "__hsfp", "hsctatracking", "mkt_tok", "_ga", "_gl", "oly_anon_id", "oly_enc_id", "vero_id", "vero_conv",
        "wickedid", "s_kwcid", "ncid", "sr_share", "cmpid", "spm",
    }
)  # fmt: skip

_DEFAULT_PORTS = {"http": 80, "https": 443}
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_HOST_RE = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)*$")
_ESCAPE_RE = re.compile(r"%([0-9A-Fa-f]{2})")
_BAD_PERCENT_RE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# Characters left as they are in a path (RFC 3986 pchar plus "/" and existing escapes).
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"
# Characters left as they are in a query key or value; "&", "=", "+" and "#" must stay escaped.
_QUERY_SAFE = "-._~!$'()*,:@/?"


def normalize_host(host: str) -> str | None:
    """Lower-case, IDNA-encode and strip a trailing dot; None when it cannot be a host name."""
    host = host.strip().rstrip(".").lower()
    if not host:
        return None
    if host.startswith("[") or ":" in host:  # IPv6 literal
        inner = host.strip("[]")
        return inner if re.fullmatch(r"[0-9a-f:.]+", inner) else None
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    return host if _HOST_RE.match(host) else None


def normalize_domain(name: str) -> str:
    """Normalize a monitored domain name as written in the config; ValueError if it is not a host name."""
    host = normalize_host(name)
    if host is None or "." not in host or ":" in host:
        raise ValueError(f"{name!r} is not a domain name; write the bare host, e.g. example.com")
    return host


def _split(url: str) -> tuple[str, str, str, str, str] | None:
    """Split a URL, reading a scheme-less link such as ``example.com/page`` as https."""
    url = url.strip()
    if url.startswith("//"):
        url = "https:" + url
    else:
        scheme = _SCHEME_RE.match(url)
        # "example.com:8080/x" and "localhost:80" start like a scheme but are host:port.
        if scheme is not None and "." not in scheme.group(1) and not url[scheme.end() :][:1].isdigit():
            if url[scheme.end() : scheme.end() + 2] != "//":
                return None  # mailto:, javascript:, data: ...
        else:
            url = "https://" + url
    if "\\" in url:  # browsers read a backslash before the query as "/": evil.net\@example.com is evil.net
        end = min((i for i in (url.find("?"), url.find("#")) if i >= 0), default=len(url))
        url = url[:end].replace("\\", "/") + url[end:]
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return parts.scheme.lower(), parts.netloc, parts.path, parts.query, parts.fragment


def _host_and_port(netloc: str, scheme: str) -> tuple[str, int | None] | None:
    netloc = netloc.rpartition("@")[2]  # drop user:password@
    port: int | None = None
    if netloc.startswith("["):
        end = netloc.find("]")
        if end < 0:
            return None
        raw_host, rest = netloc[: end + 1], netloc[end + 1 :]
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        raw_host, _, port_text = netloc.partition(":")
    if port_text:
        if not port_text.isdigit() or int(port_text) > 65535:
            return None
        port = int(port_text)
        if port == _DEFAULT_PORTS.get(scheme) or port == 443:
            port = None
    host = normalize_host(raw_host)
    if host is None:
        return None
    return host, port


def _normalize_escapes(text: str) -> str:
    """Decode escapes of unreserved characters and upper-case the others (RFC 3986 §6.2.2)."""

    def fix(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else "%" + match.group(1).upper()

    return _ESCAPE_RE.sub(fix, text)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4."""
    if "." not in path:
        return path
    output: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if len(output) > 1:
                output.pop()
        elif segment != ".":
            output.append(segment)
    result = "/".join(output)
    if path.endswith(("/.", "/..")):
        result += "/"
    return result if result.startswith("/") else "/" + result


def _normalize_path(path: str) -> str:
    path = _BAD_PERCENT_RE.sub("%25", path)
    path = _normalize_escapes(quote(path, safe=_PATH_SAFE))
    path = _remove_dot_segments(path).rstrip("/")
    return path or "/"


def is_tracking_param(name: str) -> bool:
    lowered = name.lower()
    return lowered.startswith("utm_") or lowered in TRACKING_PARAMS


def _normalize_query(query: str) -> str:
    pairs: list[tuple[str, str | None]] = []
    for piece in query.split("&"):
        if not piece:
            continue
        key, eq, value = piece.partition("=")
        key = unquote_plus(key)
        if is_tracking_param(key):
            continue
        pairs.append((key, unquote_plus(value) if eq else None))
    pairs.sort(key=lambda pair: pair[0])  # stable: repeated keys keep their order
    return "&".join(
        quote_plus(key, safe=_QUERY_SAFE)
        + ("" if value is None else "=" + quote_plus(value, safe=_QUERY_SAFE))
        for key, value in pairs
    )


@lru_cache(maxsize=65536)
def _parts(url: str) -> tuple[str, int | None, str, str] | None:
    """(normalized host, port, path, query) of an http(s) link, or None. Cached: links repeat a lot."""
    split = _split(url)
    if split is None or split[0] not in _DEFAULT_PORTS:
        return None
    scheme, netloc, path, query, _fragment = split
    host_port = _host_and_port(netloc, scheme)
    if host_port is None:
        return None
    return host_port[0], host_port[1], path, query


@lru_cache(maxsize=65536)
def canonical_url(url: str) -> str:
    """The canonical form of an http(s) link: https, lower-case host without ``www.``, no default port,
    fragment or tracking parameters, sorted query, no trailing slash except the root.

    Raises ValueError when ``url`` is not an http(s) link with a valid host.
    """
    parts = _parts(url)
    if parts is None:
        raise ValueError(f"not an http(s) URL with a valid host: {url!r}")
    host, port, path, query = parts
    if host.startswith("www.") and "." in host[4:]:
        host = host[4:]
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None else f"{host}:{port}"
    query = _normalize_query(query)
    return f"https://{netloc}{_normalize_path(path)}" + (f"?{query}" if query else "")


def url_host(url: str) -> str | None:
    """The normalized host of an http(s) link, or None."""
    parts = _parts(url)
    return parts[0] if parts else None


@dataclass(frozen=True, slots=True)
class Match:
    domain: str
    canonical_url: str


class DomainMatcher:
    """Matches hosts and URLs against the monitored domains; the most specific domain wins."""

    def __init__(self, domains: Iterable[tuple[str, bool]]) -> None:
        """``domains`` are ``(name, include_subdomains)`` pairs; names are normalized here."""
        self._exact: dict[str, str] = {}
        self._suffix: dict[str, str] = {}
        self.domains: tuple[str, ...] = ()
        names = []
        for raw_name, include_subdomains in domains:
            name = normalize_domain(raw_name)
            names.append(name)
            self._exact[name] = name
            self._exact.setdefault("www." + name, name)
            if include_subdomains:
                self._suffix[name] = name
        self.domains = tuple(names)
        # Lower-case needles for a cheap "could this text link to us?" test before parsing.
        needles = set(names)
        for name in names:
            try:
                needles.add(name.encode("ascii").decode("idna"))
            except UnicodeError:
                pass
        self.needles: tuple[str, ...] = tuple(sorted(needles))
        """The domains as they may appear in text (ASCII and Unicode spellings), for cheap pre-filters."""

    def match_host(self, host: str) -> str | None:
        """The monitored domain that ``host`` belongs to, or None."""
        normalized = normalize_host(host)
        if normalized is None:
            return None
        return self._match_normalized(normalized)

    def _match_normalized(self, host: str) -> str | None:
        found = self._exact.get(host)
        if found is not None:
            return found
        dot = host.find(".")
        while dot != -1:
            found = self._suffix.get(host[dot + 1 :])
            if found is not None:
                return found
            dot = host.find(".", dot + 1)
        return None

    def match_url(self, url: str) -> Match | None:
        """The matched domain and canonical URL of ``url``, or None when it is not a link to us."""
        host = url_host(url)
        if host is None:
            return None
        domain = self._match_normalized(host)
        if domain is None:
            return None
        return Match(domain, canonical_url(url))

    def might_mention(self, text: str) -> bool:
        """Cheap pre-filter: False means ``text`` cannot contain a link to a monitored domain."""
        lowered = text.lower()
        return any(needle in lowered for needle in self.needles)


class MentionFilter:
    """The old poller's ``MentionFilter``, verbatim but for the names it imports."""

    def __init__(self, domains: Sequence[Any]) -> None:
        self.matcher = DomainMatcher((domain.name, domain.include_subdomains) for domain in domains)
        self._excluded = {domain.name: frozenset(domain.exclude_authors) for domain in domains}

    def __call__(self, mention: Any) -> Any:
        kept = []
        seen: set[str] = set()
        author_refs: set[str] | None = None
        for link in mention.links:
            match = self.matcher.match_url(link.url)
            if match is None or match.canonical_url in seen:
                continue
            excluded = self._excluded.get(match.domain)
            if excluded:
                if author_refs is None:
                    author_refs = {
                        f"{mention.platform}:{value.lower().lstrip('@')}"
                        for value in (mention.author_handle, mention.author_id)
                        if value
                    }
                if author_refs & excluded:
                    continue
            seen.add(match.canonical_url)
            kept.append(Link(link.url, link.source, link.anchor_text, match.canonical_url, match.domain))
        if not kept:
            return None
        return mention.with_links(tuple(kept))

    def apply(self, batch: Iterable[Any]) -> list[Any]:
        return [kept for mention in batch if (kept := self(mention)) is not None]


def clear_caches() -> None:
    _parts.cache_clear()
    canonical_url.cache_clear()
