"""The connector contract (tracker/connector.py), checked for every registered connector type against its
harness (tests/contract/harness.py)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

import connectors
from tests.conftest import Clock, Sleeps
from tests.contract.harness import FAULTS, ConnectorHarness
from tracker import registry
from tracker.config import parse_config
from tracker.connector import Connector, ConnectorContext
from tracker.poller import Poller, RunResult
from tracker.schema import mentions
from tracker.store import Store

TYPES = sorted(registry.available())
# Harnesses of a type run another way (a module in tests/contract/harnesses named <type>_<way>).
VARIANTS = ["hackernews_every_item"]


def test_every_registered_connector_has_a_contract_harness() -> None:
    missing = [t for t in TYPES if importlib.util.find_spec(f"tests.contract.harnesses.{t}") is None]
    assert missing == [], f"add tests/contract/harnesses/<type>.py for: {missing}"


def test_every_connector_class_in_connectors_is_registered_under_the_entry_point_group() -> None:
    registered = {registry.load(name) for name in registry.available()}
    defined = []
    for module_info in pkgutil.walk_packages(connectors.__path__, "connectors."):
        module = importlib.import_module(module_info.name)
        for value in vars(module).values():
            # A connector sets `type`; a shared base class that does not is no connector of its own.
            if (
                isinstance(value, type) and issubclass(value, Connector) and value.__module__ == module.__name__
                and isinstance(getattr(value, "type", None), str) and not inspect.isabstract(value)
            ):  # fmt: skip
                defined.append(value)
    unregistered = sorted(
        f'{cls.type} = "{cls.__module__}:{cls.__qualname__}"' for cls in defined if cls not in registered
    )
    assert unregistered == [], (
        f'add to [project.entry-points."{registry.GROUP}"] in pyproject.toml (then pip install -e .): {unregistered}'
    )


@pytest.fixture(params=[*TYPES, *VARIANTS])
def harness(request: pytest.FixtureRequest) -> Iterator[ConnectorHarness]:
    module = importlib.import_module(f"tests.contract.harnesses.{request.param}")
    instance: ConnectorHarness = module.Harness()
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


class Rig:
    """A store and a poller for one connector instance named ``under_test``."""

    def __init__(self, harness: ConnectorHarness, tmp_path: Path, data_dir: Path | None = None) -> None:
        self.harness = harness
        self.clock = Clock(harness.now())
        self.sleeps = Sleeps()
        data = {
            "tracker": {
                "data_dir": str(data_dir or tmp_path / "data"),
                "database_url": f"sqlite:///{tmp_path / 'tracker.db'}",
            },
            "domains": [{"name": harness.domain}],
            "connectors": {"under_test": {"type": harness.type, **harness.settings()}},
        }
        self.config = parse_config(data, tmp_path / "tracker.toml", harness.env())
        self.store = Store.open(self.config.database_url)

    def poller(self, stop: threading.Event | None = None) -> Poller:
        return Poller(self.config, self.store, clock=self.clock, sleeper=self.sleeps, stop=stop)

    def poll(self, **options: Any) -> RunResult:
        """One pass with a fresh poller (a fresh connector, as after a restart); ``options`` as Poller.poll's."""
        poller = self.poller()
        try:
            return poller.poll("under_test", **options)
        finally:
            poller.close()

    def refresh(self, platform_ids: list[str]) -> RunResult:
        poller = self.poller()
        try:
            return poller.refresh("under_test", platform_ids)
        finally:
            poller.close()

    def connector(self) -> Connector:
        return registry.load(self.harness.type)(
            "under_test",
            self.config.connectors["under_test"],
            ConnectorContext(data_dir=self.config.data_dir),
        )

    def ids(self) -> set[str]:
        return {m.platform_id for m in self.store.iter_mentions()}

    def rows(self) -> int:
        with self.store.read() as conn:
            return int(conn.execute(select(func.count()).select_from(mentions)).scalar() or 0)


@pytest.fixture
def rig(harness: ConnectorHarness, tmp_path: Path) -> Iterator[Rig]:
    made = Rig(harness, tmp_path)
    yield made
    made.store.close()


