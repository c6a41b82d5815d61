"""Outbound HTTP to third-party sites: connect_to, private addresses refused (also after a name lookup),
headers only, a total deadline, the tool's User-Agent and a per-host pace, against a server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.shortener import FakeShortener, free_port
from tracker.outbound import Outbound, OutboundError, RefusedError, is_public_address


@pytest.fixture
def shortener() -> Iterator[FakeShortener]:
    with FakeShortener() as server:
        yield server


def no_wait(seconds: float) -> None:
    pass


def test_connect_to_sends_a_host_elsewhere_keeping_its_path_and_host_header(shortener: FakeShortener) -> None:
    shortener.redirect("bit.ly/abc", "https://example.com/page", status=301)
    outbound = Outbound(connect_to=shortener.connect_to("bit.ly"), sleep=no_wait)
    answer = outbound.head("https://bit.ly/abc")
    assert (answer.status, answer.location) == (301, "https://example.com/page")
    (seen,) = shortener.requests
    assert (seen.method, seen.host, seen.path) == ("HEAD", "bit.ly", "/abc")
    assert seen.headers["host"] == "bit.ly"
    assert seen.headers["user-agent"].startswith("mention-tracker/")


def test_the_query_and_a_non_default_port_are_sent_as_written(shortener: FakeShortener) -> None:
    outbound = Outbound(connect_to=shortener.connect_to("bit.ly"), sleep=no_wait)
    assert outbound.request("GET", "http://bit.ly:8080/a%20b?x=1&y=%C3%A9").status == 404
    (seen,) = shortener.requests
    assert (seen.method, seen.path, seen.headers["host"]) == ("GET", "/a%20b?x=1&y=%C3%A9", "bit.ly:8080")


def test_a_relative_location_is_read_against_the_request_url(shortener: FakeShortener) -> None:
    shortener.redirect("bit.ly/rel", "/next?x=1", status=302)
    answer = Outbound(connect_to=shortener.connect_to("bit.ly"), sleep=no_wait).head("https://bit.ly/rel")
    assert answer.location == "https://bit.ly/next?x=1"


def test_a_loopback_address_is_refused_unless_named_in_connect_to(shortener: FakeShortener) -> None:
    with pytest.raises(RefusedError, match="not a public address"):
        Outbound(sleep=no_wait).head(f"{shortener.url}/x")
    with pytest.raises(RefusedError, match="not a public address"):
        Outbound(sleep=no_wait).head(f"http://localhost:{shortener.port}/x")  # a name for 127.0.0.1
    assert shortener.requests == []


@pytest.mark.parametrize(
    "addresses",
    [
        ["10.0.0.5"],
        ["169.254.169.254"],  # a cloud metadata service
        ["93.184.215.14", "127.0.0.1"],  # rebinding: one public answer does not vouch for the others
        ["::ffff:127.0.0.1"],
        ["fd00::1"],
    ],
)
def test_a_name_that_resolves_to_a_private_address_is_refused_before_connecting(
    shortener: FakeShortener, addresses: list[str]
) -> None:
    outbound = Outbound(resolver=lambda host, port: addresses, sleep=no_wait)
    with pytest.raises(RefusedError, match="not a public address"):
        outbound.head("https://tinyurl.com/x")
    assert shortener.requests == []


def test_allowing_private_addresses_lifts_the_check(shortener: FakeShortener) -> None:
    outbound = Outbound(allow_private=True, sleep=no_wait)
    assert outbound.head(f"{shortener.url}/x").status == 404


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("127.0.0.1", False), ("10.1.2.3", False), ("172.16.0.1", False), ("192.168.1.1", False),
        ("169.254.169.254", False), ("100.64.0.1", False), ("0.0.0.0", False), ("224.0.0.1", False),
        ("255.255.255.255", False), ("::1", False), ("fe80::1%eth0", False), ("fc00::1", False),
        ("::ffff:10.0.0.1", False), ("::", False), ("not an address", False),
        ("93.184.215.14", True), ("8.8.8.8", True), ("2606:4700:4700::1111", True), ("::ffff:8.8.8.8", True),
    ],
)  # fmt: skip
def test_only_public_unicast_addresses_are_public(address: str, public: bool) -> None:
    assert is_public_address(address) is public


@pytest.mark.parametrize("url", ["ftp://bit.ly/x", "javascript:alert(1)", "file:///etc/passwd", "https://"])
def test_only_http_links_with_a_host_are_requested(url: str) -> None:
    with pytest.raises(RefusedError):
        Outbound(sleep=no_wait).head(url)


def test_a_get_reads_the_headers_and_never_the_body(shortener: FakeShortener) -> None:
    shortener.redirect("bit.ly/big", "https://example.com/", status=200)
    shortener.endless_body = True  # a client reading the body would never return
    answer = Outbound(connect_to=shortener.connect_to("bit.ly"), sleep=no_wait).request(
        "GET", "https://bit.ly/big"
    )
    assert answer.status == 200


def test_a_server_that_trickles_its_headers_is_cut_off_at_the_deadline(shortener: FakeShortener) -> None:
    shortener.trickle = True
    outbound = Outbound(connect_to=shortener.connect_to("bit.ly"), timeout=0.5, sleep=no_wait)
    with pytest.raises(OutboundError, match=r"no answer within 0\.5s"):
        outbound.head("https://bit.ly/slow")


def test_headers_longer_than_the_cap_are_refused(shortener: FakeShortener) -> None:
    shortener.huge_headers = True
    with pytest.raises(OutboundError, match="headers are longer"):
        Outbound(connect_to=shortener.connect_to("bit.ly"), sleep=no_wait).head("https://bit.ly/x")


def test_a_closed_port_is_a_clear_error() -> None:
    outbound = Outbound(connect_to={"bit.ly": f"http://127.0.0.1:{free_port()}"}, sleep=no_wait)
    with pytest.raises(OutboundError, match="cannot connect"):
        outbound.head("https://bit.ly/x")


def test_requests_to_one_host_are_spaced_out_and_other_hosts_do_not_wait(shortener: FakeShortener) -> None:
    waits: list[float] = []
    outbound = Outbound(
        connect_to=shortener.connect_to("bit.ly", "buff.ly"), per_host_interval=30.0, sleep=waits.append
    )
    outbound.head("https://bit.ly/1")
    outbound.head("https://buff.ly/1")
    assert waits == []
    outbound.head("https://bit.ly/2")
    assert len(waits) == 1 and 0 < waits[0] <= 30.0
    assert shortener.hosts_contacted() == ["bit.ly", "buff.ly", "bit.ly"]
