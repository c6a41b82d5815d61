"""Where the recorded third-party API responses are read from at test time.

They are other projects' recordings of real platform traffic, kept outside this repository (they are
third-party data): ``$TRACKER_RECORDINGS``, else the ``fixtures/recorded`` folder beside the checkout. A test
that needs one is skipped with the reason when they are absent, and fails instead with
``TRACKER_REQUIRE_RECORDINGS=1`` (as CI sets). tests/data/README.md lists the recordings the tests read and
where each comes from; ``tests.support.cassettes`` reads their formats.
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
    when it is missing (fails with ``TRACKER_REQUIRE_RECORDINGS=1``).

    Without any recordings every such test gives the same one-line reason; a recording missing from a
    folder that has others is named."""
    path = RECORDINGS.joinpath(*parts)
    if path.exists():
        return path
    if not RECORDINGS.is_dir() or not any(RECORDINGS.iterdir()):
        reason = f"no recorded API responses in {RECORDINGS}"
    else:
        reason = f"the recording {'/'.join(parts)} is not in {RECORDINGS}"
    reason += "; set TRACKER_RECORDINGS to the recordings folder (see tests/data/README.md)"
    if REQUIRE:
        pytest.fail(f"TRACKER_REQUIRE_RECORDINGS=1 but {reason}", pytrace=False)
    pytest.skip(reason)
