"""Post text as a person reads it: Markdown marks and HTML entities removed, for titles and snippets."""

from __future__ import annotations

import html
import re

MARKDOWN_PLATFORMS = frozenset({"reddit", "lemmy", "github", "lobsters"})
_IMAGE_OR_LINK = re.compile(r"!?\[([^\]\n]*)\]\((?:[^()\s]|\([^()\s]*\))*(?:\s+\"[^\"]*\")?\)")
_AUTOLINK = re.compile(r"<(https?://[^>\s]+)>")
_STRONG = re.compile(r"(\*\*|__|~~)(?=\S)(.+?)(?<=\S)\1", re.DOTALL)
_EMPHASIS = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_CODE = re.compile(r"`+([^`]*)`+")
_LINE_MARKS = re.compile(r"^\s{0,3}(?:#{1,6}\s+|>\s?|[-*+]\s+(?=\S)|\d+\.\s+(?=\S))", re.MULTILINE)
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!>~|^])")
_SUPERSCRIPT = re.compile(r"\^\(([^()]*)\)|\^(?=\S)")


def readable(text: str | None, platform: str) -> str:
    """``text`` without HTML entities (and, on Markdown platforms, without Markdown marks), on one line."""
    if not text:
        return ""
    if platform in MARKDOWN_PLATFORMS:
        text = strip_markdown(text)
    return " ".join(html.unescape(text).split())


def strip_markdown(text: str) -> str:
    """Markdown as the text it shows: links and images by their text, emphasis, code and line marks gone."""
    text = _IMAGE_OR_LINK.sub(r"\1", text)
    text = _AUTOLINK.sub(r"\1", text)
    text = _CODE.sub(r"\1", text)
    for _ in range(2):  # **[_nested_](x)** takes two rounds
        text = _STRONG.sub(r"\2", text)
        text = _EMPHASIS.sub(r"\1", text)
    text = _LINE_MARKS.sub("", text)
    text = _SUPERSCRIPT.sub(lambda match: match.group(1) or "", text)
    return _ESCAPE.sub(r"\1", text)


def shorten(text: str, limit: int = 180) -> str:
    """At most ``limit`` characters, cut at a word with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip(" ,.;:") + "…"
