"""Where the recorded third-party API responses are read from at test time.

They are other projects' recordings of real platform traffic, kept outside this repository (they are
third-party data): ``$TRACKER_RECORDINGS``, else the ``fixtures/recorded`` folder beside the checkout. A test
that needs one is skipped with the reason when they are absent, and fails instead with
``TRACKER_REQUIRE_RECORDINGS=1`` (as CI sets).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parents[2]
RECORDINGS = Path(os.environ.get("TRACKER_RECORDINGS") or _ROOT.parent / "shared" / "fixtures" / "recorded")
REQUIRE = os.environ.get("TRACKER_REQUIRE_RECORDINGS") == "1"


def recording(*parts: str) -> Path:
    """The path of one recording (a file or folder under the recordings folder); skips the calling test
    when it is missing (fails with ``TRACKER_REQUIRE_RECORDINGS=1``)."""
    path = RECORDINGS.joinpath(*parts)
    if not path.exists():
        reason = (
            f"recorded API responses not found at {path}; set TRACKER_RECORDINGS to the recordings folder"
        )
        if REQUIRE:
            pytest.fail(f"TRACKER_REQUIRE_RECORDINGS=1 but {reason}")
        pytest.skip(reason)
    return path
