"""Prefix routes for the test HTTP server: a route whose path ends in ``/`` also serves every path below it
(``/2.3/questions/`` answers ``/2.3/questions/1;2;3``), for APIs that put ids and dates in the path."""

from __future__ import annotations

from typing import Any

from tests.support.http_server import RecordingServer


class PrefixRoutes(dict[tuple[str, str], Any]):
    """The server's route table: exact paths first, then the longest matching prefix route."""

    def get(self, key: tuple[str, str], default: Any = None) -> Any:
        found = super().get(key)
        if found is not None:
            return found
        method, path = key
        prefixes = [p for (m, p) in self if m == method and p.endswith("/") and path.startswith(p)]
        return super().get((method, max(prefixes, key=len))) if prefixes else default


def with_prefix_routes(server: RecordingServer) -> RecordingServer:
    """Let ``server`` route by prefix (once; routes already added are kept)."""
    if not isinstance(server.routes, PrefixRoutes):
        server.routes = PrefixRoutes(server.routes)
    return server
