"""Reddit: domain listings, search and watched subreddits' comments through praw, or public Atom feeds.

``connector`` holds the connector and its settings; ``client`` the hardened praw/prawcore session;
``feeds`` the no-key Atom feed reader; ``sources`` the per-source paging and cursors; ``things`` turns
Reddit objects into mentions; ``budget`` the shared requests-per-minute budget.
"""
