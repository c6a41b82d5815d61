"""Configuration (CONTRACT §3): TOML validated into typed, immutable settings.

Every problem is reported at once, each as ``dotted.path: what is wrong; how to fix it``. Each connector type
validates its own ``[connectors.<name>]`` table with its ``Settings`` class.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, SecretStr, ValidationError, field_validator

from tracker.errors import ConfigError
from tracker.urls import normalize_domain

_DURATION_RE = re.compile(r"(\d+)\s*([smhdw])")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_ENV_RE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
M = TypeVar("M", bound=BaseModel)
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


class _TopLevel(Section):
    tracker: TrackerSettings = TrackerSettings()
    domains: tuple[DomainSettings, ...] = ()
    reports: ReportSettings = ReportSettings()
    connectors: dict[str, dict[str, Any]] = {}


@dataclass(frozen=True)
class Config:
    """The validated configuration; paths are absolute."""

    path: Path
    tracker: TrackerSettings
    domains: tuple[DomainSettings, ...]
    reports: ReportSettings
    connectors: Mapping[str, ConnectorSettings] = field(default_factory=dict)

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


def find_config_file(explicit: str | Path | None, env: Mapping[str, str]) -> Path:
    """``--config``, else ``$TRACKER_CONFIG``, else ``./tracker.toml``; ConfigError naming every place looked."""
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"config file {path} not found (given with --config); check the path")
        return path
    if env.get("TRACKER_CONFIG"):
        path = Path(env["TRACKER_CONFIG"])
        if not path.is_file():
            raise ConfigError(f"config file {path} not found (given in $TRACKER_CONFIG); check the path")
        return path
    path = Path("tracker.toml")
    if path.is_file():
        return path
    raise ConfigError(
        "no config file: looked for --config (not given), $TRACKER_CONFIG (not set) and ./tracker.toml "
        "(missing); copy config.example.toml to tracker.toml or pass --config PATH"
    )


def load_config(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Find, read and validate the configuration; raises ConfigError listing every problem."""
    env = os.environ if env is None else env
    config_path = find_config_file(path, env).resolve()
    try:
        data = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{config_path.name}: not valid TOML: {exc}; fix the syntax at that place") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{config_path}: cannot be read: {exc}") from exc
    return parse_config(data, config_path, env)


def parse_config(data: Mapping[str, Any], config_path: Path, env: Mapping[str, str]) -> Config:
    """Validate already-parsed TOML data (see :func:`load_config`)."""
    problems: list[str] = []
    unresolved: set[str] = set()  # paths whose ${VAR} is unset: reported once, not again as invalid
    connectors_raw = data.get("connectors", {})
    top_data = {key: value for key, value in data.items() if key != "connectors"}
    top_data = _interpolate(top_data, env, "", problems, unresolved)
    top = _validate(_TopLevel, {**top_data, "connectors": {}}, "", problems, unresolved)
    if not isinstance(connectors_raw, dict):
        problems.append("connectors: expected tables like [connectors.hackernews]")
        connectors_raw = {}

    connectors: dict[str, ConnectorSettings] = {}
    for name, section in connectors_raw.items():
        settings = _parse_connector(name, section, env, problems, unresolved)
        if settings is not None:
            connectors[name] = settings

    if top is not None and not top.domains:
        problems.append('domains: nothing to monitor; add a [[domains]] table with name = "example.com"')
    if top is not None:
        seen: set[str] = set()
        for index, domain in enumerate(top.domains):
            if domain.name in seen:
                problems.append(f"domains[{index}].name: {domain.name} is listed twice; remove one")
            seen.add(domain.name)
    if problems or top is None:
        raise ConfigError(problems)

    base = config_path.parent
    tracker = top.tracker.model_copy(update={"data_dir": _resolve(base, top.tracker.data_dir)})
    url = tracker.database_url.get_secret_value()
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////") and url != "sqlite:///:memory:":
        tracker = tracker.model_copy(
            update={"database_url": SecretStr(f"sqlite:///{_resolve(base, Path(url[len('sqlite:///') :]))}")}
        )
    reports = top.reports.model_copy(update={"output_dir": _resolve(base, top.reports.output_dir)})
    return Config(config_path, tracker, top.domains, reports, connectors)


