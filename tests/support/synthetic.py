"""A small connector over a JSON-lines file of posts, for poller and crash-safety tests.

It is loaded by import path (``type = "tests.support.synthetic:SyntheticConnector"``), the way a private
connector module is configured.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tracker.connector import Connector, FetchRequest, Page, Usage
from tracker.record import Link, Mention, Metrics
from tracker.settings import ConnectorSettings


class SyntheticSettings(ConnectorSettings):
    path: str
    page_size: int = 100
    page_delay: float = 0.0


class SyntheticConnector(Connector):
    type = "synthetic"
    platform = "synthetic"
    Settings = SyntheticSettings
    description = "posts from a JSON-lines file (tests)"

    settings: SyntheticSettings

    def fetch(self, request: FetchRequest) -> Iterator[Page]:
        state = self.cursor_state(request, "file") or {"offset": 0}
        offset = int(state["offset"])
        lines = Path(self.settings.path).read_text(encoding="utf-8").splitlines()
        while offset < len(lines):
            batch = lines[offset : offset + self.settings.page_size]
            offset += len(batch)
            if self.settings.page_delay:
                self.context.sleep(self.settings.page_delay)
            yield Page(
                "file",
                [to_mention(json.loads(line)) for line in batch],
                cursor=self.make_cursor({"offset": offset}),
                usage=Usage(requests=1, items_read=len(batch)),
            )


def to_mention(post: dict[str, object]) -> Mention:
    return Mention(
        platform="synthetic",
        platform_id=str(post["id"]),
        kind="post",
        permalink=f"https://synthetic.test/{post['id']}",
        created_at=datetime.fromisoformat(str(post["created"])),
        author_handle=str(post["author"]),
        text=str(post["text"]),
        links=tuple(Link(str(url), "text") for url in post["urls"]),  # type: ignore[attr-defined]
        metrics=Metrics(likes=int(post["likes"])),  # type: ignore[call-overload]
        raw=json.dumps(post),
    )


def write_posts(path: Path, count: int, *, seed: int = 7) -> None:
    """``count`` posts; a third link to example.com, some repeat earlier ids with more likes."""
    rng = random.Random(seed)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    with path.open("w", encoding="utf-8") as out:
        for index in range(count):
            post_id = rng.randrange(index) if index > 10 and rng.random() < 0.1 else index
            host = rng.choice(["example.com", "blog.example.com", "notexample.com", "other.org"])
            urls = [f"https://{host}/p/{post_id}?utm_source=x"]
            post = {
                "id": post_id,
                "created": (start + timedelta(minutes=post_id)).isoformat(),
                "author": f"user{post_id % 50}",
                "text": f"post {post_id} with ünïcode",
                "urls": urls,
                "likes": index,
            }
            out.write(json.dumps(post) + "\n")
