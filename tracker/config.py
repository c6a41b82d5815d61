"""Configuration (CONTRACT §3): the TOML file read, ``${ENV}`` interpolated and validated into the typed
settings of :mod:`tracker.settings`.

Every problem is reported at once, each as ``dotted.path: what is wrong; how to fix it``. Each connector type
validates its own ``[connectors.<name>]`` table with its ``Settings`` class.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, SecretStr, ValidationError

from tracker.errors import ConfigError
from tracker.settings import (
    AlertSettings,
    Config,
    ConnectorInfo,
    ConnectorSettings,
    DomainSettings,
    PagesSettings,
    ReportSettings,
    Section,
    TrackerSettings,
)

_ENV_RE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
M = TypeVar("M", bound=BaseModel)


class _TopLevel(Section):
    tracker: TrackerSettings = TrackerSettings()
    domains: tuple[DomainSettings, ...] = ()
    reports: ReportSettings = ReportSettings()
    pages: PagesSettings = PagesSettings()
    connectors: dict[str, dict[str, Any]] = {}
    alerts: tuple[AlertSettings, ...] = ()


TopLevel = _TopLevel  # the file's tables, for the reference :mod:`tracker.docs` generates


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
    data = _bracket_mistakes(data, problems)
    connectors_raw = data.get("connectors", {})
    top_data = {key: value for key, value in data.items() if key != "connectors"}
    top_data = _without_unused_alert_keys(top_data)
    top_data = _interpolate(top_data, env, "", problems, unresolved)
    top = _validate(_TopLevel, {**top_data, "connectors": {}}, "", problems, unresolved)
    if not isinstance(connectors_raw, dict):
        problems.append("connectors: expected tables like [connectors.hackernews]")
        connectors_raw = {}

    connectors: dict[str, ConnectorSettings] = {}
    info: dict[str, ConnectorInfo] = {}
    for name, section in connectors_raw.items():
        parsed = _parse_connector(name, section, env, problems, unresolved)
        if parsed is not None:
            connectors[name], info[name] = parsed

    if top is not None and not top.domains:
        problems.append('domains: nothing to monitor; add a [[domains]] table with name = "example.com"')
    if top is not None:
        problems.extend(_alert_problems(top.alerts, top.domains))
        seen: set[str] = set()
        for index, domain in enumerate(top.domains):
            if domain.name in seen:
                problems.append(f"domains[{index}].name: {domain.name} is listed twice; remove one")
            seen.add(domain.name)
        owners = {domain.name: domain.name for domain in top.domains}
        for index, domain in enumerate(top.domains):
            for alias in domain.aliases:
                owner = owners.setdefault(alias, domain.name)
                if owner != domain.name:
                    problems.append(
                        f"domains[{index}].aliases: {alias} is already {'a domain' if owner == alias else f'an alias of {owner}'}; list a host once"
                    )
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
    return Config(
        config_path, tracker, top.domains, reports, connectors, info, pages=top.pages, alerts=top.alerts
    )


def _bracket_mistakes(data: Mapping[str, Any], problems: list[str]) -> dict[str, Any]:
    """Name the TOML fix for a table written with the wrong brackets, then read it as meant (so nothing else
    is reported about it)."""
    fixed = dict(data)
    if isinstance(fixed.get("domains"), dict):
        problems.append("domains: write each domain as a [[domains]] table (double brackets), not [domains]")
        fixed["domains"] = [fixed["domains"]]
    if isinstance(fixed.get("alerts"), dict):
        problems.append("alerts: write each rule as an [[alerts]] table (double brackets), not [alerts]")
        fixed["alerts"] = [fixed["alerts"]]
    for section in ("tracker", "reports", "pages"):
        if isinstance(fixed.get(section), list):
            problems.append(f"{section}: write [{section}] (single brackets), not [[{section}]]")
            fixed.pop(section)
    return fixed


def _without_unused_alert_keys(data: dict[str, Any]) -> dict[str, Any]:
    """An alert rule without a webhook does not read ``webhook_secret`` (so its ``${VAR}`` need not be set)."""
    rules = data.get("alerts")
    if not isinstance(rules, list):
        return data
    kept = [
        {k: v for k, v in rule.items() if k != "webhook_secret"}
        if isinstance(rule, dict) and not rule.get("webhook_url")
        else rule
        for rule in rules
    ]
    return {**data, "alerts": kept}


def _alert_problems(rules: tuple[AlertSettings, ...], domains: tuple[DomainSettings, ...]) -> list[str]:
    """What the rules ask that the rest of the config cannot give: a name twice, a domain not your own, no
    channel, a webhook without its secret."""
    problems = []
    roles = {domain.name: domain.role for domain in domains}
    names: set[str] = set()
    for index, rule in enumerate(rules):
        prefix = f"alerts[{index}]"
        if rule.name in names:
            problems.append(
                f"{prefix}.name: {rule.name!r} is used by another rule; give each rule its own name"
            )
        names.add(rule.name)
        for domain in rule.domains:
            if domain not in roles:
                problems.append(
                    f"{prefix}.domains: {domain} is not a configured domain; add a [[domains]] table for it or remove it here"
                )
            elif roles[domain] != "own":
                problems.append(
                    f"{prefix}.domains: {domain} is a competitor domain, and competitors never alert; remove it here"
                )
        if not rule.channels:
            problems.append(
                f'{prefix}: no channel; set notify = ["slack://..."] (Apprise URLs) or webhook_url = "https://..."'
            )
        if rule.webhook_url.get_secret_value() and not rule.webhook_secret.get_secret_value():
            problems.append(
                f'{prefix}.webhook_secret: required with webhook_url; set it to a long random string, e.g. "${{ALERT_WEBHOOK_SECRET}}"'
            )
    return problems


def _parse_connector(
    name: str, section: Any, env: Mapping[str, str], problems: list[str], unresolved: set[str]
) -> tuple[ConnectorSettings, ConnectorInfo] | None:
    """Validate one ``[connectors.<name>]`` table with its type's own ``Settings`` class."""
    from tracker import registry

    prefix = f"connectors.{name}"
    if isinstance(section, list):
        problems.append(f"{prefix}: write [{prefix}] (single brackets), not [[{prefix}]]")
        return None
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
    if settings is None:
        return None
    if settings.enabled:
        problems.extend(f"{prefix}: {problem}" for problem in registry.missing_dependencies(connector_class))
    return settings, ConnectorInfo(
        connector_class.platform, connector_class.streaming, connector_class.partial_coverage
    )


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
