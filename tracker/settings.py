"""The settings types (CONTRACT §3): what a validated config holds, including the keys every connector table has.

Connectors subclass :class:`ConnectorSettings` for their own tables. Parsing the TOML file, interpolating
``${ENV}`` and reporting problems is :mod:`tracker.config`'s job; this module holds only the typed values, so
connectors and reports can use them without loading connector plugins.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, SecretStr, field_validator

from tracker.urls import normalize_domain

_DURATION_RE = re.compile(r"(\d+)\s*([smhdw])")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_duration(value: Any) -> timedelta:
    """``30s``, ``10m``, ``1h``, ``1d``, ``2w`` or combinations like ``1h30m``."""
    if isinstance(value, timedelta):
        return value
    text = str(value).strip().lower() if isinstance(value, str) else None
    if text and _DURATION_RE.sub("", text).strip() == "":
        seconds = sum(int(n) * _DURATION_UNITS[unit] for n, unit in _DURATION_RE.findall(text))
        if seconds > 0:
            return timedelta(seconds=seconds)
    raise ValueError(f'expected a duration like "30s", "10m", "1h" or "1d", got {value!r}')


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit in ("w", "d", "h", "m"):
        size = _DURATION_UNITS[unit]
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def parse_base_url(value: Any) -> str:
    """An http(s) base URL without a trailing slash."""
    text = str(value).strip() if isinstance(value, str) else ""
    if not re.match(r"^(https?|wss?)://[^/\s]+", text):
        raise ValueError(f'expected an http(s) URL like "https://api.example.com", got {value!r}')
    return text.rstrip("/")


BaseUrl = Annotated[str, BeforeValidator(parse_base_url)]


class Section(BaseModel):
    """Base of every settings table: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=True, hide_input_in_errors=True
    )


class TrackerSettings(Section):
    data_dir: Path = Path("data")
    raw_retention: Duration = timedelta(days=90)
    database_url: SecretStr = SecretStr("")
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f'unknown time zone {value!r}; use an IANA name such as "Europe/Berlin" or "UTC"'
            ) from None
        return value

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: SecretStr) -> SecretStr:
        url = value.get_secret_value()
        if url and not url.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:", "postgres:")):
            raise ValueError(
                "only sqlite:///PATH and postgresql+psycopg://USER@HOST/DB are supported; "
                "leave it empty for the embedded SQLite store"
            )
        return value


class DomainSettings(Section):
    name: str
    include_subdomains: bool = True
    exclude_authors: tuple[str, ...] = ()

    @field_validator("name")
    @classmethod
    def _domain_name(cls, value: str) -> str:
        return normalize_domain(value)

    @field_validator("exclude_authors")
    @classmethod
    def _author_refs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        refs = []
        for ref in value:
            platform, sep, handle = ref.partition(":")
            if not sep or not platform.strip() or not handle.strip():
                raise ValueError(f'{ref!r} is not "platform:handle"; write it like "x:yourhandle"')
            refs.append(f"{platform.strip().lower()}:{handle.strip().lstrip('@').lower()}")
        return tuple(refs)


@dataclass(frozen=True)
class WeeklySchedule:
    weekday: int  # 0 = Monday
    hour: int
    minute: int

    def __str__(self) -> str:
        return f"{_WEEKDAYS[self.weekday]} {self.hour:02d}:{self.minute:02d}"


def parse_schedule(value: Any) -> WeeklySchedule:
    if isinstance(value, WeeklySchedule):
        return value
    match = re.fullmatch(r"\s*([a-z]{3})[a-z]*\s+(\d{1,2}):(\d{2})\s*", str(value).lower())
    if match and match.group(1) in _WEEKDAYS and int(match.group(2)) < 24 and int(match.group(3)) < 60:
        return WeeklySchedule(_WEEKDAYS.index(match.group(1)), int(match.group(2)), int(match.group(3)))
    raise ValueError(f'expected a weekday and a time like "mon 06:00", got {value!r}')


class ReportSettings(Section):
    output_dir: Path = Path("reports-out")
    schedule: Annotated[WeeklySchedule, BeforeValidator(parse_schedule)] = WeeklySchedule(0, 6, 0)
    formats: tuple[Literal["csv", "html"], ...] = ("csv", "html")


class ConnectorSettings(Section):
    """Keys every connector table has; each connector type's ``Settings`` subclass adds its own."""

    type: str
    enabled: bool = True
    interval: Duration = timedelta(minutes=10)

    @classmethod
    def unused_keys(cls, section: Mapping[str, Any]) -> frozenset[str]:
        """Keys of ``section`` the connector will not read, given the rest of it (so their ``${VARS}`` need
        not be set), e.g. API credentials in a mode that needs none."""
        return frozenset()


@dataclass(frozen=True)
class ConnectorInfo:
    """What the config learned from a connector's class when it validated the table: its platform and
    whether it streams. Readers such as reports and status use it instead of loading connector plugins."""

    platform: str
    streaming: bool = False


@dataclass(frozen=True)
class Config:
    """The validated configuration; paths are absolute."""

    path: Path
    tracker: TrackerSettings
    domains: tuple[DomainSettings, ...]
    reports: ReportSettings
    connectors: Mapping[str, ConnectorSettings] = field(default_factory=dict)
    connector_info: Mapping[str, ConnectorInfo] = field(default_factory=dict)

    @property
    def data_dir(self) -> Path:
        return self.tracker.data_dir

    @property
    def database_url(self) -> str:
        url = self.tracker.database_url.get_secret_value()
        if not url:
            return f"sqlite:///{self.tracker.data_dir / 'tracker.db'}"
        if url.startswith(("postgresql:", "postgres:")):
            return "postgresql+psycopg:" + url.partition(":")[2]
        return url

    @property
    def own_domains(self) -> tuple[str, ...]:
        """The domains that are the user's own (reports, feeds and alerts cover these): every configured one
        but those with ``role = "competitor"``."""
        return tuple(d.name for d in self.domains if getattr(d, "role", "own") != "competitor")

    @property
    def enabled_connectors(self) -> dict[str, ConnectorSettings]:
        return {name: settings for name, settings in self.connectors.items() if settings.enabled}

    def secrets(self) -> list[str]:
        """Every secret value in the config, for redaction in logs."""
        found = []
        for section in (self.tracker, *self.connectors.values()):
            for name in type(section).model_fields:
                value = getattr(section, name)
                if isinstance(value, SecretStr) and value.get_secret_value():
                    found.append(value.get_secret_value())
        url = self.tracker.database_url.get_secret_value()
        password = re.search(r"://[^:/@]+:([^@]+)@", url)
        if password:
            found.append(password.group(1))
        return found
