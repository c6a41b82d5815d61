"""Reading recorded responses in the formats other projects' test suites keep them.

Each reader takes a path :func:`tests.support.recordings.recording` returned (so a test without the
recordings is skipped before anything is read) and hands back fresh objects on every call: tests may change
what they get. Parsing a file is done once per process.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Interaction:
    """One recorded request and its response body (text, as the server sent it decoded)."""

    method: str
    uri: str
    status: int
    body: str

    def json(self) -> Any:
        return json.loads(self.body)


@cache
def _interactions(path: Path) -> tuple[Interaction, ...]:
    cassette = json.loads(path.read_text(encoding="utf-8"))
    return tuple(
        Interaction(
            str(item["request"]["method"]),
            str(item["request"]["uri"]),
            int(item["response"]["status"]["code"]),
            str(item["response"]["body"]["string"]),
        )
        for item in cassette["interactions"]
    )


def vcr_interactions(path: Path) -> tuple[Interaction, ...]:
    """The interactions of a vcrpy JSON cassette whose bodies are plain text (praw's, tweepy's v1.1 ones)."""
    return _interactions(path)


@cache
def _lines(path: Path) -> tuple[str, ...]:
    return tuple(line for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


def jsonl_lines(path: Path) -> list[str]:
    """The non-blank lines of a JSON-lines file, as recorded (e.g. Jetstream events as sent)."""
    return list(_lines(path))


def jsonl_objects(path: Path) -> list[Any]:
    """Each line of a JSON-lines file, parsed (e.g. the X API pages of a twarc2 capture, one per line)."""
    return [json.loads(line) for line in _lines(path)]


@cache
def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def json_file(path: Path) -> Any:
    """A JSON file, parsed (a raw response body, or a ``decoded/`` file of the recordings folder)."""
    return json.loads(_text(path))
