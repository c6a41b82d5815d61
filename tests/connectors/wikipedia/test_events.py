"""The server-sent events parser: the framing EventStreams uses, split anywhere, and its size cap."""

from __future__ import annotations

import pytest

from connectors.wikipedia.events import Event, EventTooLargeError, SseParser

STREAM = (
    b":ok\n\n"
    b'event: message\nid: [{"offset":1}]\ndata: {"a":\ndata:1}\n\n'
    b"retry: 3000\r\n"
    b"data: no id or type\r\n\r\n"
    b"id: bad\x00id\ndata: keeps the last id\n\n"
    b"event: other\n\n"
)


def test_events_are_framed_as_the_specification_says() -> None:
    parser = SseParser(1000)
    assert parser.feed(STREAM) == [
        Event(
            '[{"offset":1}]', "message", '{"a":\n1}'
        ),  # data lines joined; one space after the colon dropped
        Event('[{"offset":1}]', "message", "no id or type"),  # the last event id carries over
        Event('[{"offset":1}]', "message", "keeps the last id"),  # an id with NUL is ignored
    ]
    assert parser.retry_ms == 3000


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64])
def test_chunk_boundaries_anywhere_give_the_same_events(size: int) -> None:
    whole = SseParser(1000).feed(STREAM)
    parser = SseParser(1000)
    pieces = [parser.feed(STREAM[n : n + size]) for n in range(0, len(STREAM), size)]
    assert [event for piece in pieces for event in piece] == whole


def test_a_line_or_an_event_past_the_cap_is_an_error() -> None:
    with pytest.raises(EventTooLargeError):
        SseParser(100).feed(b"data: " + b"x" * 200)  # no line end yet: still too long
    with pytest.raises(EventTooLargeError):
        SseParser(100).feed(b"data: " + b"x" * 60 + b"\ndata: " + b"y" * 60 + b"\n")


def test_a_parser_resumed_with_an_id_reports_it_until_a_new_one() -> None:
    assert SseParser(100, last_id="7").feed(b"data: x\n\n") == [Event("7", "message", "x")]
