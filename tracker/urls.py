"""Link matching and canonical URLs (CONTRACT §2). Pure functions, no I/O.

A link matches a monitored domain when its host is the domain (``www.`` included), one of its ``aliases``
or, with ``include_subdomains``, ends in ``.<domain>`` (or ``.<alias>``). Hosts compare after UTS #46 /
IDNA 2008 processing, as browsers do (``straße.de`` is ``xn--strae-oqa.de``, ``example。com`` is
``example.com``), lower-cased and without a trailing dot, so look-alikes (``notexample.com``,
``example.com.evil.net``, ``ex\u0430mple.com`` with a Cyrillic a) never match. Known redirect wrappers
(:mod:`tracker.redirects`) are unwrapped first: such a link matches by its target.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol
from urllib.parse import quote, quote_plus, unquote, unquote_plus, urlsplit

import ahocorasick_rs
import idna

from tracker.redirects import (
    SHORTENER_HOSTS,
    WRAPPER_HOSTS,
    WRAPPER_PREFIXES,
    WRAPPER_SUFFIXES,
    is_shortener,
    wrapped_target,
    wrappers_of,
)

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


def _percent_decoded(host: str) -> str | None:
    """A host with its percent escapes decoded as UTF-8 (browsers do so before IDNA); None when invalid."""
    try:
        return unquote(host, errors="strict")
    except UnicodeDecodeError:
        return None


@lru_cache(maxsize=8192)
def _uts46(host: str) -> str | None:
    """UTS #46 processing (non-transitional, as browsers do) of a host with non-ASCII characters: width and
    case folded, ideographic dots read as dots, ignorable characters dropped, each label IDNA 2008 encoded."""
    try:
        mapped = idna.uts46_remap(host, std3_rules=False, transitional=False)
        labels = mapped.split(".")
        return ".".join(label if label.isascii() else idna.encode(label).decode("ascii") for label in labels)
    except (idna.IDNAError, UnicodeError, ValueError):
        return None


def normalize_host(host: str) -> str | None:
    """A host as it is compared: percent-decoded, UTS #46 / IDNA 2008 encoded, lower-case, without its
    trailing dot; None when it cannot be a host name."""
    host = host.strip()
    if "%" in host:
        decoded = _percent_decoded(host)
        if decoded is None:
            return None
        host = decoded
    if host.startswith("[") or ":" in host:  # IPv6 literal
        inner = host.strip("[]").lower()
        return inner if re.fullmatch(r"[0-9a-f:.]+", inner) else None
    if host.isascii():
        host = host.lower()
    else:
        mapped = _uts46(host)
        if mapped is None:
            return None
        host = mapped
    if host.endswith("."):
        host = host[:-1]
    return host if host and _HOST_RE.match(host) else None


def unicode_host(host: str) -> str:
    """The Unicode spelling of a normalized host (``xn--bcher-kva.de`` is ``bücher.de``); itself if ASCII."""
    if "xn--" not in host:
        return host
    try:
        return idna.decode(host)
    except (idna.IDNAError, UnicodeError, ValueError):
        return host


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


_MAX_UNWRAP = 5  # nested wrappers unwrapped at most this deep
_CLASSIFIED_MAX = 65536
_UNKNOWN = object()


def unwrap(url: str) -> str:
    """The target of a known redirect wrapper (nested ones too), else ``url`` itself."""
    for _ in range(_MAX_UNWRAP):
        parts = _parts(url)
        if parts is None or not wrappers_of(parts[0]):
            return url
        target = wrapped_target(parts[0], parts[2], parts[3])
        if target is None:
            return url
        url = target
    return url


@dataclass(frozen=True, slots=True)
class Match:
    """A link to a monitored domain: the domain it counts for and the canonical URL of its target."""

    domain: str
    canonical_url: str


@dataclass(frozen=True, slots=True)
class ShortLink:
    """A link on a public shortener whose target is not known yet; ``url`` is the one to resolve."""

    url: str


class MonitoredDomain(Protocol):
    """What the matcher reads of a ``[[domains]]`` table (:class:`tracker.settings.DomainSettings`)."""

    @property
    def name(self) -> str: ...

    @property
    def include_subdomains(self) -> bool: ...

    @property
    def aliases(self) -> Sequence[str]: ...


_ALT_DOTS = ("\u3002", "\uff0e", "\uff61")  # ideographic, full-width and half-width ideographic full stops
# Characters UTS #46 drops from a host (soft hyphen, zero-width space, word joiner, BOM, variation selectors).
_IGNORED = dict.fromkeys(
    [0xAD, 0x34F, 0x180B, 0x180C, 0x180D, 0x200B, 0x2060, 0xFEFF, *range(0xFE00, 0xFE10)], None
)


def fold_dots(text: str) -> str:
    """``text`` with ideographic and full-width full stops written as ``.`` (itself when it has none)."""
    if text.isascii():
        return text
    for dot in _ALT_DOTS:
        if dot in text:
            text = text.replace(dot, ".")
    return text


# Up to this many needles, one ``in`` test each is faster than an automaton (measured: a test costs about
# a quarter of one Aho-Corasick scan of a Jetstream event); past it, one scan finds any of them.
LOOP_NEEDLES = 4


class Needles:
    """Lower-case strings looked for together in lower-cased text: :meth:`found_in` costs one scan of the
    text however many there are (an Aho-Corasick automaton, ``ahocorasick_rs``), or, for a few, one
    substring test each."""

    __slots__ = ("_automaton", "needles")

    def __init__(self, needles: Iterable[str]) -> None:
        self.needles: tuple[str, ...] = tuple(dict.fromkeys(needle.lower() for needle in needles if needle))
        self._automaton = (
            ahocorasick_rs.AhoCorasick(self.needles, implementation=ahocorasick_rs.Implementation.DFA)
            if len(self.needles) > LOOP_NEEDLES
            else None
        )

    def found_in(self, lowered: str, start: int = 0, end: int | None = None) -> bool:
        """Whether ``lowered[start:end]`` contains one of the needles."""
        if self._automaton is None:
            for needle in self.needles:  # noqa: SIM110 (a plain loop: any() with a generator costs more)
                if lowered.find(needle, start, end) >= 0:
                    return True
            return False
        if start or end is not None:
            lowered = lowered[start:end]
        return bool(self._automaton.find_matches_as_indexes(lowered))

    def __len__(self) -> int:
        return len(self.needles)

    def __bool__(self) -> bool:
        return bool(self.needles)


class DomainMatcher:
    """Matches hosts and URLs against the monitored domains and their aliases; the most specific wins."""

    def __init__(
        self,
        domains: Iterable[tuple[str, bool]],
        *,
        aliases: Mapping[str, Sequence[str]] | None = None,
        resolve_shorteners: bool = False,
    ) -> None:
        """``domains`` are ``(name, include_subdomains)`` pairs and ``aliases`` the alias hosts of a domain
        name, which count as that domain (with its ``include_subdomains``); names are normalized here. With
        ``resolve_shorteners``, :meth:`classify` reports links on public shorteners and :attr:`needles`
        includes those hosts."""
        self._exact: dict[str, str] = {}
        self._suffix: dict[str, str] = {}
        self._classified: dict[str, object] = {}
        self.resolve_shorteners = resolve_shorteners
        names: list[str] = []
        hosts: list[str] = []
        pairs = list(domains)
        for raw_name, _ in pairs:
            names.append(normalize_domain(raw_name))
        by_name = {normalize_domain(k): v for k, v in (aliases or {}).items()}
        for name, (_, include_subdomains) in zip(names, pairs, strict=True):
            for host in (name, *(normalize_domain(alias) for alias in by_name.get(name, ()))):
                hosts.append(host)
                self._exact.setdefault(host, name)
                self._exact.setdefault("www." + host, name)
                if include_subdomains:
                    self._suffix.setdefault(host, name)
        self.domains: tuple[str, ...] = tuple(names)
        self.hosts: tuple[str, ...] = tuple(dict.fromkeys(hosts))
        """The domains and their aliases, normalized."""
        needles: set[str] = set()
        for host in self.hosts:
            spelled = unicode_host(host)
            needles.update((host, spelled, quote(spelled, safe=".").lower()))
        self.needles: tuple[str, ...] = tuple(sorted(needles))
        """Lower-case strings one of which a text linking to us contains: the domains and aliases in their
        ASCII, Unicode and percent-encoded spellings, for cheap pre-filters before any parsing. Match them
        against lower-cased text, dots folded (:func:`fold_dots`)."""
        self.needle_set = Needles(self.needles)
        """:attr:`needles`, searched for all at once (one scan of a text however many domains there are)."""
        self.short_link_needles: tuple[str, ...] = (
            tuple(sorted(f"{host}/" for host in SHORTENER_HOSTS)) if resolve_shorteners else ()
        )
        """Resolving shorteners, ``<shortener host>/`` for each, which a text with a short link contains."""
        self.short_link_pattern: re.Pattern[str] | None = (
            re.compile(
                "://(?:www\\.)?(?:"
                + "|".join(re.escape(host) for host in sorted(SHORTENER_HOSTS, key=len, reverse=True))
                + ")/"
            )
            if resolve_shorteners
            else None
        )
        """Resolving shorteners, a pattern found in lower-cased text with a short link written with its scheme
        (as in every link facet, card or URL field): one scan of the text, where the needles take one each."""

    @classmethod
    def for_domains(
        cls, domains: Iterable[MonitoredDomain], *, resolve_shorteners: bool = False
    ) -> DomainMatcher:
        """The matcher of the ``[[domains]]`` tables."""
        listed = list(domains)
        return cls(
            ((domain.name, domain.include_subdomains) for domain in listed),
            aliases={domain.name: tuple(domain.aliases) for domain in listed if domain.aliases},
            resolve_shorteners=resolve_shorteners,
        )

    def match_host(self, host: str) -> str | None:
        """The monitored domain that ``host`` belongs to (directly or as an alias), or None."""
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
        """The matched domain and canonical URL of ``url`` (of its target, for a redirect wrapper), or None
        when it is not a link to us."""
        found = self.classify(url, shorteners=False)
        return found if isinstance(found, Match) else None

    def classify(self, url: str, *, shorteners: bool = True) -> Match | ShortLink | None:
        """Like :meth:`match_url`; when resolving shorteners, a link on one (after unwrapping) is a
        :class:`ShortLink` to resolve."""
        if not shorteners:
            return self._classify(url, False)
        found = self._classified.get(url, _UNKNOWN)
        if found is _UNKNOWN:  # links repeat a lot: their outcome is remembered, within a bound
            found = self._classify(url, True)
            if len(self._classified) >= _CLASSIFIED_MAX:
                self._classified.clear()
            self._classified[url] = found
        return found  # type: ignore[return-value]

    def _classify(self, url: str, shorteners: bool) -> Match | ShortLink | None:
        parts = _parts(url)
        if parts is None:
            return None
        host = parts[0]
        if host in WRAPPER_HOSTS or host.endswith(WRAPPER_SUFFIXES) or host.startswith(WRAPPER_PREFIXES):
            target = unwrap(url)
            if target != url:
                url = target
                parts = _parts(url)
                if parts is None:
                    return None
                host = parts[0]
        domain = self._match_normalized(host)
        if domain is not None:
            return Match(domain, canonical_url(url))
        if shorteners and self.resolve_shorteners and is_shortener(host):
            return ShortLink(canonical_url(url))
        return None

    def might_mention(self, text: str) -> bool:
        """Cheap pre-filter: False means ``text`` cannot contain a link to a monitored domain (or, resolving
        shorteners, a short link)."""
        lowered = text.lower()
        if self.needle_set.found_in(lowered):
            return True
        if any(needle in lowered for needle in self.short_link_needles):
            return True
        if lowered.isascii():
            return False
        folded = fold_dots(unicodedata.normalize("NFKC", lowered).translate(_IGNORED).lower())
        return folded != lowered and self.needle_set.found_in(folded)