def test_a_first_pass_finds_exactly_the_mentions_the_recordings_hold(rig: Rig) -> None:
    expected = rig.harness.expected()
    assert expected, "the harness's domain must appear in its recordings"
    result = rig.poll()
    assert (result.status, result.error) == ("ok", None)
    assert rig.ids() == expected
    assert result.new == len(expected)


def test_a_later_pass_resumes_from_the_cursor_and_finds_only_what_is_new(rig: Rig) -> None:
    first = rig.harness.expected()
    rig.poll()
    more = rig.harness.publish_more()
    assert more and not more & first
    rig.clock.advance(hours=1)
    result = rig.poll()
    assert (result.status, result.new) == ("ok", len(more))
    assert rig.ids() == first | more
    assert rig.rows() == len(first | more)


def test_overlapping_passes_never_duplicate(rig: Rig) -> None:
    rig.poll()
    before = rig.rows()
    for _ in range(2):
        rig.clock.advance(minutes=1)
        again = rig.poll()
        assert (again.status, again.new) == ("ok", 0)
    assert rig.rows() == before == len(rig.ids())


@pytest.mark.parametrize("fault", FAULTS)
def test_a_fault_is_reported_in_the_run_and_loses_nothing(rig: Rig, fault: str) -> None:
    rig.harness.break_server(fault)
    broken = rig.poll()
    assert broken.status == "failed"
    assert broken.error
    assert rig.store.run(broken.run_id)["error"] == broken.error  # type: ignore[arg-type]
    rig.harness.heal()
    rig.clock.advance(minutes=10)
    healed = rig.poll()
    assert healed.status == "ok"
    assert rig.ids() == rig.harness.expected()


def test_unknown_fields_in_payloads_are_tolerated(rig: Rig) -> None:
    rig.harness.add_unknown_fields()
    result = rig.poll()
    assert (result.status, result.skipped) == ("ok", 0)
    assert rig.ids() == rig.harness.expected()


def test_posts_stamped_after_a_pass_began_are_left_to_the_next_pass(rig: Rig) -> None:
    """No cursor moves past ``started_at``: posts stamped after it (already on the server when the pass runs,
    or indexed later) are all found by the next pass."""
    recorded = rig.harness.expected()
    early = rig.harness.publish_more()  # on the server before the pass that starts at now()
    first = rig.poll()
    assert first.status == "ok"
    late = rig.harness.publish_more()  # stamped in the same stretch, but shown by the platform only now
    assert late and not late & early
    rig.clock.advance(hours=1)
    second = rig.poll()
    assert second.status == "ok"
    assert rig.ids() == recorded | early | late
    assert rig.rows() == len(recorded | early | late)


def test_a_backfill_reads_back_to_its_date_with_cursors_of_its_own(rig: Rig) -> None:
    since = rig.harness.backfill_since()
    expected = rig.harness.expected_since(since)
    backfill = rig.poll(kind="backfill", since=since)
    assert (backfill.status, backfill.error) == ("ok", None)
    assert rig.ids() == expected
    cursors = rig.store.cursors("under_test")
    assert cursors and all(key.startswith("backfill:") for key in cursors), cursors  # live cursors untouched
    rig.clock.advance(minutes=10)
    again = rig.poll(kind="backfill", since=since)  # resumes from its cursors: nothing is new
    assert (again.status, again.new) == ("ok", 0)
    live = rig.poll()
    assert live.status == "ok"
    assert rig.ids() == expected | rig.harness.expected()
    assert rig.rows() == len(rig.ids())


def _refreshable(rig: Rig, connector: Connector) -> list[str]:
    kinds = connector.refresh_kinds
    return sorted(m.platform_id for m in rig.store.iter_mentions() if kinds is None or m.kind in kinds)


