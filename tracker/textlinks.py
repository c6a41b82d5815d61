"""Finding links in post text, Markdown and HTML. Pure functions, no I/O.

These find candidates only; whether a link points to a monitored domain is decided by
:class:`tracker.urls.DomainMatcher`.
"""

from __future__ import annotations

import html
import re
import unicodedata

# A URL with a scheme, or a bare host name with an optional port and path ("example.com/page"). Labels of a
# bare host may be separated by ideographic or full-width full stops too ("example。com", as UTS #46 reads
# them). CJK punctuation ends a URL ("https://example.com/a、どうぞ"). The look-behind keeps e-mail addresses
# and the middle of words out.
_ALT_DOTS = "\u3002\uff0e\uff61"  # ideographic, full-width and half-width ideographic full stops
_DOT = f"[.{_ALT_DOTS}]"
_CJK_PUNCTUATION = (
    "\u3000\u3001\u3003-\u303f\uff01-\uff0d\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff60\uff62-\uff65"
)
_LETTERS = "a-z\u00a1-\u2fff\u3040-\uff00\uff21-\uff3a\uff41-\uff5a\uff66-\uffff"
_LABEL = f"0-9\uff10-\uff19{_LETTERS}"
_URL_CHAR = f"""[^\\s<>"'`\\]\\[{{}}|\\\\^{_CJK_PUNCTUATION}]"""
_URL_RE = re.compile(
    f"https?://{_URL_CHAR}+"
    rf"""|(?<![@\w.\-/{_ALT_DOTS}])(?:[{_LABEL}](?:[{_LABEL}\-]{{0,61}}[{_LABEL}])?{_DOT})+"""
    rf"""(?:[{_LETTERS}]{{2,63}}|xn--[a-z0-9\-]{{1,59}})\.?(?::\d{{1,5}})?(?:/{_URL_CHAR}*)?""",
    re.IGNORECASE,
)
# Scripts written without spaces: a bare host glued to such text ("詳しくはexample.com") starts after it, as the
# platforms' own linkifiers read it, and a top-level domain glued to it ("example.comを見て") ends before it.
_CJK = "\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_GLUED_RE = re.compile(rf"^.*[{_CJK}](?=[a-z0-9][a-z0-9\-]*\.)", re.IGNORECASE)
_GLUED_TLD_RE = re.compile(rf"\.[a-z]{{2,63}}(?=[{_CJK}])", re.IGNORECASE)
_TRAILING = ".,;:!?'\"…»”’*_~\u3002\uff0e\uff61\u3001\uff0c"
_PAIRS = {")": "(", "]": "[", "}": "{"}
_MARKDOWN_RE = re.compile(
    r"\[((?:[^\[\]]|\[[^\[\]]*\])*)\]\(\s*<?([^\s<>()]*(?:\([^\s()]*\)[^\s<>()]*)*)>?(?:\s+[\"'][^\"']*[\"'])?\s*\)"
)


def _trim(url: str) -> str:
    """Drop punctuation that ends the sentence rather than the URL, keeping balanced brackets."""
    while url:
        last = url[-1]
        if last in _TRAILING or (last in _PAIRS and url.count(_PAIRS[last]) < url.count(last)):
            url = url[:-1]
        else:
            break
    return url


def url_spans(text: str, *, bare: bool = True) -> list[tuple[int, int, str]]:
    """Every URL in plain text as ``(start, end, url)`` character offsets, in order; with ``bare``, host names
    without a scheme count too. URLs shortened for display (ending in ``...`` or ``…``) are left out."""
    found = []
    for match in _URL_RE.finditer(text):
        raw = match.group(0)
        if raw.endswith(("...", "…")) or text[match.end() : match.end() + 1] == "…":
            continue  # shortened for display: the real target is elsewhere (a facet or an embed)
        url = _trim(raw)
        start = match.start()
        scheme = url[:8].lower().startswith(("http://", "https://"))
        if not scheme:
            if not bare:
                continue
            if not url.isascii():
                host = url.partition("/")[0]
                glued = _GLUED_RE.match(host)
                if glued is not None:
                    start += glued.end()
                    url, host = url[glued.end() :], host[glued.end() :]
                tld = _GLUED_TLD_RE.search(host)
                if tld is not None:
                    url = host = host[: tld.end()]
                host = host.partition(":")[0].rstrip(".")
                last_dot = max(host.rfind(dot) for dot in "." + _ALT_DOTS)
                if (
                    host[last_dot] != "."
                    and not unicodedata.normalize("NFKC", host[last_dot + 1 :]).isascii()
                ):
                    continue  # two sentences ("晴れ。明日"), not a host: a Unicode TLD follows a "." only
        if "." not in url and not any(dot in url for dot in _ALT_DOTS):
            continue
        found.append((start, start + len(url), url))
    return found


def urls_in_text(text: str, *, bare: bool = True) -> list[str]:
    """Every URL in plain text, in order; with ``bare``, host names without a scheme count too."""
    return [url for _, _, url in url_spans(text, bare=bare)]


def markdown_links(text: str) -> list[tuple[str, str]]:
    """``[anchor](url)`` links in Markdown as ``(url, anchor)`` pairs, in order."""
    return [
        (match.group(2), match.group(1).strip()) for match in _MARKDOWN_RE.finditer(text) if match.group(2)
    ]


def strip_markdown_links(text: str) -> str:
    """``text`` with its Markdown links removed, so a bare-URL scan does not find them twice."""
    return _MARKDOWN_RE.sub(" ", text)


_ANCHOR_RE = re.compile(
    r"<a\s[^>]*?href\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s>]+))[^>]*>(.*?)</a\s*>", re.I | re.S
)
_TAG_RE = re.compile(r"<[^>]*>")
_BREAK_RE = re.compile(r"<(?:p|br)\b[^>]*>", re.I)


def unescape(text: str) -> str:
    """``html.unescape``, with the entities platforms write most (Hacker News escapes every ``/`` in a link)
    replaced first by plain string replacement. None of them contains another entity, and ``&amp;`` is
    left to ``html.unescape``, so the result is the same; only the regular-expression pass is rarer."""
    if "&" not in text:
        return text
    text = text.replace("&#x2F;", "/").replace("&#x27;", "'").replace("&quot;", '"')
    return html.unescape(text) if "&" in text else text


def html_links(markup: str) -> list[tuple[str, str]]:
    """``<a href>`` links in an HTML fragment as ``(url, anchor text)`` pairs, entities unescaped.

    Made for the simple, well-formed HTML platforms generate (Hacker News, Mastodon): a regular expression,
    several times faster than a full parser on the ingest path.
    """
    if "<a" not in markup and "<A" not in markup:
        return []
    links = []
    for match in _ANCHOR_RE.finditer(markup):
        href = match.group(1) if match.group(1) is not None else match.group(2) or match.group(3) or ""
        if href:
            links.append((unescape(href), unescape(_TAG_RE.sub("", match.group(4))).strip()))
    return links


def html_text_and_links(markup: str) -> tuple[str, list[tuple[str, str]]]:
    """The visible text and the ``<a href>`` links of an HTML fragment (see :func:`html_links`)."""
    return html_to_text(markup), html_links(markup)


def html_to_text(markup: str) -> str:
    """The visible text of an HTML fragment, paragraphs on their own lines."""
    if "<" not in markup and "&" not in markup:
        return markup.strip()
    return unescape(_TAG_RE.sub("", _BREAK_RE.sub("\n", markup))).strip()
