"""`tracker check`: what `poll` and `run` will open, opened the same way but changing nothing, and with
``--online`` one cheap request per enabled connector."""

from __future__ import annotations

import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tracker import registry
from tracker.connector import ConnectorContext
from tracker.errors import AuthError, ConnectorError, Interrupted
from tracker.poller import POLL_CONCURRENCY, one_line
from tracker.schema import HEAD_REVISION
from tracker.settings import Config
from tracker.store import Store, _safe_url

ONLINE_TIMEOUT = 60.0  # seconds for every connector's answer, retries included


def check_database(config: Config) -> str:
    """Open the database as `poll` does, without migrating it; what its schema is. Raises the StoreError
    (exit 2) `poll` would."""
    store = Store.open(config.database_url, migrate=False)
    try:
        revision = store.check_schema()
    finally:
        store.close()
    url = _safe_url(config.database_url)
    if revision is None:
        return f"{url} (no schema yet: created on the first run)"
    if revision == HEAD_REVISION:
        return f"{url} (schema {revision})"
    return f"{url} (schema {revision}: migrated to {HEAD_REVISION} on the first run)"


def check_folder(path: Path) -> None:
    """The folder exists or can be created, and a file can be written in it; the OSError `poll` or `run`
    would meet otherwise (exit 2, naming the path)."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(path)) from exc


@dataclass(frozen=True)
class OnlineAnswer:
    connector: str
    ok: bool
    text: str
    credentials_rejected: bool = False


def check_online(config: Config, timeout: float = ONLINE_TIMEOUT) -> list[OnlineAnswer]:
    """Each enabled connector's answer to one cheap authenticated request, in the config's order (at most
    :data:`~tracker.poller.POLL_CONCURRENCY` at once, all within ``timeout``)."""
    stop = threading.Event()
    timer = threading.Timer(timeout, stop.set)
    timer.daemon = True
    timer.start()

    def ask(name: str) -> OnlineAnswer:
        settings = config.connectors[name]
        connector = registry.load(settings.type)(
            name, settings, ConnectorContext(data_dir=config.data_dir, stop=stop)
        )
        try:
            return OnlineAnswer(name, True, connector.check_online(config.domains))
        except AuthError as exc:
            return OnlineAnswer(
                name, False, f"credentials rejected: {one_line(exc)}", credentials_rejected=True
            )
        except Interrupted:
            return OnlineAnswer(name, False, f"no answer within {timeout:.0f}s")
        except ConnectorError as exc:
            return OnlineAnswer(name, False, one_line(exc))
        except Exception as exc:  # a bug in one connector must not hide the others' answers
            return OnlineAnswer(name, False, f"internal error: {type(exc).__name__}: {one_line(exc)}")
        finally:
            connector.close()

    names = list(config.enabled_connectors)
    try:
        with ThreadPoolExecutor(max_workers=max(1, min(POLL_CONCURRENCY, len(names)))) as pool:
            return list(pool.map(ask, names))
    finally:
        timer.cancel()
