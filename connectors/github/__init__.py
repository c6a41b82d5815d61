"""GitHub: issues, pull requests and their comments, through the REST API (httpx, a token required).

``connector`` holds the connector and its pass logic, ``search`` the queries and the ``created:`` windows,
``issues`` the pure normalization, ``client`` the rate-limit-aware HTTP client.
"""
