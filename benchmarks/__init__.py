"""Benchmarks: each path measured against a floor taken in the same run (these machines are noisy).

Run with ``python -m benchmarks`` (``make bench``); ``--quick`` runs every benchmark at a tiny size.
"""