def _parse_connector(
    name: str, section: Any, env: Mapping[str, str], problems: list[str], unresolved: set[str]
) -> ConnectorSettings | None:
    """Validate one ``[connectors.<name>]`` table with its type's own ``Settings`` class."""
    from tracker import registry

    prefix = f"connectors.{name}"
    if not isinstance(section, dict):
        problems.append(f"{prefix}: expected a table [{prefix}], got {section!r}")
        return None
    type_name = str(section.get("type", name))
    try:
        connector_class = registry.load(type_name)
    except registry.UnknownConnectorError as exc:
        problems.append(f"{prefix}.type: {exc}")
        return None
    data = {**section, "type": type_name}
    enabled = section.get("enabled", True)
    if not isinstance(enabled, bool) and not (isinstance(enabled, str) and "${" in enabled):
        problems.append(f"{prefix}.enabled: expected true or false, got {enabled!r}")
        return None
    if enabled is True or isinstance(enabled, str):
        unused = connector_class.Settings.unused_keys(data)
        data = {key: value for key, value in data.items() if key not in unused}
        data = _interpolate(data, env, prefix, problems, unresolved)
        settings = _validate(connector_class.Settings, data, prefix, problems, unresolved)
    else:
        # A disabled connector may name variables that are not set: check everything else.
        placeholders = {
            f"{prefix}.{key}" for key, value in data.items() if isinstance(value, str) and "${" in value
        }
        before = len(problems)
        settings = _validate(connector_class.Settings, data, prefix, problems, placeholders)
        if settings is None and len(problems) == before:
            settings = connector_class.Settings.model_construct(**data)
    if settings is not None and settings.enabled:
        problems.extend(f"{prefix}: {problem}" for problem in registry.missing_dependencies(connector_class))
    return settings


def _resolve(base: Path, path: Path) -> Path:
    path = path.expanduser()
    return path if path.is_absolute() else (base / path).resolve()


def _interpolate(
    value: Any, env: Mapping[str, str], path: str, problems: list[str], unresolved: set[str]
) -> Any:
    """Replace ``${VAR}`` in every string with the environment's value (``$$`` is a literal ``$``)."""
    if isinstance(value, str):
        if "$" not in value:
            return value

        def substitute(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            name = match.group(1)
            if name not in env:
                unresolved.add(path)
                problems.append(
                    f"{path}: environment variable {name} is not set; export {name}=... "
                    "or write the value in the config"
                )
                return ""
            return env[name]

        return _ENV_RE.sub(substitute, value)
    if isinstance(value, dict):
        return {
            key: _interpolate(item, env, _join(path, key), problems, unresolved)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [
            _interpolate(item, env, f"{path}[{index}]", problems, unresolved)
            for index, item in enumerate(value)
        ]
    return value


def _join(path: str, key: object) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def _validate(model: type[M], data: Any, prefix: str, problems: list[str], skip: set[str]) -> M | None:
    """Validate ``data``; problems at paths in ``skip`` (already reported) are left out."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            problem = _describe(error, model, prefix)
            if not any(problem.startswith(path + ":") or problem.startswith(path + "[") for path in skip):
                problems.append(problem)
        return None


def _model_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The settings class that holds the key at ``loc`` (for did-you-mean suggestions)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if (
            not (isinstance(current, type) and issubclass(current, BaseModel))
            or part not in current.model_fields
        ):
            return None
        annotation = current.model_fields[part].annotation
        args = getattr(annotation, "__args__", ())
        current = next(
            (arg for arg in (annotation, *args) if isinstance(arg, type) and issubclass(arg, BaseModel)), None
        )
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _describe(error: Any, model: type[BaseModel], prefix: str) -> str:
    loc: tuple[int | str, ...] = tuple(error["loc"])
    path = prefix
    for part in loc:
        path = _join(path, part)
    kind = error["type"]
    received = error.get("input")
    if kind == "extra_forbidden":
        key = str(loc[-1])
        owner = _model_at(model, loc[:-1])
        known = sorted(owner.model_fields) if owner else []
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        if close:
            return f"{path}: unknown key {key!r}; did you mean {close[0]!r}?"
        return f"{path}: unknown key {key!r}; remove it (known keys: {', '.join(known)})"
    if kind == "missing":
        return f"{path}: required setting is missing; add {loc[-1]} = ... to this table"
    if kind in ("bool_type", "bool_parsing"):
        return f"{path}: expected true or false, got {received!r}"
    if kind in ("int_type", "int_parsing", "int_from_float", "float_type", "float_parsing"):
        return f"{path}: expected a number, got {received!r}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return f"{path}: {error['msg'].lower()}, got {received!r}"
    if kind == "string_type":
        return f"{path}: expected a string in quotes, got {received!r}"
    if kind in ("list_type", "tuple_type"):
        return f'{path}: expected a list like ["a", "b"], got {received!r}'
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"{path}: expected a table, got {received!r}"
    if kind == "literal_error":
        return f"{path}: expected one of {error['ctx']['expected']}, got {received!r}"
    if kind == "value_error":
        return f"{path}: {error['ctx']['error']}"
    return f"{path}: {error['msg']}"
