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
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, ValidationInfo, field_validator

from tracker.urls import normalize_domain, normalize_host

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


_SIZE_RE = re.compile(r"(\d+)\s*(b|kb|mb|gb)?")
_SIZE_UNITS = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3}
DEFAULT_MAX_RESPONSE_SIZE = 8 * 1024**2


def parse_size(value: Any) -> int:
    """A size in bytes: ``65536``, ``512KB``, ``8MB`` or ``1GB`` (units of 1024)."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    match = _SIZE_RE.fullmatch(value.strip().lower()) if isinstance(value, str) else None
    if match and int(match.group(1)) > 0:
        return int(match.group(1)) * _SIZE_UNITS[match.group(2) or "b"]
    raise ValueError(f'expected a size like "512KB", "8MB" or "1GB", got {value!r}')


ByteSize = Annotated[int, BeforeValidator(parse_size)]


def parse_base_url(value: Any) -> str:
    """An http(s) base URL without a trailing slash."""
    text = str(value).strip() if isinstance(value, str) else ""
    if not re.match(r"^(https?|wss?)://[^/\s]+", text):
        raise ValueError(f'expected an http(s) URL like "https://api.example.com", got {value!r}')
    return text.rstrip("/")


BaseUrl = Annotated[str, BeforeValidator(parse_base_url)]


class Section(BaseModel):
    """Base of every settings table: unknown keys are errors, values are immutable."""

    # A field's docstring is its description: docs/configuration.md is generated from them (tracker.docs).
    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=True, hide_input_in_errors=True,
        use_attribute_docstrings=True,
    )  # fmt: skip


class TrackerSettings(Section):
    """Where the tracker keeps its data, and the time zone it reports in."""

    data_dir: Path = Path("data")
    """Folder for the SQLite database, session files and locks (created when missing)."""
    raw_retention: Duration = timedelta(days=90)
    """Raw payloads received longer ago than this are erased; the mention record stays."""
    database_url: SecretStr = SecretStr("")
    """Empty: SQLite at `<data_dir>/tracker.db`. Or `postgresql+psycopg://user@host/db`: then several daemons may run, one leads."""
    timezone: str = "UTC"
    """IANA time zone of report weeks and the report schedule, e.g. `Europe/Berlin`."""
    resolve_shorteners: bool = False
    """Resolve links on well-known public shorteners (bit.ly, buff.ly, ...) by their redirect headers only; each
    short link is looked up once and remembered."""
    connect_to: dict[str, str] = {}
    """Send a host's requests elsewhere, for page checks and shortener lookups (staging, tests):
    `{"example.com" = "http://127.0.0.1:8080"}` keeps the path and the Host header; an address named here is
    trusted, other private addresses never are."""

    @field_validator("connect_to")
    @classmethod
    def _host_to_base_url(cls, value: dict[str, str]) -> dict[str, str]:
        mapped = {}
        for host, target in value.items():
            name = normalize_host(host)
            if name is None or ":" in name:
                raise ValueError(
                    f'{host!r} is not a host name; write it like {{"example.com" = "http://127.0.0.1:8080"}}'
                )
            parts = urlsplit(str(target).strip())
            if (
                parts.scheme not in ("http", "https")
                or not parts.hostname
                or parts.path.strip("/")
                or parts.query
            ):
                raise ValueError(
                    f'{host!r} = {target!r}: expected an http(s) address without a path, like "http://127.0.0.1:8080"'
                )
            try:
                parts.port  # noqa: B018 - raises ValueError for a port out of range
            except ValueError:
                raise ValueError(f"{host!r} = {target!r}: the port is not a number from 1 to 65535") from None
            mapped[name] = f"{parts.scheme}://{parts.netloc}"
        return mapped

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
    """A domain to monitor: one `[[domains]]` table (double brackets) each."""

    name: str
    """The domain, bare: `example.com`, without a scheme or path."""
    include_subdomains: bool = True
    """Also count links to its subdomains (`blog.example.com`); `www.` always counts."""
    exclude_authors: tuple[str, ...] = ()
    """Your own accounts, whose posts are not mentions: `\"x:handle\"`, `\"reddit:user\"`, `\"bluesky:handle\"`."""
    aliases: tuple[str, ...] = ()
    """Hosts that are the same site (a short-link domain, a former domain): their links count for this one."""
    role: Literal["own", "competitor"] = "own"
    """`"own"`, or `"competitor"`: polled like your own domains but reported only in the share of voice (no
    alerts, no page checks)."""

    @field_validator("name")
    @classmethod
    def _domain_name(cls, value: str) -> str:
        return normalize_domain(value)

    @field_validator("aliases")
    @classmethod
    def _alias_names(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        aliases = tuple(dict.fromkeys(normalize_domain(alias) for alias in value))
        if info.data.get("name") in aliases:
            raise ValueError(f"{info.data['name']} is the domain itself; list only other hosts")
        return aliases

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
    """The weekly report the daemon writes (`tracker report` writes one on demand)."""

    output_dir: Path = Path("reports-out")
    """Where reports go: `<output_dir>/<YYYY>-W<WW>/` per week and an `index.html`."""
    schedule: Annotated[WeeklySchedule, BeforeValidator(parse_schedule)] = WeeklySchedule(0, 6, 0)
    """When the daemon writes last week's report, in `tracker.timezone`."""
    formats: tuple[Literal["csv", "html"], ...] = ("csv", "html")
    """Which to write: `csv` (the CSV files) and `html` (`report.html`)."""


