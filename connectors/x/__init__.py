"""X (Twitter): API v2 recent search through tweepy, within a monthly budget.

``connector`` holds the connector and its settings; ``client`` the hardened tweepy session; ``search`` the
query plan and paging bounds; ``posts`` turns API objects into mentions; ``cost`` the read ledger and prices.
"""
