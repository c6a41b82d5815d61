"""A template connector: it yields, once each, posts made of the links written in its config.

Copy it to start a connector of your own (CONTRIBUTING.md walks through it). The contract it follows is
documented once, in ``tracker/connector.py``; this file shows each part of it at its smallest. A real
connector reads its platform through ``tracker.http.HttpClient`` (or the platform's client library) in
``fetch``: see ``connectors/hackernews.py`` for one that fits in a module.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from tracker.connector import Connector, FetchRequest, Page
from tracker.record import Link, Mention
from tracker.settings import ConnectorSettings


class EchoSettings(ConnectorSettings):
    """The keys of a ``[connectors.NAME]`` table of type ``echo``, besides the ones every connector has
    (``enabled``, ``interval``, ...). Unknown keys are refused with the table's dotted path."""

    urls: list[str] = []


class EchoConnector(Connector):
    type = "echo"  # the entry-point name, and `type` in the config
    platform = "echo"  # the `platform` of its mentions
    Settings = EchoSettings
    description = "echoes the links written in its config (a template)"

    settings: EchoSettings

    # No I/O here: `tracker check` and `tracker status` build connectors without running them. Open clients
    # lazily, in fetch, and release them in close().

    def fetch(self, request: FetchRequest) -> Iterator[Page]:
        """One source (``all``), whose cursor counts the links already echoed: a pass echoes the new ones."""
        state = self.cursor_state(request, "all") or {}  # None on the first pass, or after cursor_version
        done = int(state.get("done", 0))
        urls = self.settings.urls[done:]
        mentions = [
            Mention(
                platform=self.platform,
                platform_id=str(done + index),
                kind="post",
                permalink=f"https://echo.test/{done + index}",
                created_at=datetime(2026, 11, 16, tzinfo=UTC),
                links=(Link(url, "text"),),
            )
            for index, url in enumerate(urls)
        ]
        # The poller keeps the mentions that link to a monitored domain and stores them with this cursor in
        # one transaction: yield a page's cursor only once everything before it is in the page.
        yield Page("all", mentions, cursor=self.make_cursor({"done": done + len(urls)}))


class NeedsSdkConnector(EchoConnector):
    """The same, declaring a client library it would import (not installed here): `tracker connectors` and
    `tracker check` name the pip install that adds it."""

    type = "needs_sdk"
    requires = (("echo_sdk", "echo-connector[sdk]"),)