class PagesSettings(Section):
    """Health checks of your own linked pages (never a competitor's): status, redirects, canonical, noindex."""

    check: bool = True
    """Check every page of an own domain that received a link (the daemon does, as a job of its own)."""
    interval: Duration = timedelta(days=7)
    """Check each linked page at most this often."""
    requests_per_second: float = 1.0
    """At most this many requests a second to one host."""
    timeout: Duration = timedelta(seconds=10)
    """Each request's total deadline (connection, headers and body)."""
    allow_private_addresses: bool = False
    """Connect to loopback, private and link-local addresses too (a host named in `[tracker] connect_to` is
    trusted either way)."""

    @field_validator("requests_per_second")
    @classmethod
    def _positive_rate(cls, value: float) -> float:
        if not value > 0 or value > 100:
            raise ValueError(
                f"expected a number of requests a second above 0 and at most 100, like 1 or 0.5, got {value!r}"
            )
        return value


AlertEvent = Literal[
    "new_mention",
    "first_link_to_page",
    "new_community",
    "engagement_over",
    "deleted",
    "page_broken",
    "connector_down",
]

ALERT_EVENTS = (
    "new_mention", "first_link_to_page", "new_community", "engagement_over", "deleted", "page_broken",
    "connector_down",
)  # fmt: skip
"""What an ``[[alerts]]`` rule can be ``on`` (CONTRACT §6); ``connector_down`` also brings the recovery."""
DEFAULT_ALERT_EVENTS: tuple[AlertEvent, ...] = (
    "first_link_to_page", "new_community", "engagement_over", "deleted", "page_broken", "connector_down",
)  # fmt: skip


def parse_digest(value: Any) -> timedelta:
    """A duration, or ``"0s"`` / ``0`` for none."""
    if value in (0, "0") or (isinstance(value, str) and re.fullmatch(r"\s*0+\s*[smhdw]?\s*", value)):
        return timedelta(0)
    return parse_duration(value)


def _token_like(part: str) -> bool:
    """A URL part that may be a token: long and not a plain word (``services``, ``hooks`` and ``tracker`` are
    not; ``T0123ABC``, ``abc123def456`` and a 20-character string are)."""
    return len(part) >= 20 or (len(part) >= 6 and any(c.isdigit() or c.isupper() for c in part))


