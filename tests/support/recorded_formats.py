"""Reading the cassette formats of the GitHub, Mastodon and Reddit recordings: PyGithub's ReplayData, betamax
JSON (gzip bodies) and praw's vcrpy JSON, and the YAML cassettes of vcrpy and R's vcr.

Each reader takes a path :func:`tests.support.recordings.recording` returned and yields the recorded
responses as :class:`Recorded` values, bodies decoded to text exactly as the server sent them.
"""

from __future__ import annotations

import ast
import base64
import gzip
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class Recorded:
    method: str
    uri: str
    status: int
    headers: dict[str, str]
    body: str

    def json(self) -> Any:
        return json.loads(self.body)


def responses(path: Path) -> tuple[Recorded, ...]:
    """Every recorded response of a cassette, in the order recorded (the format is told by the file)."""
    return _responses(path)


@cache
def _responses(path: Path) -> tuple[Recorded, ...]:
    if path.name.startswith("PyGithub__"):
        return tuple(_replay_data(path))
    if path.suffix in (".yml", ".yaml"):
        return tuple(_yaml_cassette(path))
    return tuple(_betamax(path))


def _replay_data(path: Path) -> list[Recorded]:
    """PyGithub ReplayData: records of 11 lines (scheme, verb, host, port, path, request headers, request body,
    status, response headers as a Python list of pairs, response body, blank)."""
    lines = path.read_text(encoding="utf-8").split("\n")
    found = []
    index = 0
    while index + 9 < len(lines):
        if lines[index] not in ("http", "https"):
            index += 1
            continue
        scheme, verb, host, _, target = lines[index : index + 5]
        headers = {str(k).lower(): str(v) for k, v in ast.literal_eval(lines[index + 8])}
        found.append(
            Recorded(verb, f"{scheme}://{host}{target}", int(lines[index + 7]), headers, lines[index + 9])
        )
        index += 11
    return found


def _betamax(path: Path) -> list[Recorded]:
    """betamax (``http_interactions``) and praw's vcrpy JSON (``interactions``)."""
    cassette = json.loads(path.read_text(encoding="utf-8"))
    found = []
    for interaction in cassette.get("http_interactions") or cassette.get("interactions") or []:
        response = interaction["response"]
        body = response["body"]
        if body.get("base64_string"):
            raw = base64.b64decode(body["base64_string"])
            text = (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode("utf-8")
        else:
            text = body.get("string", "")
        headers = {str(k).lower(): _one(v) for k, v in (response.get("headers") or {}).items()}
        found.append(
            Recorded(
                interaction["request"]["method"],
                interaction["request"]["uri"],
                int(response["status"]["code"]),
                headers,
                text,
            )
        )
    return found


def _yaml_cassette(path: Path) -> list[Recorded]:
    """R vcr (``http_interactions``, ``status`` an int or a mapping) and vcrpy (``interactions``)."""
    cassette = yaml.safe_load(path.read_text(encoding="utf-8"))
    found = []
    for interaction in cassette.get("http_interactions") or cassette.get("interactions") or []:
        request, response = interaction["request"], interaction["response"]
        status = response.get("status")
        code = status.get("code", status.get("status_code")) if isinstance(status, dict) else status
        body = response.get("body")
        text = body.get("string", "") if isinstance(body, dict) else body or ""
        headers = {str(k).lower(): _one(v) for k, v in (response.get("headers") or {}).items()}
        found.append(Recorded(request["method"].upper(), request["uri"], int(code), headers, text))
    return found


def _one(value: Any) -> str:
    return str(value[0]) if isinstance(value, list) and value else str(value)
