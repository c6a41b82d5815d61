"""Contract harness for the Hacker News connector reading every new item (the many-domain way), forced here
with one domain by ``search_each_domain_up_to = 0``: the same recordings and the same expected mentions."""

from __future__ import annotations

from typing import Any

from tests.contract.harnesses import hackernews


class Harness(hackernews.Harness):
    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "search_each_domain_up_to": 0}