def url_secret_parts(url: str) -> list[str]:
    """An alert URL and its parts that may be secret: the password, and the user name, path segments, query
    values and (in ``slack://TOKEN/...`` style URLs) the "host" when they look like tokens. Plain words are
    left alone, so redacting them does not blank out ordinary log text."""
    if not url:
        return []
    scheme, _, rest = url.partition("://")
    cut = min((i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    netloc, tail = rest[:cut], rest[cut:].lstrip("/")
    credentials, _, host = netloc.rpartition("@")
    user, _, password = credentials.partition(":")
    parts = [part for part in re.split(r"[/?&=#]", tail) if _token_like(part)]
    if _token_like(user):
        parts.append(user)
    if scheme.lower() not in (
        "http",
        "https",
        "json",
        "jsons",
        "xml",
        "xmls",
        "form",
        "forms",
        "mailto",
        "mailtos",
    ):
        parts += [part for part in host.split(":") if _token_like(part)]
    return [url, *([password] if len(password) >= 4 else []), *parts]


class AlertSettings(Section):
    """An alert rule: one `[[alerts]]` table (double brackets) each. Which events of your own domains reach
    which channels: Apprise URLs (`notify`) and a signed JSON webhook."""

    name: str
    """The rule's name, shown in `tracker status` and sent with each event; `tracker alerts test NAME` uses it."""
    on: tuple[AlertEvent, ...] = DEFAULT_ALERT_EVENTS
    """The events it sends: `new_mention` (every one), `first_link_to_page`, `new_community`,
    `engagement_over`, `deleted`, `page_broken`, `connector_down` (and its recovery)."""
    domains: tuple[str, ...] = ()
    """Only events of these own domains; empty: every own domain (competitor domains never alert)."""
    platforms: tuple[str, ...] = ()
    """Only mentions on these platforms (`reddit`, `bluesky`, ...); empty: every platform."""
    min_value: int = Field(default=0, ge=0, le=100)
    """Only mentions worth at least this (0-100); a mention not rated yet passes only when it is 0."""
    engagement_over: int = Field(default=100, ge=1)
    """For `engagement_over`: sent once, when a mention's engagement reaches this."""
    digest: Annotated[timedelta, BeforeValidator(parse_digest)] = timedelta(0)
    """`"0s"`: each event at once; `"1h"`: at most one message an hour per channel, listing them all."""
    notify: tuple[SecretStr, ...] = ()
    """Apprise URLs: `"slack://..."`, `"mailtos://..."`, `"discord://..."`, `"ntfy://..."`, `"json://..."`
    (they hold tokens: never logged or shown)."""
    webhook_url: SecretStr = SecretStr("")
    """A signed JSON POST to this http(s) URL for each event (see the README's Alerts section)."""
    webhook_secret: SecretStr = SecretStr("")
    """The key of the webhook's HMAC-SHA256 signature (`X-Tracker-Signature`); required with `webhook_url`."""

    @field_validator("name")
    @classmethod
    def _rule_name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", value):
            raise ValueError(f"{value!r} is not a name; use letters, digits, '-', '_' or '.' (up to 64)")
        return value

    @field_validator("domains")
    @classmethod
    def _domain_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(normalize_domain(domain) for domain in value)

    @field_validator("platforms")
    @classmethod
    def _platform_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(platform.strip().lower() for platform in value)

    @field_validator("notify")
    @classmethod
    def _apprise_urls(cls, value: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        for index, url in enumerate(value):
            if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://\S", url.get_secret_value().strip()):
                raise ValueError(
                    f'entry {index} is not an Apprise URL; write it like "slack://TOKEN/CHANNEL" or "mailtos://user:pass@host"'
                )
        return tuple(SecretStr(url.get_secret_value().strip()) for url in value)

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: SecretStr) -> SecretStr:
        url = value.get_secret_value().strip()
        if url and not re.match(r"^https?://[^/\s]+", url):
            raise ValueError('expected an http(s) URL like "https://hooks.example.com/tracker"')
        return SecretStr(url)

    @property
    def channels(self) -> tuple[str, ...]:
        """The rule's channel keys: ``webhook`` and ``notify[N]`` (names without secrets)."""
        return (*(("webhook",) if self.webhook_url.get_secret_value() else ()),
                *(f"notify[{index}]" for index in range(len(self.notify))))  # fmt: skip


class ConnectorSettings(Section):
    """Keys every connector table has; each connector type's ``Settings`` subclass adds its own."""

    type: str
    """The connector type (`tracker connectors` lists them, plugins included), or `package.module:Class`."""
    enabled: bool = True
    """`false` keeps the table without running it (its `${VARS}` need not be set)."""
    interval: Duration = timedelta(minutes=10)
    """How often the daemon polls it."""
    max_response_size: ByteSize = DEFAULT_MAX_RESPONSE_SIZE
    """The largest response body (decompressed) a request may bring; a larger one fails like a malformed
    response (retried, counted as ``retried_too_large``)."""

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
    partial_coverage: str = ""  # Connector.partial_coverage


@dataclass(frozen=True)
class Config:
    """The validated configuration; paths are absolute."""

    path: Path
    tracker: TrackerSettings
    domains: tuple[DomainSettings, ...]
    reports: ReportSettings
    connectors: Mapping[str, ConnectorSettings] = field(default_factory=dict)
    connector_info: Mapping[str, ConnectorInfo] = field(default_factory=dict)
    pages: PagesSettings = field(default_factory=PagesSettings)
    alerts: tuple[AlertSettings, ...] = ()

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
        return tuple(d.name for d in self.domains if d.role == "own")

    @property
    def enabled_connectors(self) -> dict[str, ConnectorSettings]:
        return {name: settings for name, settings in self.connectors.items() if settings.enabled}

    def secrets(self) -> list[str]:
        """Every secret value in the config, for redaction in logs."""
        found = []
        for section in (self.tracker, *self.connectors.values()):
            for name in type(section).model_fields:
                value = getattr(section, name)
                values = value.values() if isinstance(value, Mapping) else [value]  # e.g. a token per host
                found += [
                    v.get_secret_value() for v in values if isinstance(v, SecretStr) and v.get_secret_value()
                ]
        for rule in self.alerts:
            for address in (rule.webhook_url, *rule.notify):
                found += url_secret_parts(address.get_secret_value())
            if rule.webhook_secret.get_secret_value():
                found.append(rule.webhook_secret.get_secret_value())
        url = self.tracker.database_url.get_secret_value()
        password = re.search(r"://[^:/@]+:([^@]+)@", url)
        if password:
            found.append(password.group(1))
        return found
