"""The connector contract's declarations: refresh capability is declared once, by ``refresh_kinds``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest

from tracker.connector import Connector, FetchRequest, Page


def test_a_connector_that_cannot_refresh_declares_nothing() -> None:
    class Reader(Connector):
        type = "reader"
        platform = "reader"

        def fetch(self, request: FetchRequest) -> Iterator[Page]:
            yield from ()

    assert Reader.refresh_kinds == frozenset()


def test_declaring_refresh_kinds_without_implementing_refresh_is_refused() -> None:
    with pytest.raises(TypeError, match="Half declares refresh_kinds but does not implement refresh"):

        class Half(Connector):
            type = "half"
            platform = "half"
            refresh_kinds = frozenset({"post"})

            def fetch(self, request: FetchRequest) -> Iterator[Page]:
                yield from ()


def test_refresh_kinds_must_be_mention_kinds() -> None:
    with pytest.raises(TypeError, match=r"Typo.refresh_kinds names unknown kinds \['posts'\]"):

        class Typo(Connector):
            type = "typo"
            platform = "typo"
            refresh_kinds = frozenset({"posts"})

            def fetch(self, request: FetchRequest) -> Iterator[Page]:
                yield from ()

            def refresh(self, platform_ids: Sequence[str]) -> Iterator[Page]:
                yield from ()