def test_refresh_reads_stored_mentions_again_without_adding_or_losing_any(rig: Rig) -> None:
    connector = rig.connector()
    if not connector.refresh_kinds:
        pytest.skip(f"{rig.harness.type} cannot refresh engagement")
    rig.poll()
    stored = rig.ids()
    ids = _refreshable(rig, connector)[:100]
    assert ids, "the recordings must hold a mention the connector can refresh"
    result = rig.refresh(ids)
    assert (result.status, result.error, result.new, result.deleted) == ("ok", None, 0, 0)
    assert rig.ids() == stored and rig.rows() == len(stored)

    target = ids[0]
    before = next(m for m in rig.store.iter_mentions() if m.platform_id == target)
    if rig.harness.add_engagement(target):
        rig.clock.advance(hours=1)
        assert rig.refresh([target]).status == "ok"
        after = next(m for m in rig.store.iter_mentions() if m.platform_id == target)
        assert (after.engagement or 0) > (before.engagement or 0)
    if rig.harness.delete(target):
        rig.clock.advance(hours=1)
        gone = rig.refresh([target])
        assert (gone.status, gone.deleted) == ("ok", 1)
        assert rig.ids() == stored - {target}


STREAMS = [name for name in TYPES if registry.load(name).streaming]  # `follow` applies to streams only


@pytest.mark.parametrize("harness", STREAMS, indirect=True)
def test_a_stream_followed_until_shutdown_stores_what_arrives_and_stops_cleanly(rig: Rig) -> None:
    stop = threading.Event()
    poller = rig.poller(stop)
    results: list[RunResult] = []
    worker = threading.Thread(
        target=lambda: results.append(poller.poll("under_test", kind="stream", follow=True))
    )
    worker.start()
    try:
        _wait_for(lambda: rig.ids() == rig.harness.expected(), "the recorded mentions to be stored")
        more = rig.harness.publish_more()  # while the stream is open
        _wait_for(lambda: more <= rig.ids(), "the mentions published while following to be stored")
    finally:
        stop.set()
        worker.join(timeout=30)
        poller.close()
    assert not worker.is_alive()
    assert results[0].status == "interrupted"
    assert rig.store.cursors("under_test")  # the place it reached is saved


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


class _IoWatch:
    """Records, through a Python audit hook, the I/O the main thread does while it is on: every socket
    operation, and every file operation under ``root``."""

    _FILE_EVENTS = {"open", "os.mkdir", "os.remove", "os.rename", "os.rmdir", "os.chmod", "os.listdir",
                    "os.scandir", "os.truncate", "os.utime", "os.symlink", "os.link", "shutil.rmtree"}  # fmt: skip
    _active: _IoWatch | None = None
    _installed = False

    def __init__(self, root: Path) -> None:
        self.root = str(root)
        self.events: list[str] = []
        self.thread = threading.get_ident()

    def __enter__(self) -> _IoWatch:
        if not _IoWatch._installed:
            sys.addaudithook(_IoWatch._hook)  # hooks cannot be removed: one, idle when no watch is on
            _IoWatch._installed = True
        _IoWatch._active = self
        return self

    def __exit__(self, *exc: object) -> None:
        _IoWatch._active = None

    @staticmethod
    def _hook(event: str, args: tuple[Any, ...]) -> None:
        watch = _IoWatch._active
        if watch is None or threading.get_ident() != watch.thread:
            return
        if event.startswith("socket."):
            watch.events.append(f"{event} {args!r}")
        elif event in _IoWatch._FILE_EVENTS and args and str(args[0]).startswith(watch.root):
            watch.events.append(f"{event} {args[0]}")


def test_building_a_connector_does_no_io(harness: ConnectorHarness, tmp_path: Path) -> None:
    """`tracker check` and `tracker status` build connectors without running them: building one, and the
    line `check` prints, touch neither the network nor the data folder (which need not exist yet); what
    `status` asks may read, never create."""
    data_dir = tmp_path / "absent" / "data"
    rig = Rig(harness, tmp_path, data_dir)
    with _IoWatch(tmp_path / "absent") as watch:
        connector = rig.connector()
        connector.describe(rig.config.domains)
    assert watch.events == []
    connector.mode()
    connector.refresh_kinds  # noqa: B018 - reading the declaration must do no I/O either
    connector.monthly_budget_usd()
    connector.close()
    assert not (tmp_path / "absent").exists()
    rig.store.close()
