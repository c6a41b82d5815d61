"""Names for people: platforms, figures, coverage problems and what "engagement" adds up on each platform."""

from __future__ import annotations

from collections.abc import Mapping

PLATFORM_NAMES = {
    "hackernews": "Hacker News",
    "x": "X",
    "reddit": "Reddit",
    "bluesky": "Bluesky",
    "wikipedia": "Wikipedia",
    "lobsters": "Lobsters",
    "stackexchange": "Stack Exchange",
    "github": "GitHub",
    "lemmy": "Lemmy",
    "mastodon": "Mastodon",
}
ENGAGEMENT = {
    "hackernews": "points + comments (a comment's points are not public: its engagement is unknown)",
    "reddit": "score (upvotes minus downvotes) + comments",
    "x": "likes + reposts + replies + quotes (views are reach, not engagement)",
    "bluesky": "likes + reposts + replies + quotes",
}
ENGAGEMENT_OTHERS = "the sum of the likes, reposts, replies, quotes and score the platform shows"
METRICS = {
    "mentions": "Mentions",
    "pages_linked": "Pages linked",
    "authors": "Authors",
    "communities": "Communities",
    "engagement": "Engagement",
    "reach": "Reach",
}
METRIC_NOTES = {
    "mentions": "posts and comments linking to you",
    "pages_linked": "different pages of yours they link to",
    "authors": "different people posting them",
    "communities": "subreddits and other communities they were posted in",
    "engagement": "reactions to them, see below",
    "reach": "their estimated audience, see below",
}
COVERAGE_KINDS = {
    "downtime": "Not collecting",
    "budget": "Budget used up",
    "gap": "Posts missed",
}
THREADS = {
    "hackernews": "https://news.ycombinator.com/item?id={thread_id}",
}


def platform_name(platform: str) -> str:
    return PLATFORM_NAMES.get(platform, platform.replace("_", " ").capitalize())


def metric_label(metric: str, domains: list[str]) -> str:
    """``mentions:example.com`` reads "Mentions linking to example.com", ``mentions:reddit`` "Mentions on Reddit"."""
    if metric in METRICS:
        return METRICS[metric]
    what = metric.partition(":")[2]
    if what in domains:
        return f"Mentions linking to {what}"
    return f"Mentions on {platform_name(what)}"


def engagement_rule(platform: str) -> str:
    return ENGAGEMENT.get(platform, ENGAGEMENT_OTHERS)


def connector_label(connector: str, platforms: Mapping[str, str]) -> str:
    """A connector by its platform's name; with the connector's own name when several read one platform, or
    when it is no longer configured."""
    platform = platforms.get(connector)
    if platform is None:
        return connector
    shared = sum(1 for other in platforms.values() if other == platform) > 1
    return f"{platform_name(platform)} ({connector})" if shared else platform_name(platform)


def thread_url(platform: str, thread_id: str | None, permalink: str | None) -> str | None:
    """Where a comment's thread can be read, when the platform's links say so."""
    if platform in THREADS and thread_id:
        return THREADS[platform].format(thread_id=thread_id)
    if platform == "reddit" and permalink and "/comments/" in permalink:
        head, _, rest = permalink.partition("/comments/")
        post = rest.split("/", 1)[0]
        return f"{head}/comments/{post}/" if post else None
    return None
