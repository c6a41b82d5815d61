"""Mastodon (and servers speaking its API), through each configured instance's REST API (httpx).

``connector`` holds the connector and its sources, ``statuses`` the pure normalization, ``client`` the
rate-limit-aware HTTP client of one instance.
"""
