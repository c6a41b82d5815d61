"""Lemmy, through each configured instance's search API (httpx, no account).

``connector`` holds the connector and its searches, ``views`` the pure normalization of post and comment views.
"""
