"""Connector plugins: the entry-point group ``mention_tracker.connectors``, loaded lazily.

Built-in connectors are registered in this project's own ``pyproject.toml`` exactly like third-party ones.
A type may also be given as an import path, ``package.module:ClassName``, for a connector kept in a private
module without packaging.
"""

from __future__ import annotations

import importlib
import importlib.util
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tracker.connector import Connector

GROUP = "mention_tracker.connectors"


class UnknownConnectorError(LookupError):
    """No connector type of that name is installed."""


@cache
def _entry_points() -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for entry_point in entry_points(group=GROUP):
        found.setdefault(entry_point.name, entry_point)
    return found


def available() -> dict[str, str]:
    """Installed connector types, name -> ``module:Class`` (nothing is imported)."""
    return {name: entry_point.value for name, entry_point in sorted(_entry_points().items())}


def distribution_of(type_name: str) -> str | None:
    """The distribution that registered ``type_name``, e.g. ``mention-tracker``."""
    entry_point = _entry_points().get(type_name)
    dist = getattr(entry_point, "dist", None)
    return dist.name if dist is not None else None


def load(type_name: str) -> type[Connector]:
    """The connector class for ``type_name`` (an entry-point name or ``module:Class``)."""
    from tracker.connector import Connector

    entry_point = _entry_points().get(type_name)
    if entry_point is not None:
        target = entry_point.value
    elif ":" in type_name:
        target = type_name
    else:
        names = ", ".join(available()) or "none installed"
        raise UnknownConnectorError(f"unknown connector type {type_name!r} (available: {names})")
    module_name, _, attr = target.partition(":")
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise UnknownConnectorError(
            f"connector type {type_name!r} cannot be loaded from {target}: {exc}"
        ) from exc
    if not (isinstance(obj, type) and issubclass(obj, Connector)):
        raise UnknownConnectorError(f"{target} is not a Connector subclass")
    return obj


def missing_dependencies(connector_class: type[Connector]) -> list[str]:
    """One message per optional library the connector needs that is not installed."""
    problems = []
    for module, requirement in connector_class.requires:
        if importlib.util.find_spec(module) is None:
            problems.append(f"needs the {module} library; install it with: pip install '{requirement}'")
    return problems
