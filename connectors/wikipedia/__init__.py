"""Wikipedia and the other Wikimedia wikis: articles that cite the monitored domains.

``connector`` is the connector and its settings; ``scan`` finds every citing article (``list=exturlusage``);
``stream`` follows link additions and removals (EventStreams ``page-links-change``) over ``events`` (server-sent
events); ``api`` holds the Wikimedia calls (Action API, pageviews); ``articles`` turns a rendered article into
a mention.
"""
