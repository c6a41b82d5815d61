"""Bluesky: the Jetstream firehose (no account) and authenticated ``searchPosts`` through atproto.

``jetstream`` is the stream connector; ``search`` the searchPosts connector; ``client`` the hardened atproto
session; ``appview`` author and post lookups (profiles, engagement refresh); ``posts`` turns records and
post views into mentions.
"""
