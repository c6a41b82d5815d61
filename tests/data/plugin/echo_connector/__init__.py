"""A third-party connector: yields the posts written in its config, once each."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from tracker.connector import Connector, FetchRequest, Page
from tracker.record import Link, Mention
from tracker.settings import ConnectorSettings


class EchoSettings(ConnectorSettings):
    urls: list[str] = []


class EchoConnector(Connector):
    type = "echo"
    platform = "echo"
    Settings = EchoSettings
    description = "echoes configured links (plugin test)"

    def fetch(self, request: FetchRequest) -> Iterator[Page]:
        done = (self.cursor_state(request, "all") or {}).get("done", 0)
        urls = self.settings.urls[done:]  # type: ignore[attr-defined]
        mentions = [
            Mention(
                platform="echo",
                platform_id=str(done + index),
                kind="post",
                permalink=f"https://echo.test/{done + index}",
                created_at=datetime(2026, 11, 16, tzinfo=UTC),
                links=(Link(url, "text"),),
            )
            for index, url in enumerate(urls)
        ]
        yield Page("all", mentions, cursor=self.make_cursor({"done": done + len(urls)}))


class NeedsSdkConnector(EchoConnector):
    type = "needs_sdk"
    requires = (("no_such_sdk_for_tests", "echo-connector[sdk]"),)
